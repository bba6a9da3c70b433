//! The test side of the wire: a UDP/TCP transport and a small TURN client
//! with long-term credentials, built on `rtc-stun`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use rtc_stun::attr::{
    AdditionalAddressFamily, AddressFamily, Data, ErrorCode, Lifetime, Nonce, Realm, RequestedTransport, Username,
    XorMappedAddress, XorPeerAddress, XorRelayedAddress,
};
use rtc_stun::{Attribute, ChannelNumber, Class, Message, MessageEncoder, MessageType, Method, TransactionId};

/// How long to wait for one answer before retransmitting.
const RTO: Duration = Duration::from_millis(700);

/// One frame or datagram as received.
#[derive(Debug, Clone)]
pub struct Packet(pub Vec<u8>);

impl Packet {
    /// The parsed STUN message (panics if it is not one).
    pub fn msg(&self) -> Message<'_> {
        Message::parse(&self.0).unwrap()
    }

    /// Whether this is a STUN message.
    pub fn is_stun(&self) -> bool {
        matches!(self.0.first(), Some(b) if b >> 6 == 0) && Message::parse(&self.0).is_ok()
    }

    /// The class of a STUN message.
    pub fn class(&self) -> Class {
        self.msg().class()
    }

    /// ERROR-CODE of an error response.
    pub fn error(&self) -> Option<u16> {
        self.msg().attr::<ErrorCode<'_>>().unwrap().map(|e| e.code())
    }

    /// An attribute, decoded.
    pub fn attr<'a, A: Attribute<'a>>(&'a self) -> Option<A> {
        Message::parse(&self.0).unwrap().attr::<A>().unwrap()
    }
}

/// A STUN/TURN transport to the server: UDP datagrams or a TCP stream.
pub enum Wire {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream, Vec<u8>),
}

impl Wire {
    /// A UDP socket on 127.0.0.1 aimed at `server`.
    pub fn udp(server: SocketAddr) -> Self {
        Self::udp_from("127.0.0.1", server)
    }

    /// A UDP socket on `local_ip` aimed at `server`.
    pub fn udp_from(local_ip: &str, server: SocketAddr) -> Self {
        let s = UdpSocket::bind((local_ip, 0)).unwrap();
        Self::Udp(s, server)
    }

    /// A TCP connection to `server`.
    pub fn tcp(server: SocketAddr) -> Self {
        let s = TcpStream::connect(server).unwrap();
        s.set_nodelay(true).unwrap();
        Self::Tcp(s, Vec::new())
    }

    /// Send one message (or ChannelData, padded on TCP).
    pub fn send(&mut self, bytes: &[u8]) {
        match self {
            Self::Udp(s, to) => {
                s.send_to(bytes, *to).unwrap();
            }
            Self::Tcp(s, _) => s.write_all(bytes).unwrap(),
        }
    }

    /// Whether frames on this wire are padded to 4 bytes.
    pub fn is_stream(&self) -> bool {
        matches!(self, Self::Tcp(..))
    }

    /// The next datagram or frame, or `None` after `timeout` (or on EOF).
    pub fn recv(&mut self, timeout: Duration) -> Option<Packet> {
        match self {
            Self::Udp(s, _) => {
                s.set_read_timeout(Some(timeout)).unwrap();
                let mut buf = vec![0u8; 65536];
                let (n, _) = s.recv_from(&mut buf).ok()?;
                buf.truncate(n);
                Some(Packet(buf))
            }
            Self::Tcp(s, pending) => {
                let deadline = Instant::now() + timeout;
                loop {
                    if let Some(len) = frame_len(pending) {
                        if pending.len() >= len {
                            let frame: Vec<u8> = pending.drain(..len).collect();
                            return Some(Packet(frame));
                        }
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    s.set_read_timeout(Some(left)).unwrap();
                    let mut buf = [0u8; 4096];
                    match s.read(&mut buf) {
                        Ok(0) => return None,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                        Err(_) => return None,
                    }
                }
            }
        }
    }

    /// The local address.
    pub fn local(&self) -> SocketAddr {
        match self {
            Self::Udp(s, _) => s.local_addr().unwrap(),
            Self::Tcp(s, _) => s.local_addr().unwrap(),
        }
    }
}

fn frame_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 4 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    Some(if buf[0] >> 6 == 1 { 4 + len.div_ceil(4) * 4 } else { 20 + len })
}

