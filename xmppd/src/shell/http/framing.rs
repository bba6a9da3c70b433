//! RFC 7395 framing for XMPP over WebSocket, translated to and from the
//! byte stream the core speaks.
//!
//! - In: `<open/>` becomes a `<stream:stream>` header (§3.3.1),
//!   `<close/>` becomes `</stream:stream>` (§3.3.3); stanzas pass through
//!   (each WebSocket message is one stanza, §3.3.3).
//! - Out: the core's serialised stream is cut into top-level elements, one
//!   message each; the header becomes `<open/>`, the footer `<close/>`, and
//!   every element declares its namespace, since each message is a
//!   standalone XML document (§3.3.3). The core's output is trusted
//!   well-formed XML, so a small scanner suffices.

/// RFC 7395 §3.3.1 framing namespace.
pub(crate) const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
const NS_STREAMS: &str = "http://etherx.jabber.org/streams";

/// A client message the framing cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FramingError {
    /// `<open/>` without the framing namespace or with a bad attribute.
    #[error("invalid <open/> element (RFC 7395 §3.3.1)")]
    BadOpen,
}

/// The stream bytes for one WebSocket message from the client.
pub(crate) fn client_message(msg: &str) -> Result<Vec<u8>, FramingError> {
    let t = msg.trim_start();
    if is_tag(t, "open") {
        let attrs = attributes(t).ok_or(FramingError::BadOpen)?;
        if !attrs.iter().any(|(k, v)| *k == "xmlns" && *v == NS_FRAMING) {
            return Err(FramingError::BadOpen);
        }
        let mut header =
            format!("<stream:stream xmlns='jabber:client' xmlns:stream='{NS_STREAMS}'");
        for (k, v) in attrs
            .iter()
            .filter(|(k, _)| matches!(*k, "to" | "from" | "version" | "xml:lang" | "id"))
        {
            header.push_str(&format!(" {k}='{v}'"));
        }
        header.push('>');
        return Ok(header.into_bytes());
    }
    if is_tag(t, "close") {
        return Ok(b"</stream:stream>".to_vec());
    }
    Ok(msg.as_bytes().to_vec())
}

fn is_tag(t: &str, name: &str) -> bool {
    t.strip_prefix('<')
        .and_then(|r| r.strip_prefix(name))
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>'))
}

/// The attributes of the first tag in `tag` (values still escaped), or
/// `None` if the tag is malformed. Quotes are normalised to `'`-safe form.
pub(crate) fn attributes(tag: &str) -> Option<Vec<(&str, String)>> {
    let end = tag_end(tag)?;
    let inner = tag.get(1..end)?;
    let inner = inner.trim_end_matches('/');
    let mut rest = inner.trim_start_matches(|c: char| !c.is_ascii_whitespace());
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Some(out);
        }
        let eq = rest.find('=')?;
        let name = rest.get(..eq)?.trim();
        let after = rest.get(eq + 1..)?.trim_start();
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let body = after.get(1..)?;
        let close = body.find(quote)?;
        let value = body.get(..close)?.replace('\'', "&apos;");
        out.push((name, value));
        rest = body.get(close + 1..)?;
    }
}

/// Index of the `>` ending the tag that starts `s`, skipping quoted values.
pub(crate) fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, b) in s.bytes().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Cuts the core's output into WebSocket messages.
#[derive(Debug, Default)]
pub(crate) struct Splitter {
    buf: String,
}

impl Splitter {
    /// Add output of the core; returns the complete messages.
    pub(crate) fn push(&mut self, data: &[u8]) -> Vec<String> {
        self.buf.push_str(&String::from_utf8_lossy(data));
        let mut out = Vec::new();
        while let Some((used, msg)) = next_piece(&self.buf) {
            self.buf.drain(..used);
            if let Some(m) = msg {
                out.push(m);
            }
        }
        out
    }
}

