//! Loading YAML configuration files with errors that name the file, line, column and key.
//!
//! Every configuration struct of the daemons uses `#[serde(deny_unknown_fields)]`,
//! so a misspelt key is an error naming that key rather than a silently ignored
//! setting.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Configuration files larger than this are refused.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Read and parse a YAML file into `T`.
pub fn load_yaml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let read_err = |source| Error::ConfigRead {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::invalid(
            path,
            "",
            format!("file is larger than {MAX_CONFIG_BYTES} bytes"),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_column(e.as_bytes(), e.utf8_error().valid_up_to());
        Error::ConfigInvalid {
            path: path.to_path_buf(),
            line: Some(line),
            column: Some(column),
            key: String::new(),
            message: "file is not valid UTF-8".into(),
        }
    })?;
    load_yaml_str(path, &text)
}

/// Parse YAML text into `T`; `path` is only used to name the source in errors.
///
/// A document that is empty or holds only comments is read as an empty mapping,
/// so a config file whose every line is commented out yields the defaults.
pub fn load_yaml_str<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    let text = if is_blank(text) { "{}" } else { text };
    let de = yaml_serde::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let key = key_path(err.path());
        let inner = err.into_inner();
        let location = inner.location();
        Error::ConfigInvalid {
            path: path.to_path_buf(),
            line: location.as_ref().map(yaml_serde::Location::line),
            column: location.as_ref().map(yaml_serde::Location::column),
            message: bare_message(&inner, &key),
            key,
        }
    })
}

/// Whether the document has no content besides whitespace and comments.
fn is_blank(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---")
}

/// The dotted key path, or empty for the document root.
fn key_path(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." {
        String::new()
    } else {
        text
    }
}

/// The parser's message without the location and key it prints itself,
/// since [`Error::ConfigInvalid`] shows those in its own fixed order.
fn bare_message(err: &yaml_serde::Error, key: &str) -> String {
    let mut message = err.to_string();
    if let Some(loc) = err.location() {
        let suffix = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(pos) = message.find(&suffix) {
            message.replace_range(pos..pos + suffix.len(), "");
        }
    }
    // The parser prefixes the path it knows, which is the key or one of its
    // ancestors (for an unknown field it names the enclosing mapping).
    let mut prefix = key;
    while !prefix.is_empty() {
        if let Some(rest) = message
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(": "))
        {
            return rest.to_owned();
        }
        prefix = prefix
            .rfind(['.', '['])
            .and_then(|i| prefix.get(..i))
            .unwrap_or("");
    }
    message
}

/// 1-based line and column of byte `offset` in `bytes`.
fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = bytes.get(..offset).unwrap_or(bytes);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Ports {
        min: u16,
        max: u16,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Relay {
        ports: Ports,
        #[serde(default)]
        addresses: Vec<std::net::IpAddr>,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(deny_unknown_fields)]
    struct Top {
        #[serde(default)]
        realm: String,
        relay: Option<Relay>,
    }

    const PATH: &str = "/etc/turnd/turnd.yaml";

    fn err(text: &str) -> Error {
        load_yaml_str::<Top>(Path::new(PATH), text).unwrap_err()
    }

    fn parts(e: &Error) -> (Option<usize>, Option<usize>, &str, &str) {
        match e {
            Error::ConfigInvalid {
                line,
                column,
                key,
                message,
                ..
            } => (*line, *column, key, message),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn valid_document_parses() {
        let top: Top = load_yaml_str(
            Path::new(PATH),
            "realm: example.org\nrelay:\n  ports: {min: 49152, max: 65535}\n",
        )
        .unwrap();
        assert_eq!(
            top.relay.unwrap().ports,
            Ports {
                min: 49152,
                max: 65535
            }
        );
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let e = err("realm: example.org\nrelay:\n  ports:\n    min: 1\n    max: 2\n    mxa: 3\n");
        let (line, column, key, message) = parts(&e);
        assert_eq!(line, Some(6));
        assert_eq!(column, Some(5));
        assert_eq!(key, "relay.ports.mxa");
        assert!(message.starts_with("unknown field `mxa`"), "{message}");
        assert!(
            e.to_string()
                .starts_with("/etc/turnd/turnd.yaml:6:5: relay.ports.mxa: unknown field `mxa`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_is_named_with_its_line() {
        let e = err("relay:\n  ports:\n    min: lots\n    max: 2\n");
        let (line, _, key, message) = parts(&e);
        assert_eq!(line, Some(3));
        assert_eq!(key, "relay.ports.min");
        assert!(
            message.starts_with("invalid type: string \"lots\""),
            "{message}"
        );
    }

    #[test]
    fn out_of_range_value_is_named_with_its_line() {
        let e = err("relay:\n  ports:\n    min: 70000\n    max: 2\n");
        let (line, _, key, message) = parts(&e);
        assert_eq!(line, Some(3));
        assert_eq!(key, "relay.ports.min");
        assert!(
            message.starts_with("invalid value: integer `70000`"),
            "{message}"
        );
    }

    #[test]
    fn bad_list_element_is_named_with_its_index() {
        let e = err(
            "relay:\n  ports: {min: 1, max: 2}\n  addresses:\n    - 192.0.2.1\n    - not-an-ip\n",
        );
        let (line, _, key, _) = parts(&e);
        assert_eq!(line, Some(5));
        assert_eq!(key, "relay.addresses[1]");
    }

    #[test]
    fn missing_field_names_the_parent() {
        let e = err("relay:\n  ports:\n    min: 1\n");
        let (_, _, key, message) = parts(&e);
        assert_eq!(key, "relay.ports");
        assert!(message.contains("missing field `max`"), "{message}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = err("realm: [unclosed\nrelay: 1\n");
        let (line, _, _, _) = parts(&e);
        assert!(line.is_some(), "{e}");
        assert!(e.to_string().starts_with("/etc/turnd/turnd.yaml:"), "{e}");
    }

    #[test]
    fn commented_out_file_gives_defaults() {
        let top: Top = load_yaml_str(Path::new(PATH), "# realm: x\n\n---\n").unwrap();
        assert_eq!(top, Top::default());
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_column(b"ab", 0), (1, 1));
    }
}