fn new_tid() -> TransactionId {
    TransactionId::new(rand::random())
}

/// A TURN client with long-term credentials.
pub struct Client {
    pub wire: Wire,
    pub username: String,
    password: String,
    realm: String,
    nonce: String,
    /// Packets that arrived while waiting for a response (indications, ChannelData).
    pub backlog: Vec<Packet>,
}

impl Client {
    /// A client on `wire` that will authenticate as `username`/`password`.
    pub fn new(wire: Wire, username: &str, password: &str) -> Self {
        Self {
            wire,
            username: username.to_owned(),
            password: password.to_owned(),
            realm: String::new(),
            nonce: String::new(),
            backlog: Vec::new(),
        }
    }

    fn key(&self) -> [u8; 16] {
        turnd::core::UserKeys::derive(&self.username, &self.realm, &self.password).md5.unwrap()
    }

    /// Encode a request of `method`; `attrs` adds the method's attributes;
    /// credentials are added once a realm and nonce are known.
    pub fn encode(
        &self,
        method: Method,
        tid: TransactionId,
        attrs: &dyn Fn(&mut MessageEncoder<'_>) -> Result<(), rtc_stun::Error>,
        authenticate: bool,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = MessageEncoder::new(&mut out, MessageType::new(method, Class::Request), tid);
        attrs(&mut enc).unwrap();
        if authenticate && !self.nonce.is_empty() {
            enc.add(&Username::new(&self.username).unwrap()).unwrap();
            enc.add(&Realm::new(&self.realm).unwrap()).unwrap();
            enc.add(&Nonce::new(&self.nonce).unwrap()).unwrap();
            enc.integrity(&self.key()).unwrap();
        }
        enc.fingerprint().unwrap();
        enc.finish();
        out
    }

    /// Send `bytes` and wait for the response with transaction id `tid`,
    /// retransmitting over UDP. Other packets are kept in `backlog`.
    pub fn exchange(&mut self, bytes: &[u8], tid: TransactionId) -> Option<Packet> {
        let tries = if self.wire.is_stream() { 1 } else { 4 };
        for _ in 0..tries {
            self.wire.send(bytes);
            let deadline = Instant::now() + if self.wire.is_stream() { RTO * 4 } else { RTO };
            while let Some(p) = self.wire.recv(deadline.saturating_duration_since(Instant::now())) {
                if p.is_stun() && p.msg().transaction_id() == tid && p.class() != Class::Request {
                    return Some(p);
                }
                self.backlog.push(p);
            }
        }
        None
    }

    /// A request with the 401/438 dance: learn REALM and NONCE, then retry
    /// with credentials. `None` when the server never answered.
    pub fn request(
        &mut self,
        method: Method,
        attrs: &dyn Fn(&mut MessageEncoder<'_>) -> Result<(), rtc_stun::Error>,
    ) -> Option<Packet> {
        for _ in 0..3 {
            let tid = new_tid();
            let bytes = self.encode(method, tid, attrs, true);
            let p = self.exchange(&bytes, tid)?;
            if p.class() == Class::Error && matches!(p.error(), Some(401 | 438)) {
                let realm = p.attr::<Realm<'_>>().map(|r| r.as_str().to_owned());
                let nonce = p.attr::<Nonce<'_>>().map(|n| n.as_str().to_owned());
                let fresh = nonce.as_deref() != Some(self.nonce.as_str()) || p.error() == Some(438);
                if let (Some(r), Some(n)) = (realm, nonce) {
                    self.realm = r;
                    self.nonce = n;
                    if fresh || p.error() == Some(438) {
                        continue;
                    }
                }
            }
            return Some(p);
        }
        None
    }

    /// Allocate a UDP relay (IPv4, plus IPv6 when `dual`).
    pub fn allocate(&mut self, dual: bool) -> Option<Packet> {
        self.request(Method::ALLOCATE, &|e| {
            e.add(&RequestedTransport::UDP)?;
            if dual {
                e.add(&AdditionalAddressFamily(AddressFamily::Ipv6))?;
            }
            Ok(())
        })
    }

    /// Allocate and return the (first) relayed address, panicking on failure.
    pub fn allocate_ok(&mut self) -> SocketAddr {
        let p = self.allocate(false).expect("Allocate got no answer");
        assert_eq!(p.class(), Class::Success, "Allocate failed: {:?}", p.error());
        assert!(p.attr::<XorMappedAddress>().is_some());
        p.attr::<XorRelayedAddress>().unwrap().0
    }

    /// CreatePermission for `peers`; the response class and error code.
    pub fn create_permission(&mut self, peers: &[SocketAddr]) -> (Class, Option<u16>) {
        let peers = peers.to_vec();
        let p = self
            .request(Method::CREATE_PERMISSION, &|e| {
                for peer in &peers {
                    e.add(&XorPeerAddress(*peer))?;
                }
                Ok(())
            })
            .expect("CreatePermission got no answer");
        (p.class(), p.error())
    }

    /// ChannelBind `number` to `peer`.
    pub fn channel_bind(&mut self, number: u16, peer: SocketAddr) -> (Class, Option<u16>) {
        let p = self
            .request(Method::CHANNEL_BIND, &|e| {
                e.add(&ChannelNumber::new(number)?)?;
                e.add(&XorPeerAddress(peer))?;
                Ok(())
            })
            .expect("ChannelBind got no answer");
        (p.class(), p.error())
    }

    /// Refresh with `lifetime` seconds.
    pub fn refresh(&mut self, lifetime: u32) -> (Class, Option<u16>) {
        let p = self.request(Method::REFRESH, &|e| e.add(&Lifetime(lifetime)).map(drop)).expect("Refresh got no answer");
        (p.class(), p.error())
    }

    /// A Send indication carrying `data` to `peer`.
    pub fn send_indication(&mut self, peer: SocketAddr, data: &[u8]) {
        let mut out = Vec::new();
        let mut enc = MessageEncoder::new(&mut out, MessageType::new(Method::SEND, Class::Indication), new_tid());
        enc.add(&XorPeerAddress(peer)).unwrap();
        enc.add(&Data(data)).unwrap();
        enc.finish();
        self.wire.send(&out);
    }

    /// A ChannelData message on `number`.
    pub fn send_channel_data(&mut self, number: u16, data: &[u8]) {
        let mut out = Vec::new();
        out.extend_from_slice(&number.to_be_bytes());
        out.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        out.extend_from_slice(data);
        if self.wire.is_stream() {
            while out.len() % 4 != 0 {
                out.push(0);
            }
        }
        self.wire.send(&out);
    }

    /// The next packet that is not a response: from the backlog, or the wire.
    pub fn next_packet(&mut self, timeout: Duration) -> Option<Packet> {
        if !self.backlog.is_empty() {
            return Some(self.backlog.remove(0));
        }
        self.wire.recv(timeout)
    }

    /// Wait for a Data indication; its (peer, data).
    pub fn expect_data_indication(&mut self) -> (SocketAddr, Vec<u8>) {
        let p = self.next_packet(Duration::from_secs(5)).expect("no Data indication");
        let msg = p.msg();
        assert_eq!(msg.method(), Method::DATA);
        assert_eq!(msg.class(), Class::Indication);
        let peer = msg.attr::<XorPeerAddress>().unwrap().unwrap().0;
        let data = msg.attr::<Data<'_>>().unwrap().unwrap().0.to_vec();
        (peer, data)
    }

    /// Wait for ChannelData; its (channel, data).
    pub fn expect_channel_data(&mut self) -> (u16, Vec<u8>) {
        let p = self.next_packet(Duration::from_secs(5)).expect("no ChannelData");
        let b = &p.0;
        assert_eq!(b[0] >> 6, 1, "not ChannelData: {b:02x?}");
        let number = u16::from_be_bytes([b[0], b[1]]);
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        (number, b[4..4 + len].to_vec())
    }
}

/// A Binding request over `wire`; the XOR-MAPPED-ADDRESS of the answer.
pub fn binding(wire: &mut Wire) -> Option<SocketAddr> {
    let tid = new_tid();
    let mut out = Vec::new();
    MessageEncoder::new(&mut out, MessageType::new(Method::BINDING, Class::Request), tid).fingerprint().unwrap();
    for _ in 0..4 {
        wire.send(&out);
        let deadline = Instant::now() + RTO;
        while let Some(p) = wire.recv(deadline.saturating_duration_since(Instant::now())) {
            if p.is_stun() && p.msg().transaction_id() == tid {
                assert_eq!(p.class(), Class::Success);
                return p.attr::<XorMappedAddress>().map(|x| x.0);
            }
        }
    }
    None
}

/// A UDP peer on 127.0.0.1 that echoes every datagram back.
pub fn echo_peer() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    });
    addr
}
