//! Namespace resolution and stanza tree building on top of rxml's raw events.
//!
//! rxml's `RawParser` checks XML well-formedness but leaves namespaces to
//! us. Doing them here (instead of using rxml's resolving `Parser`) lets the
//! reader see the stream header's namespace declarations and enforce
//! attribute and depth limits before anything is allocated for them.

use std::borrow::Cow;

use rxml::{NcName, RawEvent};

use crate::element::{Attribute, Element};
use crate::error::{HeaderProblem, Limit, StreamError};
use crate::header::{ContentNamespace, StreamHeader};
use crate::limits::Limits;
use crate::ns;
use crate::reader::Event;

type RawAttr = (Option<NcName>, NcName, String);

/// An element whose start tag is still being read.
#[derive(Debug)]
struct Head {
    prefix: Option<NcName>,
    name: NcName,
    attrs: Vec<RawAttr>,
}

/// In-scope namespace declarations, innermost last (Namespaces in XML 1.0 §6).
#[derive(Debug, Default)]
struct Scopes {
    /// `(prefix, namespace)`; the default namespace has the empty prefix and
    /// an empty namespace undeclares it. Well-known names are borrowed
    /// ([`intern`]): every stream declares them, so each connection would
    /// otherwise hold its own copies for its lifetime.
    decls: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// `decls.len()` when each open element started.
    marks: Vec<usize>,
}

/// Prefixes and namespaces every XMPP stream header declares (RFC 6120 §4.8).
const WELL_KNOWN: [&str; 6] = [
    "",
    "stream",
    ns::STREAMS,
    ns::CLIENT,
    ns::SERVER,
    ns::COMPONENT_ACCEPT,
];

/// `s` as a `'static` string when it is one of [`WELL_KNOWN`].
fn well_known(s: &str) -> Option<&'static str> {
    WELL_KNOWN.iter().find(|w| **w == s).copied()
}

impl Scopes {
    fn open(&mut self) {
        self.marks.push(self.decls.len());
    }

    fn close(&mut self) {
        if let Some(mark) = self.marks.pop() {
            self.decls.truncate(mark);
        }
    }

    fn innermost(&self) -> &[(Cow<'static, str>, Cow<'static, str>)] {
        let mark = self.marks.last().copied().unwrap_or(0);
        self.decls.get(mark..).unwrap_or(&[])
    }

    fn declare(&mut self, prefix: &str, uri: String) -> Result<(), StreamError> {
        if self.innermost().iter().any(|(p, _)| p == prefix) {
            return Err(StreamError::NotWellFormed(rxml::Error::DuplicateAttribute));
        }
        // Namespaces in XML 1.0 §3: the xmlns namespace is never declared,
        // the xml namespace only for the xml prefix (rxml checks the rest).
        if uri == ns::XMLNS || (prefix.is_empty() && uri == ns::XML) {
            return Err(StreamError::NotWellFormed(
                rxml::Error::ReservedNamespaceName,
            ));
        }
        if prefix != "xml" {
            let prefix =
                well_known(prefix).map_or_else(|| Cow::Owned(prefix.to_owned()), Cow::Borrowed);
            let uri = well_known(&uri).map_or(Cow::Owned(uri), Cow::Borrowed);
            self.decls.push((prefix, uri));
        }
        Ok(())
    }

    fn lookup(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(ns::XML);
        }
        self.decls
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, uri)| uri.as_ref())
    }

    fn resolve(&self, prefix: Option<&NcName>) -> Result<String, StreamError> {
        match prefix {
            None => Ok(self.lookup("").unwrap_or("").to_owned()),
            Some(p) if p.as_str() == "xmlns" => Err(StreamError::NotWellFormed(
                rxml::Error::ReservedNamespacePrefix,
            )),
            Some(p) => {
                self.lookup(p.as_str())
                    .map(str::to_owned)
                    .ok_or(StreamError::NotWellFormed(
                        rxml::Error::UndeclaredNamespacePrefix(None),
                    ))
            }
        }
    }
}

/// Turns raw events into stream events, enforcing the structural limits.
#[derive(Debug)]
///
/// It does not keep its own copy of the [`Limits`]: the reader passes its
/// own with each event, so a connection holds them once.
pub(crate) struct TreeBuilder {
    scopes: Scopes,
    head: Option<Head>,
    /// Open elements of the stanza being read; empty between stanzas.
    stack: Vec<Element>,
    stream_open: bool,
    child_elements: usize,
}

impl TreeBuilder {
    pub(crate) fn new() -> Self {
        Self {
            scopes: Scopes::default(),
            head: None,
            stack: Vec::new(),
            stream_open: false,
            child_elements: 0,
        }
    }

    /// Between stanzas: drop the capacity a stanza's nesting left behind.
    pub(crate) fn release_idle_memory(&mut self) {
        self.stack.shrink_to_fit();
        self.scopes.decls.shrink_to_fit();
        self.scopes.marks.shrink_to_fit();
    }

