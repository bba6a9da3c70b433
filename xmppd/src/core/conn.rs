//! Client connections: bytes in, XML events dispatched, stream errors out;
//! byte-rate throttling, idle pings and negotiation timeouts.
//!
//! Throttling is enforced by the shell on the core's request: when a
//! connection has used its byte budget ([`super::config::LimitsConfig`]),
//! the core emits [`Event::PauseReading`] and, once the debt is repaid,
//! [`Event::ResumeReading`]; TCP backpressure does the rest. Bytes the
//! shell still delivers meanwhile are processed normally.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtc_xmlstream::{Event as XmlEvent, StreamReader};

use super::component::ComponentStage;
use super::error::StreamCondition;
use super::server::{Server, TimerKey};
use super::session::negotiation::trim_xml_whitespace;
use super::session::sasl::SaslState;
use super::types::{ConnId, Event, Listener, Refused, RequestId, SessionId, TlsInfo};

/// Where a connection is in RFC 6120 stream negotiation.
#[derive(Debug)]
pub(crate) enum Stage {
    /// TLS handshake in progress in the shell (direct TLS, or after `<proceed/>`).
    TlsHandshake,
    /// Waiting for the client's stream header (RFC 6120 §4.2).
    ExpectHeader,
    /// Header exchanged, features sent; negotiating (RFC 6120 §4.3).
    Open,
    /// A SASL exchange is in progress (RFC 6120 §6.4).
    Sasl(Box<SaslState>),
    /// A resource is bound: stanzas flow (RFC 6120 §7).
    Bound(SessionId),
    /// An XEP-0114 component stream (`component.rs`).
    Component(super::component::ComponentStage),
}

/// Token bucket over bytes read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ByteBudget {
    tokens: f64,
    updated: Instant,
}

impl ByteBudget {
    pub(crate) fn new(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            updated: now,
        }
    }

    /// Take `n` bytes; returns when reading may resume if the budget is overdrawn.
    pub(crate) fn consume(&mut self, n: usize, rate: f64, burst: f64, now: Instant) -> Option<Instant> {
        if rate <= 0.0 {
            return None;
        }
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.updated = now;
        self.tokens -= n as f64;
        (self.tokens < 0.0).then(|| now + Duration::from_secs_f64(-self.tokens / rate))
    }
}

/// One client connection (a TCP or TLS stream).
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) id: ConnId,
    pub(crate) peer: SocketAddr,
    pub(crate) reader: StreamReader,
    pub(crate) stage: Stage,
    pub(crate) tls: Option<TlsInfo>,
    /// The hosted domain from the stream header.
    pub(crate) domain: Option<String>,
    pub(crate) header_sent: bool,
    /// A stream restart after SASL: leading whitespace is still the old stream's.
    pub(crate) skip_whitespace: bool,
    /// Set once SASL succeeded: the account's bare JID.
    pub(crate) user: Option<super::jid::Jid>,
    pub(crate) auth_attempts: u32,
    /// Reading is suspended until this storage answer arrives.
    pub(crate) waiting: Option<RequestId>,
    pub(crate) read_paused: bool,
    pub(crate) throttled_until: Option<Instant>,
    budget: ByteBudget,
    pub(crate) opened: Instant,
    pub(crate) last_rx: Instant,
    pub(crate) ping_sent: Option<Instant>,
    armed: Option<Instant>,
}

impl Server {
    /// A client connected from `peer`. Refused when the source has too many
    /// connections or opens them too fast; the shell then closes the socket.
    pub fn handle_connection_opened(
        &mut self,
        peer: SocketAddr,
        listener: Listener,
        now: Instant,
    ) -> Result<ConnId, Refused> {
        self.now = now;
        if listener.is_s2s() {
            return self.s2s_opened(peer, listener.is_direct_tls());
        }
        let ip = peer.ip();
        let count = self.per_ip.get(&ip).copied().unwrap_or(0);
        if count >= self.config.limits.max_connections_per_ip {
            return Err(Refused::TooManyConnections);
        }
        if !self.conn_rate.check(&ip, now) {
            return Err(Refused::RateLimited);
        }
        self.per_ip.insert(ip, count + 1);
        let id = ConnId(self.fresh_id());
        let l = &self.config.limits;
        let burst = f64::from(l.c2s_bytes_per_second) * f64::from(l.c2s_burst_seconds.max(1));
        let conn = Connection {
            id,
            peer,
            reader: StreamReader::new(self.config.stream),
            stage: match listener {
                Listener::Component => Stage::Component(ComponentStage::ExpectHeader),
                l if l.is_direct_tls() => Stage::TlsHandshake,
                _ => Stage::ExpectHeader,
            },
            tls: None,
            domain: None,
            header_sent: false,
            skip_whitespace: false,
            user: None,
            auth_attempts: 0,
            waiting: None,
            read_paused: false,
            throttled_until: None,
            budget: ByteBudget::new(burst, now),
            opened: now,
            last_rx: now,
            ping_sent: None,
            armed: None,
        };
        self.conns.insert(id, Box::new(conn));
        self.arm_conn(id);
        Ok(id)
    }

