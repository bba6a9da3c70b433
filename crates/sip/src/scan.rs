//! Byte-level lexing shared by the parsers: whitespace, tokens, quoted strings,
//! comma splitting and `;name=value` parameter lists (RFC 3261 §25.1).
//!
//! Header values handed to these functions have already been checked by the
//! message parser: every CR is part of a CRLF that is followed by SP or HT
//! (line folding), so CR and LF can be treated as plain linear whitespace.

/// Linear whitespace inside an already validated header value (SP, HT, or folding CRLF).
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 3261 §25.1 `token` characters.
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// True when `s` is a non-empty RFC 3261 token.
pub(crate) fn is_token_str(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token(b))
}

/// Strip linear whitespace from both ends.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    trim_end(trim_start(s))
}

/// Strip leading linear whitespace.
pub(crate) fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_lws(b)).count();
    s.get(n..).unwrap_or_default()
}

/// Strip trailing linear whitespace.
pub(crate) fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| is_lws(b)).count();
    s.get(..s.len() - n).unwrap_or_default()
}

/// Length of the quoted string at the start of `s` (which must begin with `"`),
/// including both quotes, or `None` when it is not terminated.
pub(crate) fn quoted_len(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while let Some(&b) = s.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The content between the quotes of a quoted string, escapes left in place.
pub(crate) fn unquote_raw(s: &[u8]) -> &[u8] {
    match (s.first(), s.last()) {
        (Some(b'"'), Some(b'"')) if s.len() >= 2 => s.get(1..s.len() - 1).unwrap_or_default(),
        _ => s,
    }
}

/// Splits a header value at top-level commas, ignoring commas inside quoted
/// strings and `<...>` (RFC 3261 §7.3.1). Items are trimmed; an empty value
/// yields no items, but empty items between commas are yielded so callers can
/// reject them.
#[derive(Debug, Clone)]
pub struct CommaSplit<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> CommaSplit<'a> {
    /// Split `value` (a raw header field value).
    pub fn new(value: &'a [u8]) -> Self {
        let v = trim(value);
        CommaSplit {
            rest: if v.is_empty() { None } else { Some(v) },
        }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.rest?;
        let mut i = 0;
        let mut angle = false;
        while let Some(&b) = s.get(i) {
            match b {
                b'"' => match quoted_len(s.get(i..).unwrap_or_default()) {
                    Some(n) => i += n,
                    None => i = s.len(),
                },
                b'<' => {
                    angle = true;
                    i += 1;
                }
                b'>' => {
                    angle = false;
                    i += 1;
                }
                b',' if !angle => {
                    self.rest = s.get(i + 1..);
                    return Some(trim(s.get(..i).unwrap_or_default()));
                }
                _ => i += 1,
            }
        }
        self.rest = None;
        Some(trim(s))
    }
}

/// One `;name[=value]` generic parameter (RFC 3261 §25.1 `generic-param`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter name as received (compare case-insensitively).
    pub name: &'a [u8],
    /// The value as received; quoted values keep their quotes.
    pub value: Option<&'a [u8]>,
}

impl<'a> Param<'a> {
    /// The value with surrounding quotes removed (escapes are left in place).
    pub fn unquoted(&self) -> Option<&'a [u8]> {
        self.value.map(unquote_raw)
    }
}

/// Parse one generic parameter at the start of `s` (just after the `;`).
/// Returns the parameter and the remaining input (starting at the next `;` or end).
fn param_at(s: &[u8]) -> Option<(Param<'_>, &[u8])> {
    let s = trim_start(s);
    let n = s.iter().take_while(|&&b| is_token(b)).count();
    if n == 0 {
        return None;
    }
    let name = s.get(..n)?;
    let rest = trim_start(s.get(n..)?);
    if rest.first() != Some(&b'=') {
        return Some((Param { name, value: None }, rest));
    }
    let rest = trim_start(rest.get(1..)?);
    let vlen = if rest.first() == Some(&b'"') {
        quoted_len(rest)?
    } else {
        // token / host (incl. IPv6 reference) / RFC 4475 permits %-like junk in tokens.
        rest.iter()
            .take_while(|&&b| is_token(b) || matches!(b, b'[' | b']' | b':'))
            .count()
    };
    if vlen == 0 {
        return None;
    }
    let value = rest.get(..vlen)?;
    Some((
        Param {
            name,
            value: Some(value),
        },
        trim_start(rest.get(vlen..)?),
    ))
}

/// Check that `s` is a well-formed `*( SEMI generic-param )` sequence.
pub(crate) fn params_valid(s: &[u8]) -> bool {
    let mut rest = trim(s);
    while !rest.is_empty() {
        if rest.first() != Some(&b';') {
            return false;
        }
        match rest.get(1..).and_then(param_at) {
            Some((_, r)) => rest = r,
            None => return false,
        }
    }
    true
}

/// Iterator over a `;a=b;c` parameter list. Stops at the first malformed
/// parameter; the typed header parsers refuse values where that happens.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Params<'a> {
    /// Iterate over a raw parameter list that starts with `;` (or is empty).
    pub(crate) fn new(raw: &'a [u8]) -> Self {
        Params { rest: trim(raw) }
    }

    /// The first parameter whose name matches `name` case-insensitively.
    pub fn find(self, name: &str) -> Option<Param<'a>> {
        let mut it = self;
        Iterator::find(&mut it, |p: &Param<'a>| {
            p.name.eq_ignore_ascii_case(name.as_bytes())
        })
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        if self.rest.first() != Some(&b';') {
            return None;
        }
        match self.rest.get(1..).and_then(param_at) {
            Some((p, r)) => {
                self.rest = r;
                Some(p)
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

/// Parse a decimal number made only of ASCII digits, refusing overflow past `max`.
pub(crate) fn parse_decimal(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (v <= max).then_some(v)
}

/// Case-insensitive ASCII prefix test.
pub(crate) fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Position of the first occurrence of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn comma_split_respects_quotes_and_angles() {
        let v = b"\"a, b\" <sip:x@y;p=1,2>, <sip:z>;q=0.5 ,";
        let items: Vec<&[u8]> = CommaSplit::new(v).collect();
        assert_eq!(
            items,
            vec![
                &b"\"a, b\" <sip:x@y;p=1,2>"[..],
                &b"<sip:z>;q=0.5"[..],
                &b""[..]
            ]
        );
        assert_eq!(CommaSplit::new(b"  ").count(), 0);
    }

    #[test]
    fn params_with_folding_and_quotes() {
        let raw = b" ;\r\n  tag = 98asjd8 ; x=\"a;b\";lr";
        assert!(params_valid(raw));
        let ps: Vec<Param<'_>> = Params::new(raw).collect();
        assert_eq!(ps.len(), 3);
        assert_eq!(ps[0].name, b"tag");
        assert_eq!(ps[0].value, Some(&b"98asjd8"[..]));
        assert_eq!(ps[1].unquoted(), Some(&b"a;b"[..]));
        assert_eq!(ps[2].value, None);
        assert!(!params_valid(b";;"));
        assert!(!params_valid(b";a=\"open"));
        assert!(!params_valid(b"junk"));
    }

    #[test]
    fn decimal_rejects_overflow_and_signs() {
        assert_eq!(parse_decimal(b"0068", 255), Some(68));
        assert_eq!(parse_decimal(b"300", 255), None);
        assert_eq!(parse_decimal(b"-1", u64::MAX), None);
        assert_eq!(parse_decimal(b"36893488147419103232", u64::MAX), None);
    }
}