    /// Process one raw event; `Some` when it completes a stream event.
    pub(crate) fn handle(
        &mut self,
        raw: RawEvent,
        limits: &Limits,
    ) -> Result<Option<Event>, StreamError> {
        match raw {
            RawEvent::XmlDeclaration(..) => Ok(None),
            RawEvent::ElementHeadOpen(_, (prefix, name)) => {
                self.open_head(prefix, name, limits)?;
                Ok(None)
            }
            RawEvent::Attribute(_, (prefix, name), value) => {
                self.push_attribute(prefix, name, value, limits)?;
                Ok(None)
            }
            RawEvent::ElementHeadClose(_) => self.close_head(),
            RawEvent::ElementFoot(_) => Ok(self.close_element()),
            RawEvent::Text(_, text) => self.text(&text),
        }
    }

    fn open_head(
        &mut self,
        prefix: Option<NcName>,
        name: NcName,
        limits: &Limits,
    ) -> Result<(), StreamError> {
        if self.stream_open {
            let depth = self.stack.len() + 1;
            if depth > limits.effective_depth() {
                return Err(StreamError::PolicyViolation(Limit::Depth));
            }
            if !self.stack.is_empty() {
                self.child_elements += 1;
                if self.child_elements > limits.max_child_elements {
                    return Err(StreamError::PolicyViolation(Limit::ChildElements));
                }
            }
        }
        self.head = Some(Head {
            prefix,
            name,
            attrs: Vec::new(),
        });
        Ok(())
    }

    fn push_attribute(
        &mut self,
        prefix: Option<NcName>,
        name: NcName,
        value: String,
        limits: &Limits,
    ) -> Result<(), StreamError> {
        let head =
            self.head
                .as_mut()
                .ok_or(StreamError::NotWellFormed(rxml::Error::InvalidSyntax(
                    "attribute outside a start tag",
                )))?;
        if head.attrs.len() >= limits.max_attributes {
            return Err(StreamError::PolicyViolation(Limit::Attributes));
        }
        if value.len() > limits.max_attribute_value_bytes {
            return Err(StreamError::PolicyViolation(Limit::AttributeValueBytes));
        }
        head.attrs.push((prefix, name, value));
        Ok(())
    }

    fn close_head(&mut self) -> Result<Option<Event>, StreamError> {
        let head =
            self.head
                .take()
                .ok_or(StreamError::NotWellFormed(rxml::Error::InvalidSyntax(
                    "end of a start tag that never began",
                )))?;
        self.scopes.open();
        let mut plain = Vec::with_capacity(head.attrs.len());
        for (prefix, name, value) in head.attrs {
            match prefix.as_ref().map(|p| p.as_str()) {
                None if name.as_str() == "xmlns" => self.scopes.declare("", value)?,
                Some("xmlns") => self.scopes.declare(name.as_str(), value)?,
                _ => plain.push((prefix, name, value)),
            }
        }
        let ns = self.scopes.resolve(head.prefix.as_ref())?;
        let mut element = Element::new(head.name.as_str(), ns);
        for (prefix, name, value) in plain {
            let attr_ns = match prefix {
                None => String::new(),
                Some(p) => self.scopes.resolve(Some(&p))?,
            };
            element.push_attribute(Attribute {
                ns: attr_ns,
                name: name.as_str().to_owned(),
                value,
            });
        }
        reject_duplicate_attributes(&element)?;
        if self.stream_open {
            self.stack.push(element);
            return Ok(None);
        }
        let header = self.stream_header(head.prefix.is_some(), element)?;
        self.stream_open = true;
        Ok(Some(Event::StreamOpen(header)))
    }

    /// Validate the root element and extract the header (RFC 6120 §4.7, §4.8).
    fn stream_header(&self, prefixed: bool, root: Element) -> Result<StreamHeader, StreamError> {
        if root.ns() != ns::STREAMS {
            return Err(StreamError::InvalidHeader(HeaderProblem::StreamNamespace));
        }
        if root.name() != "stream" {
            return Err(StreamError::InvalidHeader(HeaderProblem::StreamName));
        }
        // RFC 6120 §4.8.5: the streams namespace needs a prefix. Any prefix
        // is accepted, but `stream` must not be bound to another namespace.
        if !prefixed
            || self
                .scopes
                .lookup("stream")
                .is_some_and(|uri| uri != ns::STREAMS)
        {
            return Err(StreamError::InvalidHeader(HeaderProblem::StreamPrefix));
        }
        let content_ns = self
            .scopes
            .lookup("")
            .and_then(ContentNamespace::from_uri)
            .ok_or(StreamError::InvalidHeader(HeaderProblem::ContentNamespace))?;
        let text = |name: &str| root.attribute(name).map(str::to_owned);
        let declarations = self
            .scopes
            .innermost()
            .iter()
            .filter(|(prefix, uri)| !prefix.is_empty() && uri != ns::STREAMS)
            .map(|(prefix, uri)| (prefix.to_string(), uri.to_string()))
            .collect();
        Ok(StreamHeader {
            content_ns,
            to: text("to"),
            from: text("from"),
            id: text("id"),
            version: text("version"),
            lang: root.lang().map(str::to_owned),
            declarations,
        })
    }

