//! Hostile inputs: each is refused with the right stream error condition, in
//! bounded memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{error_after_header, read_chunked, C2S_HEADER};
use rtc_xmlstream::{Event, Limit, Limits, Restricted, StreamError, StreamReader};

const MIB: usize = 1024 * 1024;

fn header_then(body: &[u8]) -> Vec<u8> {
    let mut v = C2S_HEADER.to_vec();
    v.extend_from_slice(body);
    v
}

#[test]
fn billion_laughs_is_refused_before_any_expansion() {
    let doc = b"<?xml version='1.0'?>
<!DOCTYPE lolz [
 <!ENTITY lol \"lol\">
 <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">
 <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">
]>
<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>&lol3;";
    for chunk in [1, 5, doc.len()] {
        let mut r = StreamReader::new(Limits::default());
        let (events, err) = read_chunked(&mut r, doc, chunk);
        assert!(events.is_empty());
        let err = err.unwrap();
        assert_eq!(
            err,
            StreamError::RestrictedXml(Restricted::DocumentTypeDeclaration)
        );
        assert_eq!(err.condition(), "restricted-xml");
    }
}

#[test]
fn doctype_without_xml_declaration_is_refused() {
    let mut r = StreamReader::new(Limits::default());
    let (_, err) = read_chunked(&mut r, b"<!DOCTYPE stream:stream><stream:stream>", 3);
    assert_eq!(
        err,
        Some(StreamError::RestrictedXml(
            Restricted::DocumentTypeDeclaration
        ))
    );
}

#[test]
fn external_entity_declaration_inside_the_stream_is_refused() {
    let err =
        error_after_header(b"<!ENTITY xxe SYSTEM 'file:///etc/passwd'><message>&xxe;</message>");
    assert_eq!(
        err,
        StreamError::RestrictedXml(Restricted::DocumentTypeDeclaration)
    );
}

#[test]
fn reference_to_an_undeclared_entity_is_restricted_xml() {
    let err = error_after_header(b"<message><body>&xxe;</body></message>");
    assert_eq!(err, StreamError::RestrictedXml(Restricted::EntityReference));
    assert_eq!(err.condition(), "restricted-xml");
}