    /// The shell completed a TLS handshake on `conn` (after
    /// [`Event::StartTls`], or for a [`Listener::DirectTls`] connection).
    pub fn handle_tls_established(&mut self, conn: ConnId, info: TlsInfo, now: Instant) {
        self.now = now;
        if self.s2s.links.contains_key(&conn) {
            self.s2s_tls(conn, info);
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !matches!(c.stage, Stage::TlsHandshake) {
            return;
        }
        c.tls = Some(info);
        c.stage = Stage::ExpectHeader;
        c.header_sent = false;
        c.reader.reset();
    }

    /// Bytes arrived on `conn` (decrypted, if TLS is on).
    pub fn handle_bytes(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        self.now = now;
        if self.s2s.links.contains_key(&conn) {
            self.s2s_bytes(conn, data);
            return;
        }
        let l = &self.config.limits;
        let rate = f64::from(l.c2s_bytes_per_second);
        let burst = rate * f64::from(l.c2s_burst_seconds.max(1));
        let max_buffer = self.config.stream.max_stanza_bytes.saturating_mul(2);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if matches!(c.stage, Stage::TlsHandshake) {
            // Plaintext where a TLS handshake should be: nothing sensible to answer.
            self.drop_conn(conn, false, true);
            return;
        }
        c.last_rx = now;
        c.ping_sent = None;
        // An authenticated component (XEP-0114) carries many users' traffic:
        // the per-client byte rate does not apply to it.
        let attached = matches!(c.stage, Stage::Component(ComponentStage::Ready { .. }));
        if let Some(resume) = c.budget.consume(data.len(), rate, burst, now).filter(|_| !attached) {
            c.throttled_until = Some(resume);
        }
        let data = if c.skip_whitespace { trim_xml_whitespace(data) } else { data };
        c.skip_whitespace &= data.is_empty();
        c.reader.feed(data);
        if c.reader.buffered_len() > max_buffer {
            self.stream_error(conn, StreamCondition::PolicyViolation);
            return;
        }
        self.process(conn);
        self.update_read_state(conn);
        self.arm_conn(conn);
    }

    /// The transport of `conn` closed or failed. A stream-managed session
    /// waits to be resumed; others end now.
    pub fn handle_connection_closed(&mut self, conn: ConnId, now: Instant) {
        self.now = now;
        if self.conns.contains_key(&conn) {
            self.drop_conn(conn, true, false);
        }
        self.s2s_drop(conn, false, super::error::StanzaCondition::RemoteServerNotFound);
    }

    /// Parse and act on buffered input until it runs out or the connection
    /// must wait.
    pub(crate) fn process(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.waiting.is_some() || matches!(c.stage, Stage::TlsHandshake) {
                return;
            }
            match c.reader.poll_event() {
                Ok(None) => return,
                Ok(Some(XmlEvent::Keepalive)) => {}
                Ok(Some(XmlEvent::StreamOpen(header))) => match c.stage {
                    Stage::Component(_) => self.component_stream_open(conn, header),
                    _ => self.stream_open(conn, header),
                },
                Ok(Some(XmlEvent::Stanza(e))) => match c.stage {
                    Stage::Bound(sid) => self.session_element(conn, sid, e),
                    Stage::Component(_) => self.component_element(conn, e),
                    _ => self.negotiation_element(conn, e),
                },
                Ok(Some(XmlEvent::StreamClose)) => {
                    self.transmit(conn, b"</stream:stream>");
                    self.emit(Event::Close { conn });
                    self.drop_conn(conn, false, false);
                    return;
                }
                Err(e) => {
                    self.stream_error(conn, StreamCondition::from_reader(e.condition()));
                    return;
                }
            }
        }
    }

