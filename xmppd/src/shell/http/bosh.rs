//! BOSH (XEP-0124) carrying XMPP (XEP-0206) at `web.bosh_path`.
//!
//! Each BOSH session is one core connection, like a WebSocket: the session
//! task turns the core's output into top-level elements (the RFC 7395
//! splitter, whose `<open/>` is dropped and whose `<close/>` ends the
//! session) and queues them; HTTP requests deliver their payload to the
//! core and are held (`hold`, at most `wait` seconds) until there is
//! something to answer with.
//!
//! Checked on every request: the `sid`, the `rid` window (XEP-0124 §14.1:
//! a replayed `rid` gets the last answer again, one too far ahead ends the
//! session with `item-not-found`), the body size (`web.max_body_bytes`),
//! requests per second per address and sessions per address. A session
//! without a request for `inactivity` seconds is closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rtc_daemon::ratelimit::{KeyedLimiter, RateLimit};
use tokio::sync::{mpsc, oneshot, Notify};

use super::framing::{attributes, Splitter};
use super::{HttpConn, Request, WebContext, CORS};
use crate::core::{Listener, TlsInfo};
use crate::shell::driver::{ToConn, ToCore};

/// XEP-0124 namespace.
const NS_HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
/// XEP-0206 namespace.
const NS_XBOSH: &str = "urn:xmpp:xbosh";
const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
/// Requests the client may have open at once (XEP-0124 §7.1 `requests`).
const REQUESTS: u64 = 2;

/// One session's shared state.
#[derive(Debug)]
struct Session {
    peer: IpAddr,
    core: mpsc::UnboundedSender<ToCore>,
    conn: crate::core::ConnId,
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Debug)]
struct State {
    /// The last `rid` seen and its answer (for replays).
    rid: u64,
    last_answer: Option<String>,
    /// Elements waiting for a request to carry them.
    queue: Vec<String>,
    /// The core closed the stream.
    closed: bool,
    /// Increments with every request: a held request answers when superseded.
    generation: u64,
    wait: u64,
    last_request: Instant,
    held: usize,
}

/// All BOSH sessions and the per-address limits (`web.bosh_*`).
#[derive(Debug)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    rate: Mutex<KeyedLimiter<IpAddr>>,
    /// Sessions from one address.
    max_per_ip: usize,
    /// Longest hold of a request (XEP-0124 §7.1 `wait`).
    max_wait_secs: u64,
    /// Seconds without a request before a session ends (§7.1 `inactivity`).
    inactivity_secs: u64,
}

