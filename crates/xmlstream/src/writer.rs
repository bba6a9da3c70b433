//! Serialisation of stream headers and element trees into a `Vec<u8>`.
//!
//! Elements are written unprefixed, with a default namespace declaration
//! (`xmlns='...'`) wherever an element's namespace differs from the one in
//! scope; inside a stream, elements of the streams namespace use the
//! `stream:` prefix that [`write_stream_open`] declares. Namespaced
//! attributes other than `xml:*` get a prefix declared on their element.
//!
//! Text escapes `&`, `<`, `>` and CR; attribute values (always in single
//! quotes) escape `&`, `<`, `>`, `'`, `"`, tab, LF and CR, so values read
//! back unchanged. Characters XML 1.0 cannot carry (C0 controls other than
//! tab, LF, CR; U+FFFE; U+FFFF) are refused with
//! [`StreamError::InvalidChar`], never silently dropped: call
//! [`strip_invalid_chars`] first on untrusted local data. On error, `out`
//! is left as it was.

use std::borrow::Cow;

use crate::element::{Element, Node};
use crate::error::StreamError;
use crate::header::{ContentNamespace, StreamHeader};
use crate::ns;

/// Append `<?xml version='1.0'?>` and the `<stream:stream ...>` open tag.
pub fn write_stream_open(out: &mut Vec<u8>, header: &StreamHeader) -> Result<(), StreamError> {
    atomically(out, |out| {
        out.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='");
        out.extend_from_slice(header.content_ns.as_str().as_bytes());
        out.extend_from_slice(b"' xmlns:stream='");
        out.extend_from_slice(ns::STREAMS.as_bytes());
        out.push(b'\'');
        for (prefix, uri) in &header.declarations {
            if matches!(prefix.as_str(), "xml" | "xmlns" | "stream")
                || uri.is_empty()
                || uri == ns::XML
                || uri == ns::XMLNS
            {
                return Err(StreamError::InvalidName);
            }
            out.extend_from_slice(b" xmlns:");
            write_name(out, prefix)?;
            write_attr_value(out, uri)?;
        }
        for (name, value) in [
            ("to", &header.to),
            ("from", &header.from),
            ("id", &header.id),
            ("version", &header.version),
            ("xml:lang", &header.lang),
        ] {
            if let Some(value) = value {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                write_attr_value(out, value)?;
            }
        }
        out.push(b'>');
        Ok(())
    })
}

/// Append `</stream:stream>`.
pub fn write_stream_close(out: &mut Vec<u8>) {
    out.extend_from_slice(b"</stream:stream>");
}

/// Append a top-level element inside a stream opened by
/// [`write_stream_open`] with the given content namespace.
pub fn write_stanza(
    out: &mut Vec<u8>,
    element: &Element,
    content_ns: ContentNamespace,
) -> Result<(), StreamError> {
    atomically(out, |out| {
        write_tree(out, element, Some(content_ns.as_str()), true)
    })
}

/// Append an element as a self-contained fragment: its namespace is always
/// declared (`xmlns=''` for none), so it reads the same wherever it is
/// embedded. Streams-namespace elements are not prefixed.
pub fn write_element(out: &mut Vec<u8>, element: &Element) -> Result<(), StreamError> {
    atomically(out, |out| write_tree(out, element, None, false))
}

impl Element {
    /// Serialise as a standalone fragment (see [`write_element`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        write_element(&mut out, self)?;
        Ok(out)
    }
}

/// Remove the characters XML 1.0 cannot carry (see the module docs),
/// borrowing when there are none.
pub fn strip_invalid_chars(s: &str) -> Cow<'_, str> {
    if s.chars().all(is_xml_char) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| is_xml_char(c)).collect())
    }
}

/// XML 1.0 §2.2 `Char` (surrogates cannot occur in a `str`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

fn atomically(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), StreamError>,
) -> Result<(), StreamError> {
    let before = out.len();
    let result = f(out);
    if result.is_err() {
        out.truncate(before);
    }
    result
}