    fn close_element(&mut self) -> Option<Event> {
        self.scopes.close();
        let Some(done) = self.stack.pop() else {
            // The root element ended.
            return Some(Event::StreamClose);
        };
        match self.stack.last_mut() {
            Some(parent) => {
                parent.push_child(done);
                None
            }
            None => {
                self.child_elements = 0;
                Some(Event::Stanza(done))
            }
        }
    }

    fn text(&mut self, text: &str) -> Result<Option<Event>, StreamError> {
        if let Some(open) = self.stack.last_mut() {
            open.push_text(text);
            return Ok(None);
        }
        // RFC 6120 §4.6.1: whitespace between stanzas is a keepalive.
        if text
            .bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            Ok(Some(Event::Keepalive))
        } else {
            Err(StreamError::TextAtStreamLevel)
        }
    }
}

/// Namespaces in XML 1.0 §6.3: no two attributes may share a
/// (namespace, local name) pair, whatever prefixes they were written with.
fn reject_duplicate_attributes(element: &Element) -> Result<(), StreamError> {
    let attrs = element.attributes();
    let duplicate = match attrs.len() {
        0 | 1 => false,
        2..=8 => attrs.iter().enumerate().any(|(i, a)| {
            attrs
                .iter()
                .skip(i + 1)
                .any(|b| a.ns == b.ns && a.name == b.name)
        }),
        _ => {
            let mut keys: Vec<(&str, &str)> = attrs
                .iter()
                .map(|a| (a.ns.as_str(), a.name.as_str()))
                .collect();
            keys.sort_unstable();
            keys.windows(2).any(|w| w.first() == w.last())
        }
    };
    if duplicate {
        Err(StreamError::NotWellFormed(rxml::Error::DuplicateAttribute))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn inner_declarations_shadow_outer_ones_until_the_element_closes() {
        let mut s = Scopes::default();
        s.open();
        s.declare("", "jabber:client".into()).unwrap();
        s.declare("p", "urn:outer".into()).unwrap();
        s.open();
        s.declare("p", "urn:inner".into()).unwrap();
        s.declare("", String::new()).unwrap();
        assert_eq!(s.lookup("p"), Some("urn:inner"));
        assert_eq!(s.resolve(None).unwrap(), "");
        s.close();
        assert_eq!(s.lookup("p"), Some("urn:outer"));
        assert_eq!(s.resolve(None).unwrap(), "jabber:client");
        s.close();
        assert_eq!(s.lookup("p"), None);
    }

    #[test]
    fn xml_prefix_is_always_bound_and_never_stored() {
        let mut s = Scopes::default();
        s.open();
        s.declare("xml", ns::XML.into()).unwrap();
        assert!(s.decls.is_empty());
        assert_eq!(s.lookup("xml"), Some(ns::XML));
    }

    #[test]
    fn stream_header_declarations_are_kept_without_allocating() {
        let mut s = Scopes::default();
        s.open();
        s.declare("", ns::CLIENT.into()).unwrap();
        s.declare("stream", ns::STREAMS.into()).unwrap();
        s.declare("db", ns::DIALBACK.into()).unwrap();
        let borrowed: Vec<bool> = s
            .decls
            .iter()
            .map(|(p, u)| matches!((p, u), (Cow::Borrowed(_), Cow::Borrowed(_))))
            .collect();
        assert_eq!(borrowed, [true, true, false]);
        assert_eq!(s.lookup("stream"), Some(ns::STREAMS));
        assert_eq!(s.lookup("db"), Some(ns::DIALBACK));
    }

    #[test]
    fn redeclaring_a_prefix_on_one_element_is_a_duplicate_attribute() {
        let mut s = Scopes::default();
        s.open();
        s.declare("a", "urn:x".into()).unwrap();
        assert_eq!(
            s.declare("a", "urn:x".into()),
            Err(StreamError::NotWellFormed(rxml::Error::DuplicateAttribute))
        );
    }

    #[test]
    fn duplicate_detection_works_for_small_and_large_attribute_sets() {
        for n in [2, 8, 9, 100] {
            let mut e = Element::new("x", "");
            for i in 0..n {
                e.push_attribute(Attribute {
                    ns: String::new(),
                    name: format!("a{i}"),
                    value: String::new(),
                });
            }
            assert!(reject_duplicate_attributes(&e).is_ok(), "{n}");
            e.push_attribute(Attribute {
                ns: String::new(),
                name: "a0".into(),
                value: String::new(),
            });
            assert!(reject_duplicate_attributes(&e).is_err(), "{n}");
            // Same local name in another namespace is not a duplicate.
            let mut f = Element::new("x", "");
            f.push_attribute(Attribute {
                ns: "urn:a".into(),
                name: "id".into(),
                value: String::new(),
            });
            f.push_attribute(Attribute {
                ns: String::new(),
                name: "id".into(),
                value: String::new(),
            });
            assert!(reject_duplicate_attributes(&f).is_ok());
        }
    }
}