#[test]
fn predefined_entities_and_character_references_are_accepted() {
    let mut r = StreamReader::new(Limits::default());
    let input =
        header_then(b"<message><body>&lt;&gt;&amp;&apos;&quot;&#x263A;&#65;</body></message>");
    let (events, err) = read_chunked(&mut r, &input, 2);
    assert_eq!(err, None);
    let Some(Event::Stanza(m)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(
        m.child_text("body", "jabber:client").unwrap(),
        "<>&'\"\u{263A}A"
    );
}

#[test]
fn comments_are_restricted_xml() {
    let err = error_after_header(b"<message><!-- hello --></message>");
    assert_eq!(err, StreamError::RestrictedXml(Restricted::Comment));
    let err = error_after_header(b"<!-- between stanzas -->");
    assert_eq!(err, StreamError::RestrictedXml(Restricted::Comment));
}

#[test]
fn processing_instructions_are_restricted_xml() {
    for pi in [
        &b"<?php echo 1; ?>"[..],
        b"<message><?foo bar?></message>",
        b"<?xml version='1.0'?>",
    ] {
        let err = error_after_header(pi);
        assert_eq!(
            err,
            StreamError::RestrictedXml(Restricted::ProcessingInstruction),
            "{pi:?}"
        );
    }
}

#[test]
fn undeclared_prefixes_are_not_well_formed() {
    for body in [
        &b"<foo:message/>"[..],
        b"<message foo:bar='x'/>",
        b"<message><x:y/></message>",
    ] {
        let err = error_after_header(body);
        assert!(
            matches!(err, StreamError::NotWellFormed(_)),
            "{body:?}: {err:?}"
        );
        assert_eq!(err.condition(), "not-well-formed");
    }
}

#[test]
fn attributes_resolving_to_the_same_name_are_not_well_formed() {
    let err = error_after_header(b"<message xmlns:a='urn:x' xmlns:b='urn:x' a:id='1' b:id='2'/>");
    assert_eq!(
        err,
        StreamError::NotWellFormed(rxml::Error::DuplicateAttribute)
    );
    let err = error_after_header(b"<message id='1' id='2'/>");
    assert_eq!(err.condition(), "not-well-formed");
    let err = error_after_header(b"<message xmlns:a='urn:x' xmlns:a='urn:y'/>");
    assert_eq!(err.condition(), "not-well-formed");
}

#[test]
fn binding_the_xmlns_namespace_is_not_well_formed() {
    let err = error_after_header(b"<message xmlns:a='http://www.w3.org/2000/xmlns/'/>");
    assert_eq!(err.condition(), "not-well-formed");
    let err = error_after_header(b"<message xmlns='http://www.w3.org/2000/xmlns/'/>");
    assert_eq!(err.condition(), "not-well-formed");
    let err = error_after_header(b"<xmlns:message/>");
    assert_eq!(err.condition(), "not-well-formed");
}

#[test]
fn deep_nesting_fed_incrementally_stops_at_the_depth_limit() {
    let limits = Limits {
        max_stanza_bytes_unauthenticated: usize::MAX,
        ..Limits::default()
    };
    let mut r = StreamReader::new(limits);
    r.feed(C2S_HEADER);
    assert!(matches!(r.poll_event(), Ok(Some(Event::StreamOpen(_)))));
    let mut fed = 0;
    let mut result = Ok(None);
    for _ in 0..100_000 {
        r.feed(b"<a>");
        fed += 1;
        result = r.poll_event();
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(StreamError::PolicyViolation(Limit::Depth)));
    assert_eq!(
        fed,
        limits.max_depth + 1,
        "refused as soon as the limit was crossed"
    );
    assert!(r.buffer_capacity() < 64);
}

#[test]
fn deep_nesting_in_one_piece_is_refused() {
    let limits = Limits {
        max_stanza_bytes_unauthenticated: usize::MAX,
        ..Limits::default()
    };
    let mut r = StreamReader::new(limits);
    let input = header_then(&b"<a>".repeat(100_000));
    let (_, err) = read_chunked(&mut r, &input, 4096);
    assert_eq!(err, Some(StreamError::PolicyViolation(Limit::Depth)));
}

#[test]
fn huge_attribute_value_is_a_policy_violation() {
    let mut body = b"<message to='".to_vec();
    body.extend(std::iter::repeat_n(b'a', 5000));
    body.extend_from_slice(b"'/>");
    let err = error_after_header(&body);
    assert_eq!(
        err,
        StreamError::PolicyViolation(Limit::AttributeValueBytes)
    );
    // Beyond the tokenizer's own limit the tokenizer refuses it first.
    let mut body = b"<message to='".to_vec();
    body.extend(std::iter::repeat_n(b'a', 9000));
    let err = error_after_header(&body);
    assert_eq!(err, StreamError::PolicyViolation(Limit::TokenBytes));
    assert_eq!(err.condition(), "policy-violation");
}

#[test]
fn huge_element_name_is_a_policy_violation() {
    let mut body = b"<".to_vec();
    body.extend(std::iter::repeat_n(b'n', 9000));
    assert_eq!(
        error_after_header(&body),
        StreamError::PolicyViolation(Limit::TokenBytes)
    );
}

#[test]
fn too_many_attributes_is_a_policy_violation() {
    let mut body = b"<message".to_vec();
    for i in 0..65 {
        body.extend_from_slice(format!(" a{i}=''").as_bytes());
    }
    body.extend_from_slice(b"/>");
    assert_eq!(
        error_after_header(&body),
        StreamError::PolicyViolation(Limit::Attributes)
    );
    // At the limit it is fine.
    let mut ok = b"<message".to_vec();
    for i in 0..64 {
        ok.extend_from_slice(format!(" a{i}=''").as_bytes());
    }
    ok.extend_from_slice(b"/>");
    let mut r = StreamReader::new(Limits::default());
    let (events, err) = read_chunked(&mut r, &header_then(&ok), 100);
    assert_eq!(err, None);
    assert!(matches!(&events[1], Event::Stanza(m) if m.attributes().len() == 64));
}

#[test]
fn too_many_child_elements_is_a_policy_violation() {
    let limits = Limits::default();
    let mut r = StreamReader::new(limits);
    r.set_authenticated(true);
    let mut body = b"<iq><query>".to_vec();
    for _ in 0..limits.max_child_elements {
        body.extend_from_slice(b"<i/>");
    }
    let (_, err) = read_chunked(&mut r, &header_then(&body), 1000);
    assert_eq!(
        err,
        Some(StreamError::PolicyViolation(Limit::ChildElements))
    );
}

#[test]
fn children_are_counted_per_stanza() {
    let limits = Limits {
        max_child_elements: 3,
        ..Limits::default()
    };
    let mut r = StreamReader::new(limits);
    let body = b"<iq><a/><b/><c/></iq><iq><a/><b><c/></b></iq><iq><a/><b/><c/><d/></iq>";
    let (events, err) = read_chunked(&mut r, &header_then(body), 5);
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        err,
        Some(StreamError::PolicyViolation(Limit::ChildElements))
    );
}