/// The next top-level piece of `s`: bytes consumed and the message, if any.
fn next_piece(s: &str) -> Option<(usize, Option<String>)> {
    let start = s.find(|c: char| !c.is_ascii_whitespace())?;
    let t = s.get(start..)?;
    if let Some(rest) = t.strip_prefix("<?") {
        return Some((start + 2 + rest.find("?>")? + 2, None));
    }
    if t.starts_with("</stream:stream>") {
        return Some((start + 16, Some(format!("<close xmlns='{NS_FRAMING}'/>"))));
    }
    if !t.starts_with('<') {
        // Text at stream level never comes from the core; drop it.
        return Some((start + t.find('<').unwrap_or(t.len()), None));
    }
    let first_end = tag_end(t)?;
    if is_tag(t, "stream:stream") {
        let attrs = attributes(t)?;
        let mut open = format!("<open xmlns='{NS_FRAMING}'");
        for (k, v) in attrs
            .iter()
            .filter(|(k, _)| matches!(*k, "to" | "from" | "id" | "version" | "xml:lang"))
        {
            open.push_str(&format!(" {k}='{v}'"));
        }
        open.push_str("/>");
        return Some((start + first_end + 1, Some(open)));
    }
    let end = element_end(t)?;
    let element = t.get(..end)?;
    let name_end = element
        .get(1..)?
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')?
        + 1;
    let name = element.get(1..name_end)?;
    let head = element.get(..first_end)?;
    let decl = if name.starts_with("stream:") {
        Some(format!(" xmlns:stream='{NS_STREAMS}'"))
    } else if !head.contains(" xmlns=") {
        Some(" xmlns='jabber:client'".to_owned())
    } else {
        None
    };
    let msg = match decl {
        Some(d) => format!(
            "{}{d}{}",
            element.get(..name_end)?,
            element.get(name_end..)?
        ),
        None => element.to_owned(),
    };
    Some((start + end, Some(msg)))
}

/// The length of the complete element starting `t`, or `None` if incomplete.
fn element_end(t: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    loop {
        let rel = t.get(i..)?.find('<')?;
        i += rel;
        let rest = t.get(i..)?;
        let end = tag_end(rest)?;
        let tag = rest.get(..=end)?;
        if tag.starts_with("</") {
            depth = depth.saturating_sub(1);
        } else if !tag.ends_with("/>") {
            depth += 1;
        }
        i += end + 1;
        if depth == 0 {
            return Some(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_becomes_stream_header_and_close_becomes_footer() {
        let h = client_message(
            r#"<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.org" version="1.0"/>"#,
        )
        .unwrap();
        let h = String::from_utf8(h).unwrap();
        assert!(h.starts_with("<stream:stream xmlns='jabber:client'"));
        assert!(h.contains(" to='example.org'") && h.contains(" version='1.0'"));
        assert_eq!(
            client_message(r#"<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>"#).unwrap(),
            b"</stream:stream>"
        );
    }

    #[test]
    fn open_without_framing_namespace_is_refused() {
        assert_eq!(client_message("<open to='x'/>"), Err(FramingError::BadOpen));
    }

    #[test]
    fn stanzas_pass_through_unchanged() {
        let m = "<message xmlns='jabber:client' to='a@b'><body>x</body></message>";
        assert_eq!(client_message(m).unwrap(), m.as_bytes());
    }

    #[test]
    fn core_output_is_cut_into_one_namespaced_message_per_element() {
        let mut s = Splitter::default();
        let out = s.push(
            b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
xmlns:stream='http://etherx.jabber.org/streams' from='example.org' id='abc' version='1.0' xml:lang='en'>\
<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>\
<message to='a@b' type='chat'><body>1 &lt; 2 &gt; 0</body></message><iq type='result' id='x'/>",
        );
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!(out[0], "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.org' id='abc' version='1.0' xml:lang='en'/>");
        assert!(
            out[1].starts_with("<stream:features xmlns:stream='http://etherx.jabber.org/streams'>")
        );
        assert!(out[2].starts_with("<message xmlns='jabber:client' to='a@b'"));
        assert_eq!(out[3], "<iq xmlns='jabber:client' type='result' id='x'/>");
    }

    #[test]
    fn elements_split_across_writes_are_reassembled() {
        let mut s = Splitter::default();
        assert!(s
            .push(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>ab")
            .is_empty());
        let out = s.push(b"c</success></stream:stream>");
        assert_eq!(
            out,
            [
                "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>abc</success>".to_owned(),
                "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>".to_owned()
            ]
        );
    }

    #[test]
    fn quoted_greater_than_does_not_end_a_tag() {
        let mut s = Splitter::default();
        let out = s.push(b"<message to='a@b' id='x>y'><body/></message>");
        assert_eq!(out.len(), 1);
    }
}
