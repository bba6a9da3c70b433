//! Reader scenarios: stream headers, namespaces, closing and restarting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{read_all, read_chunked, C2S_HEADER};
use rtc_xmlstream::{
    ns, ContentNamespace, Event, HeaderProblem, Limits, StreamError, StreamReader,
};

fn header_error(header: &[u8]) -> StreamError {
    let mut r = StreamReader::new(Limits::default());
    read_chunked(&mut r, header, 3)
        .1
        .expect("header must be refused")
}

#[test]
fn header_in_wrong_namespace_is_invalid_namespace() {
    let e = header_error(b"<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>");
    assert_eq!(
        e,
        StreamError::InvalidHeader(HeaderProblem::StreamNamespace)
    );
    assert_eq!(e.condition(), "invalid-namespace");
}

#[test]
fn unknown_or_missing_content_namespace_is_invalid_namespace() {
    for h in [
        &b"<stream:stream xmlns='jabber:iq:roster' xmlns:stream='http://etherx.jabber.org/streams'>"[..],
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
    ] {
        let e = header_error(h);
        assert_eq!(e, StreamError::InvalidHeader(HeaderProblem::ContentNamespace));
        assert_eq!(e.condition(), "invalid-namespace");
    }
}

#[test]
fn unprefixed_stream_element_is_bad_namespace_prefix() {
    let e = header_error(b"<stream xmlns='http://etherx.jabber.org/streams'>");
    assert_eq!(e, StreamError::InvalidHeader(HeaderProblem::StreamPrefix));
    assert_eq!(e.condition(), "bad-namespace-prefix");
    let e = header_error(
        b"<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' xmlns:stream='urn:x'>",
    );
    assert_eq!(e.condition(), "bad-namespace-prefix");
}

#[test]
fn root_element_other_than_stream_is_bad_format() {
    let e = header_error(
        b"<stream:open xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    assert_eq!(e, StreamError::InvalidHeader(HeaderProblem::StreamName));
    assert_eq!(e.condition(), "bad-format");
}

#[test]
fn any_prefix_may_name_the_stream_element() {
    let mut r = StreamReader::new(Limits::default());
    let (events, err) = read_all(
        &mut r,
        b"<s:stream xmlns='jabber:server' xmlns:s='http://etherx.jabber.org/streams'><s:features/></s:stream>",
    );
    assert_eq!(err, None);
    assert!(matches!(&events[0], Event::StreamOpen(h) if h.content_ns == ContentNamespace::Server));
    assert!(matches!(&events[1], Event::Stanza(f) if f.is("features", ns::STREAMS)));
    assert_eq!(events[2], Event::StreamClose);
}

#[test]
fn header_attributes_and_unknown_attributes() {
    let mut r = StreamReader::new(Limits::default());
    let (events, err) = read_all(
        &mut r,
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
          id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' from='im.example.com' to='juliet@im.example.com' \
          version='1.0' xml:lang='en' future='ignored'>",
    );
    assert_eq!(err, None);
    let Event::StreamOpen(h) = &events[0] else {
        panic!()
    };
    assert_eq!(h.id.as_deref(), Some("++TR84Sm6A3hnt3Q065SnAbbk3Y="));
    assert_eq!(h.from.as_deref(), Some("im.example.com"));
    assert_eq!(h.to.as_deref(), Some("juliet@im.example.com"));
    assert_eq!(h.version.as_deref(), Some("1.0"));
    assert_eq!(h.lang.as_deref(), Some("en"));
    assert!(h.declarations.is_empty());
}

#[test]
fn prefixes_declared_on_the_header_apply_to_stanzas() {
    let mut r = StreamReader::new(Limits::default());
    let (events, err) = read_all(
        &mut r,
        b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' \
          xmlns:db='jabber:server:dialback'><db:verify id='x' db:extra='1'/>",
    );
    assert_eq!(err, None);
    let Event::Stanza(v) = &events[1] else {
        panic!("{events:?}")
    };
    assert!(v.is("verify", ns::DIALBACK));
    assert_eq!(v.attribute("id"), Some("x"));
    assert_eq!(v.attribute_ns(ns::DIALBACK, "extra"), Some("1"));
}

#[test]
fn unprefixed_attributes_have_no_namespace_and_default_can_be_undeclared() {
    let mut r = StreamReader::new(Limits::default());
    let mut input = C2S_HEADER.to_vec();
    input.extend_from_slice(
        b"<iq type='get'><query xmlns='jabber:iq:version'><x xmlns=''/></query></iq>",
    );
    let (events, err) = read_all(&mut r, &input);
    assert_eq!(err, None);
    let Event::Stanza(iq) = &events[1] else {
        panic!()
    };
    assert_eq!(iq.attributes()[0].ns, "");
    let q = iq.find_child("query", "jabber:iq:version").unwrap();
    assert!(q.find_child("x", "").is_some());
}

#[test]
fn stream_close_ends_reading() {
    let mut r = StreamReader::new(Limits::default());
    let mut input = C2S_HEADER.to_vec();
    input.extend_from_slice(b"<presence/></stream:stream><presence/>garbage");
    let (events, err) = read_all(&mut r, &input);
    assert_eq!(err, None);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2], Event::StreamClose);
    r.feed(b"<more/>");
    assert_eq!(r.poll_event(), Ok(None));
    assert_eq!(r.buffered_len(), 0);
}