#[test]
fn never_ending_stanza_fed_a_mebibyte_at_a_time_is_cut_off_at_the_limit() {
    for authenticated in [false, true] {
        let limits = Limits::default();
        let mut r = StreamReader::new(limits);
        r.set_authenticated(authenticated);
        r.feed(C2S_HEADER);
        assert!(matches!(r.poll_event(), Ok(Some(Event::StreamOpen(_)))));
        r.feed(b"<message><body>");
        assert_eq!(r.poll_event(), Ok(None));
        let chunk = vec![b'x'; MIB];
        let mut fed = 0;
        let err = loop {
            r.feed(&chunk);
            fed += 1;
            assert!(r.buffer_capacity() <= limits.stanza_bytes(authenticated) + MIB);
            match r.poll_event() {
                Ok(None) => assert!(fed < 4, "never refused"),
                Ok(Some(ev)) => panic!("unexpected {ev:?}"),
                Err(e) => break e,
            }
        };
        assert_eq!(err, StreamError::PolicyViolation(Limit::StanzaBytes));
        assert_eq!(fed, 1, "the first mebibyte already crosses the limit");
        // A dead stream drops what it is fed.
        r.feed(&chunk);
        assert_eq!(r.buffered_len(), 0);
        assert!(r.buffer_capacity() < MIB);
        assert_eq!(r.poll_event(), Err(err));
    }
}

#[test]
fn never_ending_stanza_in_small_chunks_keeps_the_buffer_small() {
    let mut r = StreamReader::new(Limits::default());
    r.set_authenticated(true);
    r.feed(C2S_HEADER);
    r.poll_event().unwrap();
    r.feed(b"<message><body>");
    let chunk = [b'x'; 4096];
    let mut fed = 0;
    let err = loop {
        r.feed(&chunk);
        fed += chunk.len();
        assert!(r.buffer_capacity() <= 2 * chunk.len());
        match r.poll_event() {
            Ok(None) => assert!(fed <= 1024 * 1024, "never refused"),
            other => break other,
        }
    };
    assert_eq!(err, Err(StreamError::PolicyViolation(Limit::StanzaBytes)));
    assert!(fed > 256 * 1024 - 4096 && fed <= 256 * 1024 + 4096, "{fed}");
}

#[test]
fn never_ending_start_tag_whitespace_is_cut_off_at_the_limit() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(C2S_HEADER);
    r.poll_event().unwrap();
    r.feed(b"<message");
    let spaces = vec![b' '; MIB];
    r.feed(&spaces);
    assert_eq!(
        r.poll_event(),
        Err(StreamError::PolicyViolation(Limit::StanzaBytes))
    );
}

#[test]
fn endless_stream_header_is_cut_off_at_the_unauthenticated_limit() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(b"<stream:stream xmlns='jabber:client' to='");
    let (_, err) = read_chunked(&mut r, &vec![b'a'; MIB], 65536);
    assert!(
        matches!(err, Some(StreamError::PolicyViolation(_))),
        "{err:?}"
    );
}

