//! Property tests: writer output read back in random chunkings gives the
//! same trees; arbitrary bytes never panic; the fuzz target body holds on
//! generated input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::collection::vec;
use proptest::prelude::*;
use rtc_xmlstream::{
    fuzzing, ns, write_stanza, write_stream_close, write_stream_open, ContentNamespace, Element,
    Event, Limits, StreamHeader, StreamReader,
};

fn xml_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec!['&', '<', '>', '\'', '"', ']', '\r', '\n', '\t', ' ', ';', '#']),
        3 => proptest::char::range('a', 'z'),
        2 => any::<char>().prop_filter("XML 1.0 Char", |&c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
        }),
    ]
}

fn xml_string(max: usize) -> impl Strategy<Value = String> {
    vec(xml_char(), 0..max).prop_map(|cs| cs.into_iter().collect())
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_\u{c0}-\u{d6}\u{4e00}-\u{4e10}][a-zA-Z0-9_.\u{b7}\u{4e00}-\u{4e10}-]{0,6}"
}

/// Namespaces for elements: plain, awkward to escape, the stream and xml ones.
fn element_ns() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "jabber:client",
        "jabber:server",
        "urn:a",
        "urn:b?x='1'&y=\"<2>\"",
        ns::STREAMS,
        ns::XML,
        ns::SASL,
    ])
    .prop_map(str::to_owned)
}

fn attr_ns() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "", "", "urn:a", "urn:c&d", ns::XML, ns::STREAMS])
        .prop_map(str::to_owned)
}

fn attributes() -> impl Strategy<Value = Vec<(String, String, String)>> {
    vec((attr_ns(), name(), xml_string(12)), 0..4).prop_map(|v| {
        v.into_iter()
            .filter(|(ns, n, _)| !(ns.is_empty() && n == "xmlns"))
            .collect()
    })
}

fn leaf() -> impl Strategy<Value = Element> {
    (name(), element_ns(), attributes()).prop_map(|(n, ns, attrs)| {
        attrs
            .into_iter()
            .fold(Element::new(n, ns), |e, (ans, an, av)| {
                e.attr_ns(ans, an, av)
            })
    })
}

fn tree() -> impl Strategy<Value = Element> {
    leaf().prop_recursive(5, 40, 5, |inner| {
        (
            leaf(),
            vec(
                prop_oneof![inner.prop_map(Ok), xml_string(10).prop_map(Err)],
                0..5,
            ),
        )
            .prop_map(|(mut e, nodes)| {
                for node in nodes {
                    match node {
                        Ok(child) => e.push_child(child),
                        Err(text) => e.push_text(&text),
                    }
                }
                e
            })
    })
}

fn header() -> impl Strategy<Value = StreamHeader> {
    (
        prop::sample::select(vec![
            ContentNamespace::Client,
            ContentNamespace::Server,
            ContentNamespace::ComponentAccept,
        ]),
        proptest::option::of(xml_string(10)),
        proptest::option::of(xml_string(10)),
        proptest::option::of("[a-zA-Z0-9+/=]{1,12}"),
        proptest::bool::ANY,
    )
        .prop_map(|(content_ns, to, from, id, dialback)| {
            let mut h = StreamHeader::new(content_ns);
            h.to = to;
            h.from = from;
            h.id = id;
            h.lang = Some("en".into());
            if dialback {
                h.declarations.push(("db".into(), ns::DIALBACK.into()));
            }
            h
        })
}