impl Sessions {
    /// No sessions yet, with the limits of `web`.
    pub(crate) fn new(web: &crate::config::WebConfig) -> Self {
        let rps = web.bosh_requests_per_second;
        Self {
            map: Mutex::default(),
            rate: Mutex::new(KeyedLimiter::new(
                RateLimit::new(rps.saturating_mul(2), f64::from(rps)),
                65_536,
            )),
            max_per_ip: web.bosh_max_sessions_per_ip,
            max_wait_secs: web.bosh_max_wait_seconds,
            inactivity_secs: web.bosh_inactivity_seconds,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A `<body/>` from the client: its attributes and raw content.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Body {
    pub attrs: Vec<(String, String)>,
    pub content: String,
}

impl Body {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `xmpp:restart='true'` under whatever prefix (XEP-0206 §5).
    fn restart(&self) -> bool {
        self.attrs
            .iter()
            .any(|(k, v)| k.ends_with(":restart") && (v == "true" || v == "1"))
    }
}

/// Parse a request body: one `<body/>` element in the httpbind namespace.
pub(crate) fn parse_body(text: &str) -> Option<Body> {
    let t = text.trim();
    let t = match t.strip_prefix("<?xml") {
        Some(rest) => rest.get(rest.find("?>")? + 2..)?.trim_start(),
        None => t,
    };
    if !t.starts_with("<body") {
        return None;
    }
    let attrs: Vec<(String, String)> = attributes(t)?
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    if !attrs.iter().any(|(k, v)| k == "xmlns" && v == NS_HTTPBIND) {
        return None;
    }
    let end = super::framing::tag_end(t)?;
    let head = t.get(..=end)?;
    let content = if head.ends_with("/>") {
        String::new()
    } else {
        let close = t.rfind("</body>")?;
        t.get(end + 1..close)?.to_owned()
    };
    Some(Body { attrs, content })
}

/// `<body/>` answer with `attrs` around `content`.
fn body(attrs: &str, content: &str) -> String {
    format!("<body xmlns='{NS_HTTPBIND}' xmlns:xmpp='{NS_XBOSH}' xmlns:stream='{NS_STREAMS}'{attrs}>{content}</body>")
}

fn terminate(condition: Option<&str>) -> String {
    let c = condition
        .map(|c| format!(" condition='{c}'"))
        .unwrap_or_default();
    body(&format!(" type='terminate'{c}"), "")
}

fn stream_header(to: &str) -> Vec<u8> {
    format!(
        "<stream:stream xmlns='jabber:client' xmlns:stream='{NS_STREAMS}' to='{to}' version='1.0'>"
    )
    .into_bytes()
}

/// Answer one POST to the BOSH path.
pub(super) async fn serve(
    conn: &mut HttpConn,
    req: &Request,
    peer: SocketAddr,
    ctx: &WebContext,
) -> std::io::Result<bool> {
    if req.method != "POST" {
        conn.respond(
            405,
            &[("Allow", "POST, OPTIONS")],
            b"BOSH (XEP-0124) needs POST\n",
        )
        .await?;
        return Ok(true);
    }
    let Ok(Some(len)) = req.content_length() else {
        conn.respond(411, &CORS, b"").await?;
        return Ok(false);
    };
    let max = ctx.web.max_body_bytes;
    let Some(len) = usize::try_from(len).ok().filter(|l| *l <= max) else {
        conn.respond(413, &CORS, b"").await?;
        return Ok(false);
    };
    let Some(raw) = conn
        .read_body(len, Duration::from_secs(ctx.web.request_seconds))
        .await
    else {
        return Ok(false);
    };
    if !lock(&ctx.bosh.rate).check(&peer.ip(), Instant::now()) {
        conn.respond(429, &CORS, b"").await?;
        return Ok(true);
    }
    let answer = match std::str::from_utf8(&raw).ok().and_then(parse_body) {
        None => {
            conn.respond(400, &CORS, b"").await?;
            return Ok(true);
        }
        Some(b) => match b.attr("sid").map(str::to_owned) {
            None => create(b, peer, ctx).await,
            Some(sid) => request(b, &sid, ctx).await,
        },
    };
    let [a, bb, c] = CORS;
    conn.respond(
        200,
        &[a, bb, c, ("Content-Type", "text/xml; charset=utf-8")],
        answer.as_bytes(),
    )
    .await?;
    Ok(true)
}

/// XEP-0124 §7.1 / XEP-0206 §4: a new session.
async fn create(b: Body, peer: SocketAddr, ctx: &WebContext) -> String {
    let Some(to) = b
        .attr("to")
        .filter(|t| ctx.hosts.iter().any(|h| h == t))
        .map(str::to_owned)
    else {
        return terminate(Some("host-unknown"));
    };
    let Some(rid) = b.attr("rid").and_then(|r| r.parse::<u64>().ok()) else {
        return terminate(Some("bad-request"));
    };
    if ctx.backlog.is_over() {
        // Storage is behind: hold the request until it catches up.
        ctx.backlog.wait().await;
    }
    let wait = b
        .attr("wait")
        .and_then(|w| w.parse().ok())
        .unwrap_or(ctx.bosh.max_wait_secs)
        .clamp(1, ctx.bosh.max_wait_secs);
    let count = lock(&ctx.bosh.map)
        .values()
        .filter(|s| s.peer == peer.ip())
        .count();
    if count >= ctx.bosh.max_per_ip {
        return terminate(Some("policy-violation"));
    }
    let (tx, rx) = crate::shell::mailbox::mailbox();
    let (reply, id) = oneshot::channel();
    if ctx
        .core
        .send(ToCore::Opened {
            peer,
            listener: Listener::DirectTls,
            tx,
            reply,
        })
        .is_err()
    {
        return terminate(Some("remote-connection-failed"));
    }
    let Ok(Some(conn)) = id.await else {
        return terminate(Some("policy-violation"));
    };
    let _ = ctx.core.send(ToCore::Tls {
        conn,
        info: TlsInfo::default(),
    });
    let sid = hex::encode(rand::random::<[u8; 16]>());
    let session = Arc::new(Session {
        peer: peer.ip(),
        core: ctx.core.clone(),
        conn,
        state: Mutex::new(State {
            rid,
            last_answer: None,
            queue: Vec::new(),
            closed: false,
            generation: 0,
            wait,
            last_request: Instant::now(),
            held: 0,
        }),
        wake: Notify::new(),
    });
    lock(&ctx.bosh.map).insert(sid.clone(), Arc::clone(&session));
    tokio::spawn(session_task(
        Arc::clone(&session),
        rx,
        sid.clone(),
        Arc::clone(&ctx.bosh),
    ));
    let _ = ctx.core.send(ToCore::Bytes {
        conn,
        data: stream_header(&to),
    });
    let inactivity = ctx.bosh.inactivity_secs;
    let attrs = format!(
        " sid='{sid}' wait='{wait}' hold='1' requests='{REQUESTS}' polling='1' inactivity='{inactivity}' \
ver='1.11' from='{to}' xmpp:version='1.0' xmpp:restartlogic='true'"
    );
    let content = hold(&session, wait).await;
    let answer = body(&attrs, &content.unwrap_or_default());
    lock(&session.state).last_answer = Some(answer.clone());
    answer
}

/// A request within a session.
async fn request(b: Body, sid: &str, ctx: &WebContext) -> String {
    let Some(session) = lock(&ctx.bosh.map).get(sid).cloned() else {
        return terminate(Some("item-not-found"));
    };
    let Some(rid) = b.attr("rid").and_then(|r| r.parse::<u64>().ok()) else {
        return terminate(Some("bad-request"));
    };
    let wait = {
        let mut st = lock(&session.state);
        if rid == st.rid {
            // XEP-0124 §14.3: a retransmission gets the same answer.
            return st.last_answer.clone().unwrap_or_else(|| body("", ""));
        }
        if rid < st.rid || rid > st.rid + REQUESTS || st.held >= REQUESTS as usize {
            drop(st);
            end(&session, sid, ctx);
            return terminate(Some("item-not-found"));
        }
        st.rid = rid;
        st.last_request = Instant::now();
        st.generation += 1;
        st.wait
    };
    session.wake.notify_waiters();
    let mut data = Vec::new();
    if b.restart() {
        data.extend(stream_header(b.attr("to").unwrap_or_default()));
    }
    data.extend_from_slice(b.content.as_bytes());
    if b.attr("type") == Some("terminate") {
        data.extend_from_slice(b"</stream:stream>");
    }
    if !data.is_empty() {
        let _ = session.core.send(ToCore::Bytes {
            conn: session.conn,
            data,
        });
    }
    if b.attr("type") == Some("terminate") {
        end(&session, sid, ctx);
        return terminate(None);
    }
    let answer = match hold(&session, wait).await {
        Some(content) => body("", &content),
        None => {
            lock(&ctx.bosh.map).remove(sid);
            terminate(Some("remote-stream-error"))
        }
    };
    lock(&session.state).last_answer = Some(answer.clone());
    answer
}

/// Wait for output (at most `wait` seconds, or until a newer request
/// arrives); `None` once the stream is closed and drained.
async fn hold(session: &Session, wait: u64) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let generation = lock(&session.state).generation;
    lock(&session.state).held += 1;
    let out = loop {
        let notified = session.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut st = lock(&session.state);
            if !st.queue.is_empty() {
                break Some(st.queue.drain(..).collect::<String>());
            }
            if st.closed {
                break None;
            }
            if st.generation != generation {
                break Some(String::new());
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            break Some(String::new());
        }
    };
    lock(&session.state).held -= 1;
    out
}

fn end(session: &Session, sid: &str, ctx: &WebContext) {
    lock(&ctx.bosh.map).remove(sid);
    lock(&session.state).closed = true;
    session.wake.notify_waiters();
    let _ = session.core.send(ToCore::Closed { conn: session.conn });
}

/// Carry the core's output into the session's queue; end idle sessions.
async fn session_task(
    session: Arc<Session>,
    rx: crate::shell::mailbox::Receiver,
    sid: String,
    all: Arc<Sessions>,
) {
    let mut splitter = Splitter::default();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            cmds = rx.recv() => {
                let Some(cmds) = cmds else { break };
                let closed = {
                    let mut st = lock(&session.state);
                    for cmd in cmds {
                        match cmd {
                            ToConn::Write(data) => {
                                for m in splitter.push(&data) {
                                    if m.starts_with("<close ") {
                                        st.closed = true;
                                    } else if !m.starts_with("<open ") {
                                        st.queue.push(m);
                                    }
                                }
                            }
                            ToConn::Close | ToConn::StartTls => st.closed = true,
                            ToConn::Pause | ToConn::Resume => {}
                        }
                    }
                    st.closed
                };
                session.wake.notify_waiters();
                if closed {
                    // The core has forgotten the connection.
                    tokio::time::sleep(Duration::from_secs(all.max_wait_secs)).await;
                    break;
                }
            }
            _ = tick.tick() => {
                let idle = {
                    let st = lock(&session.state);
                    st.held == 0 && st.last_request.elapsed() > Duration::from_secs(all.inactivity_secs)
                };
                if idle {
                    lock(&all.map).remove(&sid);
                    lock(&session.state).closed = true;
                    let _ = session.core.send(ToCore::Closed { conn: session.conn });
                    break;
                }
            }
        }
    }
    lock(&all.map).remove(&sid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_with_stanzas_is_split_into_attributes_and_content() {
        let b = parse_body(
            "<body rid='5' sid='abc' xmlns='http://jabber.org/protocol/httpbind'>\
<message xmlns='jabber:client' to='a@b'><body>hi</body></message></body>",
        )
        .unwrap();
        assert_eq!(b.attr("rid"), Some("5"));
        assert_eq!(
            b.content,
            "<message xmlns='jabber:client' to='a@b'><body>hi</body></message>"
        );
    }

    #[test]
    fn restart_is_recognised_under_its_prefix() {
        let b = parse_body(
            "<body rid='6' sid='s' xmpp:restart='true' xmlns='http://jabber.org/protocol/httpbind' \
xmlns:xmpp='urn:xmpp:xbosh'/>",
        )
        .unwrap();
        assert!(b.restart() && b.content.is_empty());
    }

    #[test]
    fn body_in_another_namespace_is_refused() {
        assert!(parse_body("<body rid='1'/>").is_none());
        assert!(parse_body("<iq/>").is_none());
    }
}
