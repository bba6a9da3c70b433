//! The few bytes of HTTP/1.1 the metrics endpoint needs (RFC 9112). No I/O.

/// Request heads larger than this are refused with 431.
pub(crate) const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Media type of the OpenMetrics text exposition that prometheus-client writes.
pub(crate) const OPENMETRICS_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /metrics` (or `HEAD`, which gets no body).
    Metrics {
        /// Whether a body is sent (false for HEAD).
        body: bool,
    },
    /// Any other path or method.
    NotFound,
    /// The request line is not HTTP/1.x.
    BadRequest,
}

/// Progress of reading a request head from a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Head {
    /// The blank line ending the head has arrived.
    Complete,
    /// More bytes are needed.
    Incomplete,
    /// The head is longer than [`MAX_HEAD_BYTES`].
    TooLarge,
}

/// Whether `buf` holds a complete request head (RFC 9112 section 2.1).
pub(crate) fn head_status(buf: &[u8]) -> Head {
    let window = buf.get(..MAX_HEAD_BYTES.min(buf.len())).unwrap_or(buf);
    if window.windows(4).any(|w| w == b"\r\n\r\n") || window.windows(2).any(|w| w == b"\n\n") {
        Head::Complete
    } else if buf.len() >= MAX_HEAD_BYTES {
        Head::TooLarge
    } else {
        Head::Incomplete
    }
}

/// Route a complete request head by its request line (RFC 9112 section 3).
pub(crate) fn route(head: &[u8]) -> Route {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = head.get(..line_end).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(line) = std::str::from_utf8(line) else {
        return Route::BadRequest;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || target.is_empty() {
        return Route::BadRequest;
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    match (method, path) {
        ("GET", "/metrics") => Route::Metrics { body: true },
        ("HEAD", "/metrics") => Route::Metrics { body: false },
        _ => Route::NotFound,
    }
}

/// A complete response that closes the connection.
pub(crate) fn response(status: &str, content_type: &str, body: &str, send_body: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if send_body {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_complete_after_the_blank_line() {
        assert_eq!(
            head_status(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"),
            Head::Incomplete
        );
        assert_eq!(
            head_status(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Head::Complete
        );
        assert_eq!(head_status(b"GET /metrics HTTP/1.0\n\n"), Head::Complete);
    }

    #[test]
    fn endless_head_is_too_large() {
        let mut buf = b"GET /metrics HTTP/1.1\r\n".to_vec();
        buf.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(head_status(&buf), Head::TooLarge);
    }

    #[test]
    fn routes_follow_method_and_path() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\n\r\n"),
            Route::Metrics { body: true }
        );
        assert_eq!(
            route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Route::Metrics { body: true }
        );
        assert_eq!(
            route(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Route::Metrics { body: false }
        );
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /metrics/x HTTP/1.1\r\n\r\n"), Route::NotFound);
    }

    #[test]
    fn malformed_request_lines_are_bad_requests() {
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"\xff /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics SIP/2.0\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert_eq!(route(bad), Route::BadRequest, "{bad:?}");
        }
    }

    #[test]
    fn response_has_length_and_closes() {
        let r = response("200 OK", "text/plain", "hello", true);
        assert_eq!(r, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
        let head_only = response("200 OK", "text/plain", "hello", false);
        assert!(head_only.ends_with(b"Content-Length: 5\r\nConnection: close\r\n\r\n"));
    }
}
