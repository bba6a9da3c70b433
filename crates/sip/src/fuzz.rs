//! The body of the `sip_message` fuzz target, public so a stable unit test can
//! run it on proptest input. Not part of the supported API.

use crate::builder::ResponseBuilder;
use crate::edit::Editor;
use crate::framer::{Frame, Framer};
use crate::headers::HeaderName;
use crate::limits::Limits;
use crate::message::Message;

/// Parse `data`, exercise every view, edit and re-parse, answer refusals, and
/// run the stream framer over it. Panics only on an internal inconsistency.
#[doc(hidden)]
pub fn fuzz_message(data: &[u8]) {
    let limits = Limits::DEFAULT;
    match Message::parse_datagram(data, &limits) {
        Ok(m) => exercise(&m, &limits),
        Err(f) => {
            let _ = f.disposition();
            if let Some(ctx) = f.reply_context() {
                if let Ok(out) =
                    ResponseBuilder::from_context(ctx.clone(), 400, "Bad Request").build()
                {
                    assert!(
                        Message::parse_datagram(&out, &widened(&limits)).is_ok(),
                        "generated 400 must parse"
                    );
                }
            }
        }
    }
    let mut framer = Framer::new(limits);
    let mut rest = data;
    for _ in 0..1024 {
        match framer.poll(rest) {
            Frame::Incomplete | Frame::Invalid(_) => break,
            Frame::Ping { consumed } | Frame::Pong { consumed } => {
                rest = rest.get(consumed..).unwrap_or_default()
            }
            Frame::Message { len } => {
                let (msg, tail) = rest.split_at(len.min(rest.len()));
                if let Ok(m) = Message::parse_framed(msg, &limits) {
                    exercise(&m, &limits);
                }
                rest = tail;
            }
        }
    }
}

/// Limits for re-parsing our own output: edits and answers may add a few
/// header lines and bytes to a message that was already at a limit.
fn widened(l: &Limits) -> Limits {
    Limits {
        max_headers: l.max_headers + 8,
        max_header_bytes: l.max_header_bytes + 1024,
        max_message_bytes: l.max_message_bytes + 1024,
        ..*l
    }
}

fn exercise(m: &Message<'_>, limits: &Limits) {
    let again = Message::parse_datagram(m.as_bytes(), limits);
    assert!(
        again
            .as_ref()
            .is_ok_and(|a| a.headers().len() == m.headers().len()),
        "re-parse of as_bytes"
    );
    let valid = m.validate(limits).is_ok();
    let _ = (
        m.from(),
        m.to(),
        m.cseq(),
        m.max_forwards(),
        m.expires(),
        m.min_expires(),
        m.content_type(),
    );
    for v in m.vias().flatten() {
        let _ = (
            v.branch(),
            v.received_addr(),
            v.rport(),
            v.ttl(),
            v.maddr(),
            v.host(),
            v.port(),
        );
    }
    let _ = m.contacts().flatten().count()
        + m.routes().flatten().count()
        + m.record_routes().count()
        + m.paths().count();
    let _ = m.authorizations().count()
        + m.proxy_authorizations().count()
        + m.www_authenticates().count();
    let _ = m.tokens(HeaderName::Supported).count() + m.tokens(HeaderName::Allow).count();
    if let Some(uri) = m.request_uri().and_then(|u| u.as_sip().copied()) {
        let _ = (
            uri.user().map(crate::uri::percent_decode),
            uri.params().count(),
            uri.headers().count(),
        );
    }
    let mut e = Editor::new(m);
    if m.is_request() {
        e.set_top_via_param("received", Some(b"192.0.2.1"))
            .prepend_via(b"SIP/2.0/UDP fuzz.invalid;branch=z9hG4bKfuzz")
            .add_record_route(b"<sip:fuzz.invalid;lr>")
            .decrement_max_forwards();
        if m.header(HeaderName::Route).is_some() {
            e.remove_top_route();
        }
    } else {
        e.remove_top_via();
    }
    if let Ok(out) = e.finish() {
        let edited = Message::parse_datagram(&out, &widened(limits));
        assert!(edited.is_ok(), "edited message must parse");
        if valid && m.is_request() {
            assert!(edited
                .as_ref()
                .is_ok_and(|x| x.vias().count() == m.vias().count() + 1));
        }
    }
    if valid && m.is_request() {
        if let Ok(b) = ResponseBuilder::new(m, 404, "Not Found") {
            if let Ok(out) = b.to_tag("fz").build() {
                let wide = widened(limits);
                assert!(
                    Message::parse_datagram(&out, &wide).is_ok_and(|r| r.validate(&wide).is_ok())
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer: a request with exactly `max_headers` fields grows
    /// past the limit when the proxy edits add Via and Record-Route lines.
    #[test]
    fn regression_edit_of_message_at_header_limit() {
        let mut m = String::from(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n",
        );
        for i in 0..94 {
            m += &format!("X{i}: y\r\n");
        }
        m += "l: 0\r\n\r\n";
        assert!(Message::parse_datagram(m.as_bytes(), &Limits::DEFAULT).is_ok());
        fuzz_message(m.as_bytes());
    }
}
