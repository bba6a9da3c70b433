//! The backend-neutral statement layer the service modules are written in.
//!
//! SQL text is `&'static str` on purpose: a statement cannot be assembled
//! from runtime strings, so names and realms can only ever reach the
//! database as bound parameters (coturn's MySQL and PostgreSQL drivers had
//! SQL injection through formatted names).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// One statement, spelled for each dialect. Both use `?` placeholders.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sql {
    /// SQLite spelling.
    pub sqlite: &'static str,
    /// MySQL/MariaDB spelling.
    pub mysql: &'static str,
}

impl Sql {
    /// A statement that is spelled the same in both dialects.
    pub(crate) const fn both(text: &'static str) -> Self {
        Sql {
            sqlite: text,
            mysql: text,
        }
    }
}

/// A bound parameter or a fetched column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<Option<&str>> for Value {
    fn from(s: Option<&str>) -> Self {
        s.map_or(Value::Null, Value::from)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Blob(b.to_vec())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Int(i64::from(i))
    }
}

impl From<Option<u32>> for Value {
    fn from(i: Option<u32>) -> Self {
        i.map_or(Value::Null, Value::from)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Int(i64::from(b))
    }
}

/// Outcome of a data-changing statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exec {
    /// Number of rows matched (MySQL is connected with CLIENT_FOUND_ROWS so
    /// that it counts like SQLite).
    Rows(u64),
    /// A primary-key or unique constraint rejected the row.
    Duplicate,
}

/// One fetched row. Accessors never panic: a missing column or a value of
/// the wrong type is [`Error::Corrupt`].
#[derive(Debug, Clone)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value> {
        self.0.get(i).ok_or(Error::Corrupt("missing column"))
    }

    /// A text column. MySQL returns `VARBINARY` as bytes; they must be UTF-8.
    pub(crate) fn text(&self, i: usize) -> Result<String> {
        match self.at(i)? {
            Value::Text(s) => Ok(s.clone()),
            Value::Blob(b) => {
                String::from_utf8(b.clone()).map_err(|_| Error::Corrupt("text is not UTF-8"))
            }
            _ => Err(Error::Corrupt("expected text")),
        }
    }

    /// A nullable text column.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    /// A fixed-length binary column (a derived key).
    pub(crate) fn bytes<const N: usize>(&self, i: usize) -> Result<[u8; N]> {
        let raw: &[u8] = match self.at(i)? {
            Value::Blob(b) => b,
            Value::Text(s) => s.as_bytes(),
            _ => return Err(Error::Corrupt("expected binary key")),
        };
        raw.try_into()
            .map_err(|_| Error::Corrupt("stored key has the wrong length"))
    }

    /// An integer column.
    pub(crate) fn int(&self, i: usize) -> Result<i64> {
        match self.at(i)? {
            Value::Int(n) => Ok(*n),
            // MySQL's text protocol and some aggregates hand back digits.
            Value::Blob(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(Error::Corrupt("expected integer")),
            _ => Err(Error::Corrupt("expected integer")),
        }
    }

    /// A nullable integer column.
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// An integer column that must fit a `u32` (CSeq, reg-id, flags).
    pub(crate) fn u32(&self, i: usize) -> Result<u32> {
        u32::try_from(self.int(i)?).map_err(|_| Error::Corrupt("integer out of range"))
    }

    /// A 0/1 column.
    pub(crate) fn flag(&self, i: usize) -> Result<bool> {
        Ok(self.int(i)? != 0)
    }

    /// A variable-length binary column (salt, SCRAM key).
    pub(crate) fn blob(&self, i: usize) -> Result<Vec<u8>> {
        match self.at(i)? {
            Value::Blob(b) => Ok(b.clone()),
            Value::Text(s) => Ok(s.as_bytes().to_vec()),
            _ => Err(Error::Corrupt("expected binary column")),
        }
    }

    /// Whether the column is NULL (e.g. the empty side of a LEFT JOIN).
    pub(crate) fn is_null(&self, i: usize) -> Result<bool> {
        Ok(matches!(self.at(i)?, Value::Null))
    }

    /// A non-negative count.
    pub(crate) fn count(&self, i: usize) -> Result<u64> {
        u64::try_from(self.int(i)?).map_err(|_| Error::Corrupt("negative count"))
    }
}

