//! Real-world sample streams (tests/data/*.xml) read in many chunkings must
//! yield the events listed in the matching .events file.
//!
//! Events file format: one event per line (`open`, `stanza`, `keepalive`,
//! `close`), `#` comments, and directives run right after the preceding
//! event: `! authenticated` (set_authenticated), `! reset` (stream restart),
//! `! tls` (STARTTLS: nothing may be pending in plaintext, then restart).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rtc_xmlstream::{Event, Limits, StreamReader};

const SAMPLES: &[(&str, &[u8], &str)] = &[
    (
        "c2s-starttls",
        include_bytes!("data/c2s-starttls.xml"),
        include_str!("data/c2s-starttls.events"),
    ),
    (
        "c2s-after-tls",
        include_bytes!("data/c2s-after-tls.xml"),
        include_str!("data/c2s-after-tls.events"),
    ),
    (
        "s2c-session",
        include_bytes!("data/s2c-session.xml"),
        include_str!("data/s2c-session.events"),
    ),
    (
        "s2s-dialback",
        include_bytes!("data/s2s-dialback.xml"),
        include_str!("data/s2s-dialback.events"),
    ),
    (
        "component",
        include_bytes!("data/component.xml"),
        include_str!("data/component.events"),
    ),
];

/// One line per event, in the events-file syntax.
fn summary(ev: &Event) -> String {
    match ev {
        Event::StreamOpen(h) => {
            let mut s = format!("open {}", h.content_ns.as_str());
            for (k, v) in [
                ("to", &h.to),
                ("from", &h.from),
                ("id", &h.id),
                ("version", &h.version),
                ("lang", &h.lang),
            ] {
                if let Some(v) = v {
                    s += &format!(" {k}={v}");
                }
            }
            for (p, uri) in &h.declarations {
                s += &format!(" decl:{p}={uri}");
            }
            s
        }
        Event::Stanza(e) => {
            let mut s = format!("stanza {{{}}}{}", e.ns(), e.name());
            for a in e.attributes().iter().filter(|a| a.ns.is_empty()) {
                s += &format!(" {}={}", a.name, a.value);
            }
            let children: Vec<String> = e
                .children()
                .map(|c| format!("{{{}}}{}", c.ns(), c.name()))
                .collect();
            if !children.is_empty() {
                s += &format!(" > {}", children.join(" "));
            }
            s
        }
        Event::Keepalive => "keepalive".into(),
        Event::StreamClose => "close".into(),
    }
}

enum Step {
    Event(String),
    Directive(String),
}

fn script(events: &str) -> Vec<Step> {
    events
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix("! ") {
            Some(d) => Step::Directive(d.to_owned()),
            None => Step::Event(l.to_owned()),
        })
        .collect()
}

/// Run one sample with the given chunk size; returns the event lines seen.
fn run(name: &str, input: &[u8], steps: &[Step], chunk: usize) -> Vec<String> {
    let mut reader = StreamReader::new(Limits::default());
    let mut seen: Vec<String> = Vec::new();
    // Directives that follow each expected event, keyed by event index.
    let mut directives: Vec<Vec<&str>> = Vec::new();
    for step in steps {
        match step {
            Step::Event(_) => directives.push(Vec::new()),
            Step::Directive(d) => directives
                .last_mut()
                .expect("directive before any event")
                .push(d),
        }
    }
    let mut index = 0;
    for piece in input.chunks(chunk) {
        reader.feed(piece);
        loop {
            let ev = match reader.poll_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(e) => panic!("{name} (chunk {chunk}): {e} after {seen:#?}"),
            };
            let line = summary(&ev);
            // Whitespace may arrive as several keepalives depending on chunking.
            if line == "keepalive" && seen.last().map(String::as_str) == Some("keepalive") {
                continue;
            }
            seen.push(line);
            for d in directives.get(index).map(Vec::as_slice).unwrap_or_default() {
                match *d {
                    "authenticated" => reader.set_authenticated(true),
                    "reset" => reader.reset(),
                    "tls" => {
                        assert!(
                            reader.take_unparsed().is_empty(),
                            "{name}: plaintext after STARTTLS"
                        );
                        reader.reset();
                    }
                    other => panic!("unknown directive {other}"),
                }
            }
            index += 1;
        }
    }
    seen
}

#[test]
fn sample_streams_yield_the_expected_events_in_any_chunking() {
    for (name, input, events) in SAMPLES {
        let steps = script(events);
        let expected: Vec<&str> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Event(e) => Some(e.as_str()),
                Step::Directive(_) => None,
            })
            .collect();
        for chunk in [input.len(), 1, 2, 3, 7, 64, 509] {
            let seen = run(name, input, &steps, chunk);
            assert_eq!(seen, expected, "{name} in chunks of {chunk}");
        }
    }
}

#[test]
fn message_content_survives_entities_cdata_and_mixed_content() {
    let (_, input, _) = SAMPLES[1];
    let mut reader = StreamReader::new(Limits::default());
    reader.feed(input);
    let mut message = None;
    while let Some(ev) = reader.poll_event().unwrap() {
        match ev {
            Event::Stanza(e) if e.name() == "response" => {
                reader.set_authenticated(true);
                reader.reset();
            }
            Event::Stanza(e) if e.name() == "message" => message = Some(e),
            _ => {}
        }
    }
    let m = message.expect("message stanza");
    assert_eq!(m.lang(), Some("en"));
    assert_eq!(
        m.child_text("body", "jabber:client").unwrap(),
        "Neither, fair saint, if either thee dislike & <3"
    );
    let p = m
        .find_child("html", "http://jabber.org/protocol/xhtml-im")
        .and_then(|h| h.find_child("body", "http://www.w3.org/1999/xhtml"))
        .and_then(|b| b.find_child("p", "http://www.w3.org/1999/xhtml"))
        .unwrap();
    assert_eq!(p.text_content(), "Neither,  saint <3 ");
    assert_eq!(
        p.child_text("em", "http://www.w3.org/1999/xhtml").unwrap(),
        "fair"
    );
}

#[test]
fn pipelined_restart_without_reset_is_refused() {
    // Without the restart the second XML declaration is a processing
    // instruction inside the old stream.
    let (_, input, _) = SAMPLES[1];
    let mut reader = StreamReader::new(Limits::default());
    reader.feed(input);
    let err = loop {
        match reader.poll_event() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("accepted a second stream header without reset"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.condition(), "restricted-xml");
}

#[test]
fn starttls_with_pipelined_plaintext_leaves_it_for_the_tls_layer() {
    let (_, input, _) = SAMPLES[0];
    let mut reader = StreamReader::new(Limits::default());
    reader.feed(input);
    reader.feed(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    let mut saw_starttls = false;
    while let Some(ev) = reader.poll_event().unwrap() {
        if matches!(&ev, Event::Stanza(e) if e.name() == "starttls") {
            saw_starttls = true;
            break;
        }
    }
    assert!(saw_starttls);
    assert_eq!(
        reader.take_unparsed(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
    );
    reader.reset();
    assert_eq!(reader.poll_event(), Ok(None));
}
