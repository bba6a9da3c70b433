//! A small owned element tree for stanzas, with a builder and lookup helpers.

use std::borrow::Cow;

use crate::ns;

/// One attribute of an [`Element`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Namespace name; empty for an unprefixed attribute (which has no
    /// namespace, whatever the element's default namespace is).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Value, with entities expanded.
    pub value: String,
}

/// A child of an [`Element`]: an element or a piece of character data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data, with entities expanded and CDATA sections unwrapped.
    Text(String),
}

/// An XML element with resolved namespaces: what the reader produces for
/// each stanza and what the writer serialises.
///
/// Text is kept in document order between child elements (mixed content,
/// as in XHTML-IM). Adjacent text is always merged into one [`Node::Text`]
/// and empty text is never stored, so two trees that serialise to the same
/// XML compare equal.
///
/// ```
/// use rtc_xmlstream::Element;
/// let msg = Element::new("message", "jabber:client")
///     .attr("to", "juliet@example.com")
///     .attr("type", "chat")
///     .child(Element::new("body", "jabber:client").text("Art thou not Romeo?"));
/// assert_eq!(msg.attribute("type"), Some("chat"));
/// let body = msg.find_child("body", "jabber:client").map(|b| b.text_content());
/// assert_eq!(body.as_deref(), Some("Art thou not Romeo?"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    ns: String,
    attrs: Vec<Attribute>,
    nodes: Vec<Node>,
}

impl Element {
    /// An empty element `name` in namespace `ns` (empty for no namespace).
    pub fn new(name: impl Into<String>, ns: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ns: ns.into(),
            attrs: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// Builder: set the unqualified attribute `name` (replacing any value).
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_attr_ns("", name, value);
        self
    }

    /// Builder: set the attribute `name` in namespace `ns` (replacing any value).
    pub fn attr_ns(
        mut self,
        ns: impl Into<String>,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.set_attr_ns(ns, name, value);
        self
    }

    /// Builder: append a child element.
    pub fn child(mut self, child: Element) -> Self {
        self.push_child(child);
        self
    }

    /// Builder: append character data.
    pub fn text(mut self, text: impl AsRef<str>) -> Self {
        self.push_text(text.as_ref());
        self
    }

    /// Set the unqualified attribute `name`, replacing any existing value.
    pub fn set_attr(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.set_attr_ns("", name, value);
    }

    /// Set the attribute `name` in namespace `ns`, replacing any existing value.
    pub fn set_attr_ns(
        &mut self,
        ns: impl Into<String>,
        name: impl Into<String>,
        value: impl Into<String>,
    ) {
        let (ns, name, value) = (ns.into(), name.into(), value.into());
        match self.attrs.iter_mut().find(|a| a.ns == ns && a.name == name) {
            Some(existing) => existing.value = value,
            None => self.attrs.push(Attribute { ns, name, value }),
        }
    }

    /// Append an attribute without looking for an existing one (the reader
    /// checks for duplicates itself, in O(n log n)).
    pub(crate) fn push_attribute(&mut self, attr: Attribute) {
        self.attrs.push(attr);
    }

    /// Remove the unqualified attribute `name`, returning its value.
    pub fn remove_attr(&mut self, name: &str) -> Option<String> {
        let at = self
            .attrs
            .iter()
            .position(|a| a.ns.is_empty() && a.name == name)?;
        Some(self.attrs.remove(at).value)
    }

    /// Append a child element.
    pub fn push_child(&mut self, child: Element) {
        self.nodes.push(Node::Element(child));
    }