/// Feed `bytes` with chunk sizes taken cyclically from `chunks`.
fn read_in_chunks(bytes: &[u8], chunks: &[usize]) -> Vec<Event> {
    let mut r = StreamReader::new(Limits::default());
    r.set_authenticated(true);
    let mut events = Vec::new();
    let mut rest = bytes;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        r.feed(piece);
        while let Some(ev) = r
            .poll_event()
            .unwrap_or_else(|e| panic!("{e} reading {}", String::from_utf8_lossy(bytes)))
        {
            events.push(ev);
        }
        assert!(r.buffer_capacity() <= bytes.len().max(64));
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn written_trees_read_back_identically_in_any_chunking(
        h in header(),
        stanzas in vec(tree(), 1..4),
        chunks in vec(1usize..48, 1..8),
    ) {
        let mut bytes = Vec::new();
        write_stream_open(&mut bytes, &h).unwrap();
        for s in &stanzas {
            write_stanza(&mut bytes, s, h.content_ns).unwrap();
        }
        write_stream_close(&mut bytes);
        let events = read_in_chunks(&bytes, &chunks);
        let mut expected = vec![Event::StreamOpen(h)];
        expected.extend(stanzas.into_iter().map(Event::Stanza));
        expected.push(Event::StreamClose);
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn standalone_fragments_read_back_inside_any_stream(e in tree()) {
        let bytes = e.to_bytes().unwrap();
        let mut doc = b"<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams'>".to_vec();
        doc.extend_from_slice(&bytes);
        let events = read_in_chunks(&doc, &[7]);
        prop_assert_eq!(events.get(1), Some(&Event::Stanza(e)));
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..1024), chunk in 1usize..64) {
        let mut r = StreamReader::new(Limits::default());
        for piece in bytes.chunks(chunk) {
            r.feed(piece);
            while let Ok(Some(_)) = r.poll_event() {}
        }
    }

    #[test]
    fn random_markup_after_a_header_never_panics_and_roundtrips(
        control in any::<u8>(),
        soup in vec(markup_token(), 0..64),
    ) {
        let mut data = vec![control];
        data.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' xmlns:p='urn:p'>");
        for t in soup {
            data.extend_from_slice(t.as_bytes());
        }
        fuzzing::stream_roundtrip(&data);
    }

    #[test]
    fn fuzz_body_holds_on_valid_streams(control in any::<u8>(), h in header(), s in tree()) {
        let mut data = vec![control];
        write_stream_open(&mut data, &h).unwrap();
        write_stanza(&mut data, &s, h.content_ns).unwrap();
        write_stream_close(&mut data);
        fuzzing::stream_roundtrip(&data);
    }
}

/// Fragments that combine into plausible and implausible XML.
fn markup_token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "<message>",
            "</message>",
            "<body>",
            "</body>",
            "<a/>",
            "<p:x>",
            "</p:x>",
            "<q:y/>",
            " xmlns='urn:x'",
            " xmlns=''",
            " xmlns:p='urn:p2'",
            " id='1'",
            " p:id='2'",
            " xml:lang='en'",
            ">",
            "/>",
            "&amp;",
            "&lt;",
            "&#13;",
            "&#x10FFFF;",
            "&#0;",
            "&bogus;",
            "<![CDATA[",
            "]]>",
            "<!--",
            "-->",
            "<?pi?>",
            "<!DOCTYPE",
            " ",
            "\n",
            "\r\n",
            "</stream:stream>",
            "<stream:features>",
            "</stream:features>",
            "<iq type='get'>",
            "</iq>",
            "'",
            "\"",
            "=",
        ])
        .prop_map(str::to_owned),
        xml_string(6),
        name(),
    ]
}

#[test]
fn fuzz_body_exercises_the_stanza_roundtrip() {
    // A stanza the writer cannot express identically must be caught.
    let mut data = vec![0x05];
    data.extend_from_slice(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\
          <message xmlns:a='urn:a' a:x='1' xml:lang='de'><body>&lt;&#13;</body></message>",
    );
    fuzzing::stream_roundtrip(&data);
    // ...and it does not swallow panics from the comparison.
    let caught = std::panic::catch_unwind(|| {
        fuzzing::stream_roundtrip(&[0x00, b'<']);
    });
    assert!(caught.is_ok(), "incomplete input is not a finding");
}