    /// Send `<stream:error>` (after a stream header if none was sent yet,
    /// RFC 6120 §4.9.1.3), close the stream and forget the connection.
    pub(crate) fn stream_error(&mut self, conn: ConnId, condition: StreamCondition) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.ensure_header(conn);
        self.write_element(conn, &condition.to_element());
        self.transmit(conn, b"</stream:stream>");
        self.emit(Event::Close { conn });
        let detach = condition == StreamCondition::ConnectionTimeout;
        self.drop_conn(conn, detach, false);
    }

    /// Forget a connection. Its session is detached (if `detach` and it is
    /// resumable) or ended. `close` asks the shell to close the socket.
    pub(crate) fn drop_conn(&mut self, conn: ConnId, detach: bool, close: bool) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if close {
            self.emit(Event::Close { conn });
        }
        let ip = c.peer.ip();
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
        match c.stage {
            Stage::Bound(sid) => self.connection_lost(sid, detach),
            Stage::Component(_) => self.component_closed(conn),
            _ => {}
        }
    }

    /// Emit pause/resume when the reason to stop reading changed.
    pub(crate) fn update_read_state(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let pause = c.waiting.is_some() || c.throttled_until.is_some();
        if pause != c.read_paused {
            c.read_paused = pause;
            self.emit(if pause {
                Event::PauseReading { conn }
            } else {
                Event::ResumeReading { conn }
            });
        }
    }

    /// Suspend parsing until `id` is answered.
    pub(crate) fn wait_for(&mut self, conn: ConnId, id: RequestId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.waiting = Some(id);
        }
        self.update_read_state(conn);
    }

    /// The answer `id` arrived: continue parsing what is buffered.
    pub(crate) fn resume_after(&mut self, conn: ConnId, id: RequestId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.waiting == Some(id) {
            c.waiting = None;
        }
        self.process(conn);
        self.update_read_state(conn);
        self.arm_conn(conn);
    }

    fn next_conn_deadline(&self, c: &Connection) -> Option<Instant> {
        let t = &self.config.timeouts;
        let own = match c.stage {
            // An authenticated component is kept until it closes.
            Stage::Component(ComponentStage::Ready { .. }) => return c.throttled_until,
            Stage::Bound(_) => match c.ping_sent {
                Some(at) => at + t.ping_timeout(),
                None => c.last_rx + t.ping_interval(),
            },
            _ => c.opened + t.negotiation(),
        };
        Some(c.throttled_until.map_or(own, |u| u.min(own)))
    }

    pub(crate) fn arm_conn(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let Some(at) = self.next_conn_deadline(c) else {
            return;
        };
        let now = self.now;
        let rearm = c.armed.is_none_or(|a| at < a || a <= now);
        if rearm {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.armed = Some(at);
            }
            self.arm(at, TimerKey::Conn(conn));
        }
    }

    pub(crate) fn conn_timeout(&mut self, conn: ConnId) {
        let now = self.now;
        let t = self.config.timeouts.clone();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.armed = None;
        if c.throttled_until.is_some_and(|u| u <= now) {
            c.throttled_until = None;
        }
        let bound = matches!(c.stage, Stage::Bound(_));
        let attached = matches!(c.stage, Stage::Component(ComponentStage::Ready { .. }));
        let timed_out = if attached {
            false
        } else if bound {
            c.ping_sent.is_some_and(|at| now >= at + t.ping_timeout())
        } else {
            now >= c.opened + t.negotiation()
        };
        if timed_out {
            self.stream_error(conn, StreamCondition::ConnectionTimeout);
            return;
        }
        if bound && c.ping_sent.is_none() && now >= c.last_rx + t.ping_interval() {
            c.ping_sent = Some(now);
            self.send_server_ping(conn);
        }
        self.update_read_state(conn);
        self.arm_conn(conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::session::Session;

    /// Each idle client pays for one `Connection` and one `Session` for its
    /// whole life (both boxed in the server's maps): rarely used state stays
    /// boxed behind them (stream-management, a reader's failure).
    #[test]
    fn connection_and_session_records_stay_small() {
        let conn = std::mem::size_of::<Connection>();
        let session = std::mem::size_of::<Session>();
        assert!(conn <= 1008, "a Connection is {conn} bytes");
        assert!(session <= 304, "a Session is {session} bytes");
    }
}
