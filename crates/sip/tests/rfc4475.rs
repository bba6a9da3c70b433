//! RFC 4475 torture messages, as data: each file maps to the outcome the RFC
//! says a parser or proxy should reach, with a one-line reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use rtc_sip::uri::percent_decode;
use rtc_sip::{
    Contact, Credentials, Disposition, Editor, Error, HeaderName, Host, Limits, Message, Method,
    ParseFailure, Rport, Transport, Uri,
};

/// What the RFC expects.
enum Expect {
    /// Parses and validates; the function asserts tricky field values.
    Accept(fn(&Message<'_>)),
    /// Refused with this error; answered with this status.
    Reply(Error, u16),
    /// Refused with this error; nothing is sent (responses).
    Drop(Error),
}
use Expect::{Accept, Drop, Reply};

struct Case {
    file: &'static str,
    data: &'static [u8],
    expect: Expect,
    reason: &'static str,
}

macro_rules! case {
    ($file:literal, $expect:expr, $reason:literal) => {
        Case {
            file: $file,
            data: include_bytes!(concat!("data/rfc4475/", $file, ".dat")),
            expect: $expect,
            reason: $reason,
        }
    };
}

fn sip_uri<'a>(u: Uri<'a>) -> rtc_sip::SipUri<'a> {
    *u.as_sip().expect("a SIP URI")
}

fn contact_addrs<'a>(m: &Message<'a>) -> Vec<rtc_sip::NameAddr<'a>> {
    m.contacts()
        .map(|c| match c.expect("valid contact") {
            Contact::Addr(a) => a,
            Contact::Star => panic!("unexpected *"),
        })
        .collect()
}

