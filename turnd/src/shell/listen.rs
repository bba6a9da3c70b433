//! Binding the configured listeners once per worker with `SO_REUSEPORT`, so
//! the kernel spreads clients over the workers and keeps each client's
//! 5-tuple on one of them.
//!
//! The first socket of a listener binds the configured address (port 0
//! included); the other workers bind the address it actually got.

use std::io;
use std::net::SocketAddr;

use rtc_daemon::Listener;
use socket2::{Domain, Protocol, Socket, Type};

use super::common::WorkerSockets;
use super::error::ShellError;
use super::udp::bind_udp;
use crate::config::{ListenerConfig, ListenerProto};
use crate::core::Transport;

/// Pending connections per TCP/TLS listening socket.
const BACKLOG: i32 = 1024;

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Every worker's sockets, and the listeners to announce (with real ports).
#[derive(Debug)]
pub(crate) struct Bound {
    /// Sockets by worker index.
    pub(crate) workers: Vec<WorkerSockets>,
    /// One entry per configured listener.
    pub(crate) listeners: Vec<Listener>,
}

/// Bind every listener `workers` times.
pub(crate) fn bind_all(configs: &[ListenerConfig], workers: usize) -> Result<Bound, ShellError> {
    let mut out: Vec<WorkerSockets> = (0..workers).map(|_| WorkerSockets::default()).collect();
    let mut listeners = Vec::new();
    for l in configs {
        let err = |addr, source| ShellError::Listen { proto: l.proto.proto(), addr, source };
        let mut addr = l.addr;
        for sockets in &mut out {
            match l.proto {
                ListenerProto::Udp => {
                    let s = bind_udp(addr, true).map_err(|e| err(addr, e))?;
                    addr = s.local_addr().map_err(|e| err(addr, e))?;
                    sockets.udp.push(s);
                }
                ListenerProto::Tcp | ListenerProto::Tls => {
                    let s = bind_tcp(addr).map_err(|e| err(addr, e))?;
                    addr = s.local_addr().map_err(|e| err(addr, e))?;
                    let transport = if l.proto == ListenerProto::Tls { Transport::Tls } else { Transport::Tcp };
                    sockets.streams.push((s, transport));
                }
            }
        }
        listeners.push(Listener::new("turn", l.proto.proto(), addr));
    }
    Ok(Bound { workers: out, listeners })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_resolves_once_and_every_worker_shares_it() {
        let configs = [
            ListenerConfig::new(ListenerProto::Udp, "127.0.0.1:0".parse().unwrap()),
            ListenerConfig::new(ListenerProto::Tcp, "127.0.0.1:0".parse().unwrap()),
        ];
        let bound = bind_all(&configs, 3).unwrap();
        assert_eq!(bound.listeners.len(), 2);
        let udp = bound.listeners[0].addr;
        let tcp = bound.listeners[1].addr;
        assert_ne!(udp.port(), 0);
        assert_ne!(tcp.port(), 0);
        for w in &bound.workers {
            assert_eq!(w.udp[0].local_addr().unwrap(), udp);
            assert_eq!(w.streams[0].0.local_addr().unwrap(), tcp);
        }
    }

    #[test]
    fn a_port_in_use_is_an_error_naming_the_listener() {
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let configs = [ListenerConfig::new(ListenerProto::Udp, addr)];
        let e = bind_all(&configs, 1).unwrap_err();
        assert!(e.to_string().contains(&format!("udp {addr}")), "{e}");
    }
}