#[test]
fn errors_are_sticky_until_reset() {
    let mut r = StreamReader::new(Limits::default());
    let (_, err) = read_all(
        &mut r,
        b"<stream:stream xmlns='jabber:client' xmlns:stream='urn:bad'>",
    );
    let err = err.unwrap();
    assert_eq!(r.poll_event(), Err(err));
    r.feed(C2S_HEADER);
    assert_eq!(r.poll_event(), Err(err));
}

#[test]
fn reset_starts_a_fresh_stream_and_keeps_authentication() {
    let mut r = StreamReader::new(Limits::default());
    r.set_authenticated(true);
    r.feed(C2S_HEADER);
    assert!(matches!(r.poll_event(), Ok(Some(Event::StreamOpen(_)))));
    r.feed(b"<message><body>half");
    assert_eq!(r.poll_event(), Ok(None));
    r.reset();
    assert!(r.is_authenticated());
    // The half-read stanza is gone; a new header (with declaration) is expected.
    let (events, err) = read_chunked(&mut r, C2S_HEADER, 1);
    assert_eq!(err, None);
    assert!(matches!(events.as_slice(), [Event::StreamOpen(_)]));
}

#[test]
fn keepalive_is_reported_between_stanzas() {
    let mut r = StreamReader::new(Limits::default());
    let mut input = C2S_HEADER.to_vec();
    input.extend_from_slice(b" <presence/>\n\t\r\n <presence/> ");
    let (events, err) = read_all(&mut r, &input);
    assert_eq!(err, None);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::StreamOpen(_) => "open",
            Event::Stanza(_) => "stanza",
            Event::Keepalive => "keepalive",
            Event::StreamClose => "close",
        })
        .collect();
    assert_eq!(
        kinds,
        ["open", "keepalive", "stanza", "keepalive", "stanza"]
    );
    // The trailing space is reported once more input shows where it ends.
    r.feed(b"<presence/>");
    assert_eq!(r.poll_event(), Ok(Some(Event::Keepalive)));
}

#[test]
fn whitespace_inside_stanzas_is_kept_as_text() {
    let mut r = StreamReader::new(Limits::default());
    let mut input = C2S_HEADER.to_vec();
    input.extend_from_slice(b"<message>\n  <body> a  b </body>\n</message>");
    let (events, _) = read_all(&mut r, &input);
    let Event::Stanza(m) = &events[1] else {
        panic!()
    };
    assert_eq!(m.nodes().len(), 3);
    assert_eq!(m.text_content(), "\n  \n");
    assert_eq!(m.child_text("body", "jabber:client").unwrap(), " a  b ");
}