/// Write `element`; `default_ns` is the default namespace in scope (`None`:
/// unknown, always declare) and `stream_bound` whether the `stream` prefix
/// is declared.
fn write_tree(
    out: &mut Vec<u8>,
    element: &Element,
    default_ns: Option<&str>,
    stream_bound: bool,
) -> Result<(), StreamError> {
    // Elements of the streams namespace reuse the stream header's prefix;
    // the xml namespace may only ever be used through its fixed prefix.
    let prefix: Option<&[u8]> = match element.ns() {
        ns::STREAMS if stream_bound => Some(b"stream:"),
        ns::XML => Some(b"xml:"),
        ns::XMLNS => return Err(StreamError::InvalidName),
        _ => None,
    };
    out.push(b'<');
    out.extend_from_slice(prefix.unwrap_or_default());
    write_name(out, element.name())?;
    let inner_ns = match prefix {
        Some(_) => default_ns,
        None => {
            if default_ns != Some(element.ns()) {
                out.extend_from_slice(b" xmlns");
                write_attr_value(out, element.ns())?;
            }
            Some(element.ns())
        }
    };
    write_attributes(out, element)?;
    if element.nodes().is_empty() {
        out.extend_from_slice(b"/>");
        return Ok(());
    }
    out.push(b'>');
    for node in element.nodes() {
        match node {
            Node::Element(child) => write_tree(out, child, inner_ns, stream_bound)?,
            Node::Text(text) => escape(out, text, false)?,
        }
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(prefix.unwrap_or_default());
    out.extend_from_slice(element.name().as_bytes());
    out.push(b'>');
    Ok(())
}

fn write_attributes(out: &mut Vec<u8>, element: &Element) -> Result<(), StreamError> {
    let attrs = element.attributes();
    for (i, attr) in attrs.iter().enumerate() {
        out.push(b' ');
        match attr.ns.as_str() {
            "" if attr.name == "xmlns" => return Err(StreamError::InvalidName),
            "" => {}
            ns::XML => out.extend_from_slice(b"xml:"),
            ns::XMLNS => return Err(StreamError::InvalidName),
            uri => {
                // Prefix `nsN`, N = index of the first attribute in this namespace.
                let first = attrs.iter().position(|a| a.ns == uri).unwrap_or(i);
                if first == i {
                    out.extend_from_slice(b"xmlns:");
                    write_prefix(out, first);
                    write_attr_value(out, uri)?;
                    out.push(b' ');
                }
                write_prefix(out, first);
                out.push(b':');
            }
        }
        write_name(out, &attr.name)?;
        write_attr_value(out, &attr.value)?;
    }
    Ok(())
}

/// Write the generated prefix `ns<n>` without allocating.
fn write_prefix(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(b"ns");
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
}

fn write_name(out: &mut Vec<u8>, name: &str) -> Result<(), StreamError> {
    rxml::strings::validate_ncname(name).map_err(|_| StreamError::InvalidName)?;
    out.extend_from_slice(name.as_bytes());
    Ok(())
}

fn write_attr_value(out: &mut Vec<u8>, value: &str) -> Result<(), StreamError> {
    out.extend_from_slice(b"='");
    escape(out, value, true)?;
    out.push(b'\'');
    Ok(())
}

/// Escape `s` into `out`, copying unescaped runs in one go.
fn escape(out: &mut Vec<u8>, s: &str, in_attr: bool) -> Result<(), StreamError> {
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#13;",
            b'\'' if in_attr => b"&apos;",
            b'"' if in_attr => b"&quot;",
            b'\t' if in_attr => b"&#9;",
            b'\n' if in_attr => b"&#10;",
            b'\t' | b'\n' => continue,
            0..=0x1f => return Err(StreamError::InvalidChar(u32::from(b))),
            // U+FFFE and U+FFFF are EF BF BE and EF BF BF in UTF-8.
            0xEF => match bytes.get(i + 1..i + 3) {
                Some([0xBF, 0xBE]) => return Err(StreamError::InvalidChar(0xFFFE)),
                Some([0xBF, 0xBF]) => return Err(StreamError::InvalidChar(0xFFFF)),
                _ => continue,
            },
            _ => continue,
        };
        out.extend_from_slice(bytes.get(run..i).unwrap_or_default());
        out.extend_from_slice(replacement);
        run = i + 1;
    }
    out.extend_from_slice(bytes.get(run..).unwrap_or_default());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fragment(e: &Element) -> String {
        String::from_utf8(e.to_bytes().unwrap()).unwrap()
    }

    #[test]
    fn text_escapes_markup_and_carriage_return() {
        let e = Element::new("body", "jabber:client").text("a<b>&c\r\n'\"");
        assert_eq!(
            fragment(&e),
            "<body xmlns='jabber:client'>a&lt;b&gt;&amp;c&#13;\n'\"</body>"
        );
    }

    #[test]
    fn attribute_values_escape_quotes_and_whitespace() {
        let e = Element::new("x", "").attr("v", "'\"<&>\t\n\r");
        assert_eq!(
            fragment(&e),
            "<x xmlns='' v='&apos;&quot;&lt;&amp;&gt;&#9;&#10;&#13;'/>"
        );
    }

    #[test]
    fn control_characters_and_nonchars_are_refused_and_output_untouched() {
        for bad in ["\u{0}", "a\u{1b}b", "\u{fffe}", "x\u{ffff}"] {
            let mut out = b"keep".to_vec();
            let e = Element::new("body", "").text(bad);
            let err = write_element(&mut out, &e).unwrap_err();
            assert!(matches!(err, StreamError::InvalidChar(_)), "{bad:?}");
            assert_eq!(out, b"keep");
        }
        assert_eq!(
            write_element(&mut Vec::new(), &Element::new("b", "").text("\u{fffe}")),
            Err(StreamError::InvalidChar(0xFFFE))
        );
        assert_eq!(
            write_element(
                &mut Vec::new(),
                &Element::new("b", "").attr("a", "\u{ffff}")
            ),
            Err(StreamError::InvalidChar(0xFFFF))
        );
    }

    #[test]
    fn strip_invalid_chars_keeps_everything_xml_can_carry() {
        assert!(matches!(
            strip_invalid_chars("plain\ttext\u{10000}"),
            Cow::Borrowed(_)
        ));
        assert_eq!(strip_invalid_chars("a\u{0}b\u{fffe}c\u{7}"), "abc");
    }

    #[test]
    fn child_in_other_namespace_gets_a_default_declaration() {
        let auth = Element::new("auth", "urn:ietf:params:xml:ns:xmpp-sasl")
            .attr("mechanism", "PLAIN")
            .text("AGp1bGlldAByMG0zMG15cjBtMzA=");
        let iq = Element::new("iq", "jabber:client")
            .attr("type", "set")
            .child(auth)
            .child(Element::new("ping", "jabber:client"));
        let mut out = Vec::new();
        write_stanza(&mut out, &iq, ContentNamespace::Client).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<iq type='set'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\
             AGp1bGlldAByMG0zMG15cjBtMzA=</auth><ping/></iq>"
        );
    }

    #[test]
    fn element_without_namespace_undeclares_the_default() {
        let e = Element::new("a", "jabber:client").child(Element::new("b", ""));
        assert_eq!(fragment(&e), "<a xmlns='jabber:client'><b xmlns=''/></a>");
    }

    #[test]
    fn stream_namespace_elements_use_the_stream_prefix_inside_a_stream() {
        let features = Element::new("features", ns::STREAMS).child(
            Element::new("starttls", "urn:ietf:params:xml:ns:xmpp-tls")
                .child(Element::new("required", "urn:ietf:params:xml:ns:xmpp-tls")),
        );
        let mut out = Vec::new();
        write_stanza(&mut out, &features, ContentNamespace::Client).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>\
             </starttls></stream:features>"
        );
    }

    #[test]
    fn namespaced_attributes_get_a_prefix_declared_once() {
        let e = Element::new("m", "")
            .attr_ns(ns::XML, "lang", "en")
            .attr_ns("urn:a", "x", "1")
            .attr_ns("urn:a", "y", "2")
            .attr_ns("urn:b", "x", "3");
        assert_eq!(
            fragment(&e),
            "<m xmlns='' xml:lang='en' xmlns:ns1='urn:a' ns1:x='1' ns1:y='2' xmlns:ns3='urn:b' ns3:x='3'/>"
        );
    }

    #[test]
    fn invalid_names_are_refused() {
        for e in [
            Element::new("has space", ""),
            Element::new("p:q", ""),
            Element::new("", ""),
            Element::new("ok", "").attr("xmlns", "urn:x"),
            Element::new("ok", "").attr("1st", "v"),
            Element::new("ok", "").attr_ns(ns::XMLNS, "p", "urn:x"),
        ] {
            assert_eq!(e.to_bytes(), Err(StreamError::InvalidName), "{e:?}");
        }
    }

    #[test]
    fn stream_header_carries_all_attributes_and_declarations() {
        let mut h = StreamHeader::new(ContentNamespace::Server);
        h.from = Some("example.net".into());
        h.to = Some("example.com".into());
        h.id = Some("a'b".into());
        h.lang = Some("en".into());
        h.declarations.push(("db".into(), ns::DIALBACK.into()));
        let mut out = Vec::new();
        write_stream_open(&mut out, &h).unwrap();
        write_stream_close(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
             xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' \
             to='example.com' from='example.net' id='a&apos;b' version='1.0' xml:lang='en'>\
             </stream:stream>"
        );
    }

    #[test]
    fn stream_header_refuses_reserved_prefixes() {
        for (p, uri) in [
            ("stream", "urn:x"),
            ("xmlns", "urn:x"),
            ("db", ""),
            ("x", ns::XMLNS),
        ] {
            let mut h = StreamHeader::new(ContentNamespace::Client);
            h.declarations.push((p.into(), uri.into()));
            assert_eq!(
                write_stream_open(&mut Vec::new(), &h),
                Err(StreamError::InvalidName)
            );
        }
    }
}