    /// Append character data, merging it with preceding text.
    pub fn push_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.nodes.last_mut() {
            Some(Node::Text(last)) => last.push_str(text),
            _ => self.nodes.push(Node::Text(text.to_owned())),
        }
    }

    /// Local name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Namespace name (empty for no namespace).
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// Whether this element is `name` in namespace `ns`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// Value of the unqualified attribute `name` (such as `to`, `type`, `id`).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attribute_ns("", name)
    }

    /// Value of the attribute `name` in namespace `ns`.
    pub fn attribute_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == ns && a.name == name)
            .map(|a| a.value.as_str())
    }

    /// The `xml:lang` attribute of this element itself (not inherited).
    pub fn lang(&self) -> Option<&str> {
        self.attribute_ns(ns::XML, "lang")
    }

    /// All attributes, in document order.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attrs
    }

    /// All children (elements and text), in document order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Consume the element, returning its children.
    pub fn into_nodes(self) -> Vec<Node> {
        self.nodes
    }

    /// Child elements, in document order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// First child element `name` in namespace `ns`.
    pub fn find_child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children().find(|c| c.is(name, ns))
    }

    /// First child element `name` in namespace `ns`, mutably.
    pub fn find_child_mut(&mut self, name: &str, ns: &str) -> Option<&mut Element> {
        self.nodes.iter_mut().find_map(|n| match n {
            Node::Element(e) if e.is(name, ns) => Some(e),
            _ => None,
        })
    }

    /// All child elements `name` in namespace `ns`.
    pub fn find_children<'a>(
        &'a self,
        name: &'a str,
        ns: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children().filter(move |c| c.is(name, ns))
    }

    /// The character data directly inside this element (not inside
    /// children), concatenated. Borrowed when there is at most one text node.
    pub fn text_content(&self) -> Cow<'_, str> {
        let mut texts = self.nodes.iter().filter_map(|n| match n {
            Node::Text(t) => Some(t.as_str()),
            Node::Element(_) => None,
        });
        let Some(first) = texts.next() else {
            return Cow::Borrowed("");
        };
        match texts.next() {
            None => Cow::Borrowed(first),
            Some(second) => {
                let mut all = String::from(first);
                all.push_str(second);
                texts.for_each(|t| all.push_str(t));
                Cow::Owned(all)
            }
        }
    }

    /// Text content of the first child `name` in namespace `ns`, e.g. a
    /// message `<body/>`.
    pub fn child_text(&self, name: &str, ns: &str) -> Option<Cow<'_, str>> {
        self.find_child(name, ns).map(Element::text_content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_text_is_merged_and_empty_text_dropped() {
        let e = Element::new("body", "jabber:client")
            .text("a")
            .text("")
            .text("b");
        assert_eq!(e.nodes(), &[Node::Text("ab".into())]);
    }

    #[test]
    fn setting_an_attribute_twice_replaces_it() {
        let e = Element::new("iq", "jabber:client")
            .attr("type", "get")
            .attr("type", "set");
        assert_eq!(e.attributes().len(), 1);
        assert_eq!(e.attribute("type"), Some("set"));
    }

    #[test]
    fn namespaced_attributes_do_not_shadow_plain_ones() {
        let e = Element::new("message", "jabber:client")
            .attr("lang", "plain")
            .attr_ns(ns::XML, "lang", "en");
        assert_eq!(e.attribute("lang"), Some("plain"));
        assert_eq!(e.lang(), Some("en"));
    }

    #[test]
    fn children_are_found_by_name_and_namespace() {
        let e = Element::new("iq", "jabber:client")
            .child(Element::new("query", "jabber:iq:roster"))
            .child(Element::new("query", "jabber:iq:version"));
        assert!(e.find_child("query", "jabber:iq:version").is_some());
        assert!(e.find_child("query", "jabber:client").is_none());
        assert_eq!(e.find_children("query", "jabber:iq:roster").count(), 1);
    }

    #[test]
    fn text_content_ignores_text_inside_children() {
        let e = Element::new("body", "")
            .text("Hello ")
            .child(Element::new("b", "").text("big"))
            .text("world");
        assert_eq!(e.text_content(), "Hello world");
        assert_eq!(Element::new("x", "").text_content(), "");
    }
}
