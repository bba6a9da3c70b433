//! The two socket options socket2 does not expose: IPv4 path-MTU discovery mode
//! and IPv6 DONTFRAG, which decide whether relayed datagrams carry the DF bit.
//!
//! `quinn_udp::UdpSocketState::new` forbids fragmentation on every socket it
//! sets up. That suits the listening sockets, but a TURN relay must let the
//! kernel fragment what it sends to peers unless the client asked for
//! DONT-FRAGMENT (RFC 8656 §14.8), so relay sockets call [`set_fragmentation`]
//! right after creating their `UdpSocketState`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, RawFd};

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a live c_int and `len` is its exact size; the kernel
    // only reads `len` bytes from the pointer during the call.
    let rc = unsafe { libc::setsockopt(fd, level, name, (&raw const value).cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals; the kernel writes at most
    // `len` bytes to `value` and updates `len`.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast(), &raw mut len) };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether datagrams sent on a socket may be fragmented by the IP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragmentation {
    /// The kernel fragments datagrams larger than the path MTU (DF clear).
    Allow,
    /// Datagrams carry DF; oversized ones fail with EMSGSIZE.
    Forbid,
}

/// Set the fragmentation policy of a UDP socket of either family.
///
/// On an IPv6 socket both the IPv6 and the IPv4 options are set, since a
/// dual-stack socket may carry IPv4-mapped traffic; failures of the IPv4 option
/// there are ignored.
pub fn set_fragmentation(socket: &impl AsRawFd, ipv6: bool, policy: Fragmentation) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let v4_mode = match policy {
        Fragmentation::Allow => libc::IP_PMTUDISC_DONT,
        Fragmentation::Forbid => libc::IP_PMTUDISC_DO,
    };
    if ipv6 {
        let (v6_mode, dontfrag) = match policy {
            Fragmentation::Allow => (libc::IPV6_PMTUDISC_DONT, 0),
            Fragmentation::Forbid => (libc::IPV6_PMTUDISC_DO, 1),
        };
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, v6_mode)?;
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, dontfrag)?;
        let _ = set_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, v4_mode);
        Ok(())
    } else {
        set_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, v4_mode)
    }
}

/// The fragmentation policy currently in force (read back with getsockopt).
pub fn fragmentation(socket: &impl AsRawFd, ipv6: bool) -> io::Result<Fragmentation> {
    let fd = socket.as_raw_fd();
    let forbidden = if ipv6 {
        int(fd, libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG)? != 0
            || int(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER)? != libc::IPV6_PMTUDISC_DONT
    } else {
        int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER)? != libc::IP_PMTUDISC_DONT
    };
    Ok(if forbidden { Fragmentation::Forbid } else { Fragmentation::Allow })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn quinn_udp_forbids_fragmentation_and_relays_can_allow_it_again() {
        for (addr, v6) in [("127.0.0.1:0", false), ("[::1]:0", true)] {
            let Ok(sock) = UdpSocket::bind(addr) else {
                // A host without IPv6 loopback only runs the IPv4 half.
                assert!(v6, "IPv4 loopback must exist");
                continue;
            };
            let _state = quinn_udp::UdpSocketState::new((&sock).into()).unwrap();
            assert_eq!(fragmentation(&sock, v6).unwrap(), Fragmentation::Forbid);
            set_fragmentation(&sock, v6, Fragmentation::Allow).unwrap();
            assert_eq!(fragmentation(&sock, v6).unwrap(), Fragmentation::Allow);
            set_fragmentation(&sock, v6, Fragmentation::Forbid).unwrap();
            assert_eq!(fragmentation(&sock, v6).unwrap(), Fragmentation::Forbid);
        }
    }
}
