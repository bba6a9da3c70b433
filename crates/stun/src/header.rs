//! The fixed 20-byte STUN header: message type, magic cookie and transaction id (RFC 8489 §5).

use std::fmt;

/// The magic cookie every RFC 5389/8489 message carries in bytes 4..8 (RFC 8489 §5).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// Length of the STUN header in bytes (RFC 8489 §5).
pub const HEADER_LEN: usize = 20;

/// Largest value of the header's length field: 16 bits, and a multiple of 4 (RFC 8489 §5).
pub const MAX_BODY_LEN: usize = 0xFFFC;

/// Largest possible STUN message on the wire, header included.
pub const MAX_MESSAGE_LEN: usize = HEADER_LEN + MAX_BODY_LEN;

/// The 96-bit transaction id that pairs a response with its request (RFC 8489 §5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId([u8; 12]);

impl TransactionId {
    /// Wraps 12 bytes taken from the wire or from a random source.
    pub const fn new(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    /// The 12 bytes as sent on the wire.
    pub const fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

impl From<[u8; 12]> for TransactionId {
    fn from(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransactionId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// A 12-bit STUN method (RFC 8489 §5, §18.2; RFC 8656 §17; RFC 6062 §6.1).
///
/// Kept as a number so that methods this crate does not name still round-trip;
/// a server answers those with 400 itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(u16);

impl Method {
    /// Binding (RFC 8489 §18.2).
    pub const BINDING: Self = Self(0x001);
    /// Allocate (RFC 8656 §17).
    pub const ALLOCATE: Self = Self(0x003);
    /// Refresh (RFC 8656 §17).
    pub const REFRESH: Self = Self(0x004);
    /// Send, indication only (RFC 8656 §17).
    pub const SEND: Self = Self(0x006);
    /// Data, indication only (RFC 8656 §17).
    pub const DATA: Self = Self(0x007);
    /// CreatePermission (RFC 8656 §17).
    pub const CREATE_PERMISSION: Self = Self(0x008);
    /// ChannelBind (RFC 8656 §17).
    pub const CHANNEL_BIND: Self = Self(0x009);
    /// Connect (RFC 6062 §6.1).
    pub const CONNECT: Self = Self(0x00A);
    /// ConnectionBind (RFC 6062 §6.1).
    pub const CONNECTION_BIND: Self = Self(0x00B);
    /// ConnectionAttempt, indication only (RFC 6062 §6.1).
    pub const CONNECTION_ATTEMPT: Self = Self(0x00C);

    /// Builds a method from its 12-bit number; returns `None` above 0xFFF.
    pub const fn new(value: u16) -> Option<Self> {
        if value <= 0xFFF {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The 12-bit method number.
    pub const fn value(self) -> u16 {
        self.0
    }

    /// The RFC name of a method this crate knows, e.g. `"Allocate"`.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x001 => "Binding",
            0x003 => "Allocate",
            0x004 => "Refresh",
            0x006 => "Send",
            0x007 => "Data",
            0x008 => "CreatePermission",
            0x009 => "ChannelBind",
            0x00A => "Connect",
            0x00B => "ConnectionBind",
            0x00C => "ConnectionAttempt",
            _ => return None,
        })
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Method({:#05x})", self.0),
        }
    }
}

/// The message class encoded in bits C1 and C0 of the type (RFC 8489 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// 0b00: a request, which expects a response.
    Request,
    /// 0b01: an indication, which gets no response.
    Indication,
    /// 0b10: a success response.
    Success,
    /// 0b11: an error response.
    Error,
}

impl Class {
    const fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        }
    }

    const fn from_bits(bits: u16) -> Self {
        match bits & 0b11 {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::Success,
            _ => Class::Error,
        }
    }
}

/// Method and class together: the 14-bit message type field (RFC 8489 §5, Figure 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageType {
    /// The method, e.g. [`Method::ALLOCATE`].
    pub method: Method,
    /// The class, e.g. [`Class::Request`].
    pub class: Class,
}

impl MessageType {
    /// Combines a method and a class.
    pub const fn new(method: Method, class: Class) -> Self {
        Self { method, class }
    }

    /// The same method with another class, e.g. the success response to a request.
    pub const fn with_class(self, class: Class) -> Self {
        Self {
            method: self.method,
            class,
        }
    }

    /// Interleaves method bits M0..M11 with class bits C0, C1 as in Figure 3.
    pub const fn to_wire(self) -> u16 {
        let m = self.method.0;
        let c = self.class.bits();
        (m & 0x000F)
            | ((m & 0x0070) << 1)
            | ((m & 0x0F80) << 2)
            | ((c & 0b01) << 4)
            | ((c & 0b10) << 7)
    }

    /// Splits a wire value into method and class; the two top bits are ignored.
    pub const fn from_wire(value: u16) -> Self {
        let method = (value & 0x000F) | ((value >> 1) & 0x0070) | ((value >> 2) & 0x0F80);
        let class = ((value >> 4) & 0b01) | ((value >> 7) & 0b10);
        Self {
            method: Method(method),
            class: Class::from_bits(class),
        }
    }
}

/// The parts of a header a server needs to answer, even when the rest is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Method and class; only requests get an error response.
    pub message_type: MessageType,
    /// Transaction id to echo in the response.
    pub transaction_id: TransactionId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_match_the_wire_values_in_the_rfcs() {
        let cases = [
            (Method::BINDING, Class::Request, 0x0001),
            (Method::BINDING, Class::Indication, 0x0011),
            (Method::BINDING, Class::Success, 0x0101),
            (Method::BINDING, Class::Error, 0x0111),
            (Method::ALLOCATE, Class::Request, 0x0003),
            (Method::ALLOCATE, Class::Error, 0x0113),
            (Method::SEND, Class::Indication, 0x0016),
            (Method::DATA, Class::Indication, 0x0017),
            (Method::CONNECTION_ATTEMPT, Class::Indication, 0x001C),
        ];
        for (method, class, wire) in cases {
            let t = MessageType::new(method, class);
            assert_eq!(t.to_wire(), wire, "{t:?}");
            assert_eq!(MessageType::from_wire(wire), t);
        }
    }

    #[test]
    fn every_method_and_class_round_trips() {
        for m in 0..=0xFFF {
            for class in [
                Class::Request,
                Class::Indication,
                Class::Success,
                Class::Error,
            ] {
                let t = MessageType::new(Method(m), class);
                let wire = t.to_wire();
                assert_eq!(wire & 0xC000, 0);
                assert_eq!(MessageType::from_wire(wire), t);
            }
        }
    }

    #[test]
    fn method_numbers_above_twelve_bits_are_rejected() {
        assert_eq!(Method::new(0xFFF).map(Method::value), Some(0xFFF));
        assert_eq!(Method::new(0x1000), None);
    }

    #[test]
    fn debug_output_names_known_methods() {
        assert_eq!(format!("{:?}", Method::CHANNEL_BIND), "ChannelBind");
        assert_eq!(format!("{:?}", Method(0x0FF)), "Method(0x0ff)");
        let tid = TransactionId::new([0xab; 12]);
        assert_eq!(
            format!("{tid:?}"),
            format!("TransactionId({})", "ab".repeat(12))
        );
    }
}
