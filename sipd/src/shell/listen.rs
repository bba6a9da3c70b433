//! Binding the configured listeners: one UDP socket or TCP listening socket
//! each, IPv6 sockets IPv6-only so `0.0.0.0` and `[::]` can share a port.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use super::error::ShellError;
use super::udp::bind_udp;
use crate::config::{ListenerConfig, ListenerProto};
use crate::core::{Listener, ListenerId};

/// Pending connections per listening socket.
const BACKLOG: i32 = 1024;

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// A bound socket.
#[derive(Debug)]
pub(crate) enum Socketish {
    /// A UDP listener.
    Udp(std::net::UdpSocket),
    /// A TCP, TLS, WS or WSS listener.
    Stream(std::net::TcpListener),
}

/// One bound listener.
#[derive(Debug)]
pub(crate) struct BoundListener {
    /// Its position in the configuration, which is also its core id.
    pub(crate) index: usize,
    /// The core's view (with the real port).
    pub(crate) core: Listener,
    /// The socket.
    pub(crate) socket: Socketish,
}

/// Bind every listener, in configuration order.
pub(crate) fn bind_all(configs: &[ListenerConfig]) -> Result<Vec<BoundListener>, ShellError> {
    let mut out = Vec::new();
    for (index, l) in configs.iter().enumerate() {
        let err = |source| ShellError::Listen { proto: l.proto.proto(), addr: l.addr, source };
        let (socket, local) = if l.proto == ListenerProto::Udp {
            let s = bind_udp(l.addr).map_err(err)?;
            let local = s.local_addr().map_err(err)?;
            (Socketish::Udp(s), local)
        } else {
            let s = bind_tcp(l.addr).map_err(err)?;
            let local = s.local_addr().map_err(err)?;
            (Socketish::Stream(s), local)
        };
        let id = ListenerId(u16::try_from(index).unwrap_or(u16::MAX));
        let core = Listener {
            id,
            transport: l.proto.transport(),
            local,
            advertised: l.advertised.clone(),
            record_route: l.record_route.clone(),
        };
        out.push(BoundListener { index, core, socket });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_is_resolved_and_udp_and_tcp_share_a_port_number() {
        let configs = [
            ListenerConfig::new(ListenerProto::Udp, "127.0.0.1:0".parse().unwrap()),
            ListenerConfig::new(ListenerProto::Wss, "127.0.0.1:0".parse().unwrap()),
        ];
        let bound = bind_all(&configs).unwrap();
        assert_eq!(bound.len(), 2);
        assert_ne!(bound[0].core.local.port(), 0);
        assert_eq!(bound[1].core.id, ListenerId(1));
        assert_eq!(bound[1].core.transport, crate::core::Transport::Wss);
    }

    #[test]
    fn a_port_in_use_is_an_error_naming_the_listener() {
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = bind_all(&[ListenerConfig::new(ListenerProto::Udp, addr)]).unwrap_err();
        assert!(e.to_string().contains(&format!("udp {addr}")), "{e}");
    }
}