/// Turns the outcome of an UPDATE or DELETE of one keyed record into
/// [`Error::NotFound`] when it matched nothing.
pub(crate) fn expect_some_rows(outcome: Exec, what: crate::Entity) -> Result<()> {
    match outcome {
        Exec::Rows(0) => Err(Error::NotFound(what)),
        Exec::Rows(_) => Ok(()),
        Exec::Duplicate => Err(Error::Corrupt("constraint violation on update or delete")),
    }
}

/// Longest realm, name or secret accepted, in bytes. The MySQL columns are
/// `VARBINARY(255)`; checking here keeps both backends identical.
pub const MAX_NAME_LEN: usize = 255;

/// Rejects identifiers that cannot be stored identically on both backends.
pub(crate) fn check_name(field: &'static str, value: &str) -> Result<()> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > MAX_NAME_LEN {
        "longer than 255 bytes"
    } else if value.chars().any(char::is_control) {
        "contains control characters"
    } else {
        return Ok(());
    };
    Err(Error::InvalidInput { field, reason })
}

/// Like [`check_name`] with another length limit, for values longer than a
/// name: URIs, JIDs, Path entries.
pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > max {
        "too long"
    } else if value.chars().any(char::is_control) {
        "contains control characters"
    } else {
        return Ok(());
    };
    Err(Error::InvalidInput { field, reason })
}

/// Checks an XML fragment (a stanza, a vCard): not empty, at most `max`
/// bytes, and no characters XML 1.0 forbids (control characters other than
/// tab, line feed and carriage return). Well-formedness is the caller's.
pub(crate) fn check_xml(field: &'static str, value: &str, max: usize) -> Result<()> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > max {
        "too long"
    } else if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        "contains characters not allowed in XML"
    } else {
        return Ok(());
    };
    Err(Error::InvalidInput { field, reason })
}

/// Rejects passwords that are empty or unreasonably long.
pub(crate) fn check_password(value: &str) -> Result<()> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > crate::credentials::MAX_PASSWORD_LEN {
        "longer than 1024 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidInput {
        field: "password",
        reason,
    })
}

/// Seconds since the Unix epoch, for `created_at`/`updated_at` columns.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("name", "roland").is_ok());
        assert!(check_name("name", "x' OR '1'='1").is_ok());
        assert!(check_name("name", &"é".repeat(127)).is_ok());
        for bad in ["", "a\0b", "a\nb", "\u{7f}"] {
            assert!(check_name("name", bad).is_err(), "{bad:?}");
        }
        assert!(check_name("name", &"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn texts_and_xml_are_checked() {
        assert!(check_text("contact", "sip:a@b;transport=tcp", 32).is_ok());
        assert!(check_text("contact", &"a".repeat(33), 32).is_err());
        assert!(check_text("contact", "sip:a@b\r\nVia: x", 64).is_err());
        assert!(check_text("contact", "", 64).is_err());
        assert!(check_xml("stanza", "<message>\n\t<body>hi</body>\r\n</message>", 64).is_ok());
        assert!(check_xml("stanza", "<a>\u{0}</a>", 64).is_err());
        assert!(check_xml("stanza", "<a>\u{1b}</a>", 64).is_err());
        assert!(check_xml("stanza", &"a".repeat(65), 64).is_err());
        assert!(check_xml("stanza", "", 64).is_err());
    }

    #[test]
    fn row_accessors_do_not_panic_on_bad_rows() {
        let row = Row(vec![Value::Int(3), Value::Blob(vec![1, 2])]);
        assert!(row.text(5).is_err());
        assert!(row.bytes::<16>(1).is_err());
        assert!(row.text(0).is_err());
        assert_eq!(row.int(0).ok(), Some(3));
        assert!(Row(vec![Value::Int(-1)]).count(0).is_err());
        assert!(Row(vec![Value::Int(-1)]).u32(0).is_err());
        assert!(Row(vec![Value::Int(1 << 32)]).u32(0).is_err());
        assert_eq!(Row(vec![Value::Null]).opt_int(0).ok(), Some(None));
        assert!(Row(vec![Value::Int(1)]).blob(0).is_err());
        assert_eq!(
            Row(vec![Value::Blob(b"42".to_vec())]).count(0).ok(),
            Some(42)
        );
    }
}
