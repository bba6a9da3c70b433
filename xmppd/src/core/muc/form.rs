//! Data forms (XEP-0004) as MUC configuration and MAM queries use them:
//! building `form`/`result` forms and reading submitted values.

use std::collections::HashMap;

use rtc_xmlstream::Element;

/// XEP-0004 namespace.
pub(crate) const NS_DATA: &str = "jabber:x:data";
/// Fields and values read from one submitted form at most.
const MAX_FIELDS: usize = 64;
const MAX_VALUES: usize = 256;

/// A form being built.
#[derive(Debug, Clone)]
pub(crate) struct Form(Element);

impl Form {
    fn with_type(kind: &str, form_type: &str) -> Self {
        let hidden = Element::new("field", NS_DATA)
            .attr("var", "FORM_TYPE")
            .attr("type", "hidden")
            .child(Element::new("value", NS_DATA).text(form_type));
        Self(Element::new("x", NS_DATA).attr("type", kind).child(hidden))
    }

    /// `<x type='form'/>` (XEP-0004 §3.1).
    pub(crate) fn to_fill(form_type: &str, title: &str) -> Self {
        let mut f = Self::with_type("form", form_type);
        f.0.push_child(Element::new("title", NS_DATA).text(title));
        f
    }

    /// `<x type='result'/>`.
    pub(crate) fn result(form_type: &str) -> Self {
        Self::with_type("result", form_type)
    }

    /// A field with values and no type.
    pub(crate) fn field(self, var: &str, values: &[&str]) -> Self {
        self.typed(var, None, "", values)
    }

    /// A field with a type and a label.
    pub(crate) fn typed(
        mut self,
        var: &str,
        kind: Option<&str>,
        label: &str,
        values: &[&str],
    ) -> Self {
        let mut field = Element::new("field", NS_DATA).attr("var", var);
        if let Some(k) = kind {
            field.set_attr("type", k);
        }
        if !label.is_empty() {
            field.set_attr("label", label);
        }
        for v in values {
            field.push_child(Element::new("value", NS_DATA).text(v));
        }
        self.0.push_child(field);
        self
    }

    /// A boolean field.
    pub(crate) fn boolean(self, var: &str, label: &str, value: bool) -> Self {
        self.typed(
            var,
            Some("boolean"),
            label,
            &[if value { "1" } else { "0" }],
        )
    }

    pub(crate) fn into_element(self) -> Element {
        self.0
    }
}

/// The values of a submitted form, by field name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Submitted {
    /// `type` of the form (`submit`, `cancel`...).
    pub(crate) kind: String,
    pub(crate) values: HashMap<String, Vec<String>>,
}

impl Submitted {
    /// Read `<x xmlns='jabber:x:data'/>`; extra fields and values beyond
    /// the limits are ignored.
    pub(crate) fn parse(x: &Element) -> Self {
        let mut values = HashMap::new();
        for f in x.find_children("field", NS_DATA).take(MAX_FIELDS) {
            let Some(var) = f.attribute("var") else {
                continue;
            };
            let v: Vec<String> = f
                .find_children("value", NS_DATA)
                .take(MAX_VALUES)
                .map(|v| v.text_content().into_owned())
                .collect();
            values.insert(var.to_owned(), v);
        }
        Self {
            kind: x.attribute("type").unwrap_or_default().to_owned(),
            values,
        }
    }

    /// The first value of a field.
    pub(crate) fn text(&self, var: &str) -> Option<&str> {
        self.values
            .get(var)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// A boolean field (XEP-0004 §3.3: `1`/`true`), `None` when absent or malformed.
    pub(crate) fn flag(&self, var: &str) -> Option<bool> {
        match self.text(var)? {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submitted_values_are_read_by_field_name() {
        let x = Form::to_fill("urn:x", "t")
            .boolean("a", "A", true)
            .field("b", &["one", "two"])
            .into_element();
        let s = Submitted::parse(&x);
        assert_eq!(s.kind, "form");
        assert_eq!(s.flag("a"), Some(true));
        assert_eq!(s.text("b"), Some("one"));
        assert_eq!(s.text("FORM_TYPE"), Some("urn:x"));
        assert_eq!(s.flag("missing"), None);
    }
}