#[test]
fn whitespace_keepalives_never_accumulate_towards_a_limit() {
    let mut r = StreamReader::new(Limits::default());
    r.feed(C2S_HEADER);
    r.poll_event().unwrap();
    let mut keepalives = 0;
    for _ in 0..64 {
        r.feed(&vec![b' '; 64 * 1024]);
        loop {
            match r.poll_event() {
                Ok(Some(Event::Keepalive)) => keepalives += 1,
                Ok(None) => break,
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(keepalives >= 64 * 64 * 1024 / 8192 - 1, "{keepalives}");
    r.feed(b"<presence/>");
    // The whitespace still held by the tokenizer is reported first.
    assert_eq!(r.poll_event(), Ok(Some(Event::Keepalive)));
    assert!(matches!(r.poll_event(), Ok(Some(Event::Stanza(_)))));
}

fn stanza_of_exactly(n: usize) -> Vec<u8> {
    let mut s = b"<message><body>".to_vec();
    let tail = b"</body></message>";
    s.extend(std::iter::repeat_n(b'x', n - s.len() - tail.len()));
    s.extend_from_slice(tail);
    assert_eq!(s.len(), n);
    s
}

#[test]
fn pre_auth_stanza_over_10000_bytes_is_refused_but_accepted_after_auth() {
    for (size, authenticated, accepted) in [
        (10_000, false, true),
        (10_001, false, false),
        (10_001, true, true),
        (256 * 1024, true, true),
        (256 * 1024 + 1, true, false),
    ] {
        // Whitespace before the stanza does not count against it.
        let input = header_then(&[b"\n  ".as_slice(), &stanza_of_exactly(size)].concat());
        for chunk in [1000, input.len()] {
            let mut r2 = StreamReader::new(Limits::default());
            r2.set_authenticated(authenticated);
            let (events, err) = read_chunked(&mut r2, &input, chunk);
            if accepted {
                assert_eq!(err, None, "{size} auth={authenticated}");
                assert!(matches!(events.last(), Some(Event::Stanza(_))));
            } else {
                assert_eq!(
                    err,
                    Some(StreamError::PolicyViolation(Limit::StanzaBytes)),
                    "{size}"
                );
            }
        }
    }
}

#[test]
fn authentication_raises_the_limit_for_the_stanza_in_progress() {
    let mut r = StreamReader::new(Limits::default());
    let input = header_then(&stanza_of_exactly(20_000));
    r.feed(&input[..C2S_HEADER.len() + 5000]);
    assert!(matches!(r.poll_event(), Ok(Some(Event::StreamOpen(_)))));
    assert_eq!(r.poll_event(), Ok(None));
    r.set_authenticated(true);
    r.feed(&input[C2S_HEADER.len() + 5000..]);
    assert!(matches!(r.poll_event(), Ok(Some(Event::Stanza(_)))));
}

#[test]
fn random_binary_garbage_is_not_well_formed() {
    let err = error_after_header(b"<message>\x00\x01\x02</message>");
    assert_eq!(err.condition(), "not-well-formed");
    let err = error_after_header(b"<message>\xff\xfe</message>");
    assert_eq!(err.condition(), "not-well-formed");
}

#[test]
fn non_utf8_encoding_declaration_is_unsupported_encoding() {
    let mut r = StreamReader::new(Limits::default());
    let (_, err) = read_chunked(
        &mut r,
        b"<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>",
        4,
    );
    assert_eq!(err, Some(StreamError::UnsupportedEncoding));
    assert_eq!(err.unwrap().condition(), "unsupported-encoding");
}

#[test]
fn text_at_stream_level_is_bad_format() {
    let err = error_after_header(b"  hello <presence/>");
    assert_eq!(err, StreamError::TextAtStreamLevel);
    assert_eq!(err.condition(), "bad-format");
}

#[test]
fn mismatched_end_tag_is_not_well_formed() {
    let err = error_after_header(b"<message><body></message>");
    assert_eq!(err.condition(), "not-well-formed");
}