const CASES: &[Case] = &[
    // §3.1.1 valid messages
    case!("wsinv", Accept(|m| {
        assert_eq!(m.to().unwrap().tag(), Some(&b"1918181833n"[..]));
        let from = m.from().unwrap();
        assert_eq!(from.display_name(), Some(&br#""J Rosenberg \\\"""#[..]));
        assert_eq!(from.tag(), Some(&b"98asjd8"[..]));
        assert_eq!(m.max_forwards().unwrap(), Some(68));
        let cseq = m.cseq().unwrap();
        assert_eq!((cseq.number, cseq.method), (9, Method::Invite));
        let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
        assert_eq!(vias.len(), 3);
        assert_eq!(vias[1].transport(), Transport::Tcp);
        assert_eq!(vias[1].host(), Host::Domain(b"spindle.example.com"));
        assert_eq!(vias[2].branch(), Some(&b"z9hG4bK30239"[..]));
        let c = &contact_addrs(m)[0];
        assert_eq!(c.display_name(), Some(&br#""Quoted string \"\"""#[..]));
        assert_eq!(c.q(), Some(330));
        assert_eq!(c.param("newparam").and_then(|p| p.value), Some(&b"newvalue"[..]));
        assert!(m.routes().next().unwrap().unwrap().uri().as_sip().unwrap().lr());
        assert_eq!(m.header(HeaderName::Subject).unwrap().value(), b"");
        assert_eq!(m.body().len(), 150);
    }), "§3.1.1.1: whitespace, folding, case and compact forms are all legal"),
    case!("intmeth", Accept(|m| {
        let Some(Method::Other(name)) = m.method() else { panic!("extension method") };
        assert_eq!(name, b"!interesting-Method0123456789_*+`.%indeed'~");
        assert_eq!(m.cseq().unwrap().method, m.method().unwrap());
        let u = sip_uri(m.request_uri().unwrap());
        assert_eq!(u.user(), Some(&b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"[..]));
        assert_eq!(u.password(), Some(&b"&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"[..]));
        assert_eq!(m.call_id(), Some(&br#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#[..]));
        assert_eq!(m.max_forwards().unwrap(), Some(255));
        assert_eq!(m.from().unwrap().tag(), Some(&b"_token~1'+`*%!-."[..]));
        assert!(m.header_by_name("extensionHeader-!.%*+_`'~").is_some());
    }), "§3.1.1.2: every legal character in tokens, URIs and quoted strings"),
    case!("esc01", Accept(|m| {
        let ruri = sip_uri(m.request_uri().unwrap());
        assert_eq!(&*percent_decode(ruri.user().unwrap()), b"sips:user@example.com");
        assert_eq!(&*percent_decode(sip_uri(m.to().unwrap().uri()).user().unwrap()), b"user");
        assert_eq!(&*percent_decode(sip_uri(m.from().unwrap().uri()).user().unwrap()), b"I have spaces");
        let cu = sip_uri(contact_addrs(m)[0].uri());
        let params: Vec<_> = cu.params().collect();
        assert_eq!(&*percent_decode(params[0].name), b"lr");
        assert_eq!(&*percent_decode(params[1].name), b"name");
        assert_eq!(&*percent_decode(params[1].value.unwrap()), b"value%41");
    }), "§3.1.1.3: %-escapes are valid and decode per component"),
    case!("escnull", Accept(|m| {
        assert_eq!(&*percent_decode(sip_uri(m.to().unwrap().uri()).user().unwrap()), b"null-\0-null");
        assert_eq!(contact_addrs(m).len(), 2);
    }), "§3.1.1.4: escaped NULs in URIs are legal"),
    case!("esc02", Accept(|m| {
        assert_eq!(m.method(), Some(Method::Other(b"RE%47IST%45R")));
        assert_eq!(contact_addrs(m).len(), 2);
        assert!(m.header_by_name("C%6Fntact").is_some());
        assert_eq!(m.header_by_name("C%6Fntact").unwrap().kind(), HeaderName::Other);
        assert_eq!(m.top_via().unwrap().branch(), Some(&b"z9hG4bK209%fzsnel234"[..]));
        assert_eq!(m.to().unwrap().display_name(), Some(&br#""%Z%45""#[..]));
    }), "§3.1.1.5: % outside URIs is not an escape; RE%47IST%45R is an unknown method"),
    case!("lwsdisp", Accept(|m| {
        assert_eq!(m.from().unwrap().display_name(), Some(&b"caller"[..]));
    }), "§3.1.1.6: no LWS between display name and <"),
    case!("longreq", Accept(|m| {
        assert_eq!(m.vias().filter(Result::is_ok).count(), 34);
        assert!(m.from().unwrap().tag().unwrap().len() > 150);
        assert_eq!(sip_uri(m.to().unwrap().uri()).port(), Some(6000));
        assert_eq!(m.body().len(), 150);
    }), "§3.1.1.7: long values must not break the parser"),
    case!("dblreq", Accept(|m| {
        assert_eq!(m.method(), Some(Method::Register));
        assert!(m.as_bytes().ends_with(b"Content-Length: 0\r\n\r\n"));
        assert!(m.body().is_empty());
    }), "§3.1.1.8: the REGISTER is processed; octets after Content-Length in the datagram are discarded"),
    case!("semiuri", Accept(|m| {
        let u = sip_uri(m.request_uri().unwrap());
        assert_eq!(u.user(), Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(u.host(), Host::Domain(b"example.com"));
        assert_eq!(u.params().count(), 0);
        assert_eq!(m.tokens(HeaderName::Accept).count(), 6);
    }), "§3.1.1.9: ; in the user part is not a URI parameter"),
    case!("transports", Accept(|m| {
        let t: Vec<_> = m.vias().map(|v| v.unwrap().transport()).collect();
        assert_eq!(t, [Transport::Udp, Transport::Sctp, Transport::Tls, Transport::Other(b"UNKNOWN"), Transport::Tcp]);
        assert_eq!(m.call_id(), Some(&b"transports.kijh4akdnaqjkwendsasfdj"[..]));
    }), "§3.1.1.10: unknown transports are accepted in Via"),
    case!("mpart01", Accept(|m| {
        let ct = m.content_type().unwrap().unwrap();
        assert!(ct.is("multipart", "mixed"));
        assert_eq!(ct.params().find("boundary").unwrap().value, Some(&b"7a9cbec02ceef655"[..]));
        assert_eq!(m.body().len(), 553);
        assert_eq!(m.top_via().unwrap().rport(), Some(Rport::Requested));
    }), "§3.1.1.11: a binary multipart body is delimited by Content-Length"),
    case!("unreason", Accept(|m| {
        assert_eq!(m.status(), Some(200));
        let reason = m.reason().unwrap();
        assert!(reason.starts_with(b"= 2**3 * 5**2 "));
        assert!(std::str::from_utf8(reason).is_ok());
    }), "§3.1.1.12: UTF-8 reason phrase"),
    case!("noreason", Accept(|m| {
        assert_eq!(m.status(), Some(100));
        assert_eq!(m.reason(), Some(&b""[..]));
    }), "§3.1.1.13: empty reason phrase"),
    // §3.1.2 invalid messages
    case!("badinv01", Reply(Error::InvalidHeader(HeaderName::Via), 400), "§3.1.2.1: empty header parameters and list items"),
    case!("clerr", Reply(Error::ContentLengthExceedsData, 400), "§3.1.2.2: over UDP a too-large Content-Length is answered 400"),
    case!("ncl", Reply(Error::InvalidContentLength, 400), "§3.1.2.3: negative Content-Length is answered 400"),
    case!("scalar02", Reply(Error::InvalidHeader(HeaderName::CSeq), 400), "§3.1.2.4: CSeq beyond 2**31 is answered 400"),
    case!("scalarlg", Drop(Error::InvalidHeader(HeaderName::CSeq)), "§3.1.2.5: a response with overlarge scalars is discarded"),
    case!("quotbal", Reply(Error::InvalidHeader(HeaderName::To), 400), "§3.1.2.6: unterminated quoted display name"),
    case!("ltgtruri", Reply(Error::InvalidRequestUri, 400), "§3.1.2.7: Request-URI must not be in <>"),
    case!("lwsruri", Reply(Error::InvalidStartLine, 400), "§3.1.2.8: LWS inside the Request-URI"),
    case!("lwsstart", Reply(Error::InvalidStartLine, 400), "§3.1.2.9: several SP between Request-Line elements"),
    case!("trws", Reply(Error::InvalidStartLine, 400), "§3.1.2.10: SP after SIP-Version"),
    case!("escruri", Reply(Error::RequestUriHasHeaders, 400), "§3.1.2.11: escaped headers in a SIP Request-URI may be rejected with 400"),
    case!("baddate", Accept(|m| {
        assert_eq!(m.header(HeaderName::Date).unwrap().value(), b"Fri, 01 Jan 2010 16:00:00 EST");
    }), "§3.1.2.12: a proxy does not use Date and may ignore the bad zone; the field is forwarded untouched"),
    case!("regbadct", Reply(Error::InvalidHeader(HeaderName::Contact), 400), "§3.1.2.13: a URI with ? must be a name-addr in <>"),
    case!("badaspec", Reply(Error::InvalidHeader(HeaderName::To), 400), "§3.1.2.14: spaces inside the addr-spec"),
    case!("baddn", Reply(Error::InvalidHeader(HeaderName::From), 400), "§3.1.2.15: unquoted display name with non-token characters"),
    case!("badvers", Reply(Error::UnsupportedVersion, 505), "§3.1.2.16: SIP/7.0 is answered 505"),
    case!("mismatch01", Reply(Error::CSeqMethodMismatch, 400), "§3.1.2.17: CSeq method differs from a known request method"),
    case!("mismatch02", Reply(Error::CSeqMethodMismatch, 501), "§3.1.2.18: unknown method with CSeq mismatch: 501 preferred"),
    case!("bigcode", Drop(Error::InvalidStatusCode), "§3.1.2.19: status code above 699 is dropped"),
    // §3.2 transaction layer
    case!("badbranch", Accept(|m| {
        assert_eq!(m.top_via().unwrap().branch(), Some(&b"z9hG4bK"[..]));
    }), "§3.2.1: a branch of only the magic cookie is syntactically valid"),
    // §3.3 application layer
    case!("insuf", Reply(Error::MissingHeader(HeaderName::From), 400), "§3.3.1: missing Call-ID, From, To: answered 400"),
    case!("unkscm", Accept(|m| {
        let Some(Uri::Other(u)) = m.request_uri() else { panic!("opaque scheme") };
        assert_eq!(u.scheme(), b"nobodyKnowsThisScheme");
    }), "§3.3.2: parses; the proxy answers 416 for a scheme it cannot route"),
    case!("novelsc", Accept(|m| {
        let Some(Uri::Other(u)) = m.request_uri() else { panic!("opaque scheme") };
        assert_eq!(u.scheme(), b"soap.beep");
    }), "§3.3.3: an atypical scheme parses and is kept opaque"),
    case!("unksm2", Accept(|m| {
        assert!(matches!(m.to().unwrap().uri(), Uri::Other(_)));
        assert!(matches!(m.from().unwrap().uri(), Uri::Other(_)));
        assert!(matches!(contact_addrs(m)[0].uri(), Uri::Other(_)));
    }), "§3.3.4: unknown schemes in To/From/Contact are valid; a registrar rejects a non-SIP AoR"),
    case!("bext01", Accept(|m| {
        let pr: Vec<_> = m.tokens(HeaderName::ProxyRequire).collect();
        assert_eq!(pr, [&b"noProxiesSupportThis"[..], b"norDoAnyProxiesSupportThis"]);
        assert_eq!(m.tokens(HeaderName::Require).count(), 2);
    }), "§3.3.5: parses; the proxy answers 420 listing the Proxy-Require tags"),
    case!("invut", Accept(|m| {
        assert!(m.content_type().unwrap().unwrap().is("application", "unknownformat"));
    }), "§3.3.6: unknown body type: a proxy forwards, a UAS answers 415"),
    case!("regaut01", Accept(|m| {
        let c = m.authorizations().next().unwrap().unwrap();
        assert!(matches!(c, Credentials::Other { scheme: b"NoOneKnowsThisScheme", .. }));
    }), "§3.3.7: unknown auth scheme parses; the registrar challenges with 401"),
    case!("multi01", Reply(Error::DuplicateHeader(HeaderName::From), 400), "§3.3.8: several values in single-value fields"),
    case!("mcl01", Reply(Error::MultipleContentLength, 400), "§3.3.9: two Content-Length values"),
    case!("bcast", Accept(|m| {
        let second = m.vias().nth(1).unwrap().unwrap();
        assert_eq!(second.host(), Host::Ipv4(std::net::Ipv4Addr::BROADCAST));
    }), "§3.3.10: parses; the proxy must not send the response to the broadcast sent-by"),
    case!("zeromf", Accept(|m| {
        assert_eq!(m.max_forwards().unwrap(), Some(0));
        let mut e = Editor::new(m);
        e.decrement_max_forwards();
        assert_eq!(e.finish(), Err(Error::TooManyHops));
    }), "§3.3.11: Max-Forwards 0 parses; a proxy answers 483 instead of forwarding"),
    case!("cparam01", Accept(|m| {
        let c = &contact_addrs(m)[0];
        assert!(c.param("unknownparam").is_some());
        assert_eq!(sip_uri(c.uri()).params().count(), 0);
    }), "§3.3.12: without <> the parameter belongs to the Contact header"),
    case!("cparam02", Accept(|m| {
        let c = &contact_addrs(m)[0];
        assert!(c.param("unknownparam").is_none());
        assert!(sip_uri(c.uri()).param("unknownparam").is_some());
    }), "§3.3.13: inside <> the parameter belongs to the URI"),
    case!("regescrt", Accept(|m| {
        let u = sip_uri(contact_addrs(m)[0].uri());
        let h: Vec<_> = u.headers().collect();
        assert_eq!(h, [(&b"Route"[..], &b"%3Csip:sip.example.com%3E"[..])]);
        assert_eq!(&*percent_decode(h[0].1), b"<sip:sip.example.com>");
    }), "§3.3.14: an escaped header in a bracketed Contact URI is valid"),
    case!("sdp01", Accept(|m| {
        assert_eq!(m.tokens(HeaderName::Accept).next(), Some(&b"text/nobodyKnowsThis"[..]));
    }), "§3.3.15: parses; a UAS answers 406"),
    // §3.4 backward compatibility
    case!("inv2543", Accept(|m| {
        assert_eq!(m.top_via().unwrap().branch(), None);
        assert_eq!(m.max_forwards().unwrap(), None);
        assert_eq!(m.content_length(), None);
        assert!(m.body().starts_with(b"v=0"));
        assert_eq!(m.record_routes().next().unwrap().unwrap().uri().as_sip().unwrap().maddr(), Some(&b"ss1.example.com"[..]));
    }), "§3.4.1: RFC 2543 syntax (no branch, Max-Forwards or Content-Length) is accepted"),
];

fn outcome(data: &[u8]) -> Result<Message<'_>, ParseFailure<'_>> {
    let m = Message::parse_datagram(data, &Limits::DEFAULT)?;
    m.validate(&Limits::DEFAULT)?;
    Ok(m)
}

#[test]
fn every_corpus_file_has_an_expectation() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".dat")
                .to_owned()
        })
        .collect();
    files.sort();
    let mut listed: Vec<&str> = CASES.iter().map(|c| c.file).collect();
    listed.sort_unstable();
    assert_eq!(files, listed);
    assert_eq!(files.len(), 49);
}

#[test]
fn rfc4475_outcomes() {
    let mut failures = Vec::new();
    for case in CASES {
        let got = outcome(case.data);
        let ok = match (&case.expect, &got) {
            (Accept(check), Ok(m)) => {
                check(m);
                true
            }
            (Reply(err, status), Err(f)) => {
                f.error() == *err
                    && f.disposition() == Disposition::Reply(*status)
                    && f.reply_context().is_some()
            }
            (Drop(err), Err(f)) => f.error() == *err && f.disposition() == Disposition::Drop,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{} ({}): got {:?}",
                case.file,
                case.reason,
                got.map(|m| m.start_line_bytes().len())
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn rejected_requests_can_be_answered_from_the_salvaged_context() {
    for case in CASES.iter().filter(|c| matches!(c.expect, Reply(..))) {
        let f = outcome(case.data).unwrap_err();
        let Disposition::Reply(status) = f.disposition() else {
            unreachable!()
        };
        let ctx = f.reply_context().unwrap().clone();
        let top_via = ctx.vias()[0];
        let out = rtc_sip::ResponseBuilder::from_context(ctx, status, f.error().reason_phrase())
            .to_tag("r4475")
            .build()
            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let resp = Message::parse_datagram(&out, &Limits::DEFAULT)
            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        assert_eq!(resp.status(), Some(status), "{}", case.file);
        assert_eq!(
            resp.header(HeaderName::Via).unwrap().value(),
            top_via,
            "{}: Via copied as received",
            case.file
        );
        assert!(resp.header(HeaderName::CSeq).is_some(), "{}", case.file);
    }
}

#[test]
fn valid_messages_are_forwarded_byte_for_byte() {
    for case in CASES.iter().filter(|c| matches!(c.expect, Accept(_))) {
        let m = outcome(case.data).unwrap();
        let out = Editor::new(&m).finish().unwrap();
        assert_eq!(out, m.as_bytes(), "{}", case.file);
        assert!(case.data.starts_with(&out), "{}", case.file);
    }
}

#[test]
fn stream_framing_of_the_corpus() {
    // Over TCP the same bytes are framed by Content-Length: clerr waits for more
    // data, ncl and mcl01 make the stream unrecoverable, inv2543 lacks Content-Length.
    use rtc_sip::{Frame, Framer};
    let framed = |name: &str| {
        let c = CASES.iter().find(|c| c.file == name).unwrap();
        Framer::new(Limits::DEFAULT).poll(c.data)
    };
    assert_eq!(framed("clerr"), Frame::Incomplete);
    assert_eq!(framed("ncl"), Frame::Invalid(Error::InvalidContentLength));
    assert_eq!(
        framed("mcl01"),
        Frame::Invalid(Error::MultipleContentLength)
    );
    assert_eq!(
        framed("inv2543"),
        Frame::Invalid(Error::MissingContentLength)
    );
    let dbl = CASES.iter().find(|c| c.file == "dblreq").unwrap().data;
    let Frame::Message { len } = framed("dblreq") else {
        panic!()
    };
    assert!(Message::parse_framed(&dbl[..len], &Limits::DEFAULT).is_ok());
    let _ = Contact::Star;
}
