//! Attribute types and typed views of attribute values.
//!
//! Each typed view implements [`Attribute`]: it knows its [`AttrType`],
//! decodes from a value borrowed out of a [`Message`](crate::Message), and
//! encodes into a [`MessageEncoder`](crate::MessageEncoder).

use std::fmt;

use crate::error::Error;
use crate::header::TransactionId;

mod address;
mod auth;
mod error_code;
mod nat;
mod text;
mod turn;

pub use address::{
    AlternateServer, MappedAddress, OtherAddress, ResponseOrigin, XorMappedAddress, XorPeerAddress,
    XorRelayedAddress,
};
pub use auth::{
    AlgorithmId, PasswordAlgorithm, PasswordAlgorithms, PasswordAlgorithmsIter, SecurityFeatures,
    Userhash, NONCE_COOKIE,
};
pub use error_code::{recommended_reason, ErrorCode, UnknownAttributes, UnknownAttributesIter};
pub use nat::{ChangeRequest, Padding, ResponsePort};
pub use text::{AlternateDomain, Nonce, Realm, Software, Username};
pub use turn::{
    AdditionalAddressFamily, AddressErrorCode, AddressFamily, ConnectionId, Data, DontFragment,
    EvenPort, Icmp, Lifetime, RequestedAddressFamily, RequestedTransport, ReservationToken,
};

/// A typed view of one attribute's value.
///
/// `'a` is the lifetime of the buffer a decoded view borrows from.
pub trait Attribute<'a>: Sized {
    /// The attribute type this view reads and writes.
    const TYPE: AttrType;

    /// Decodes the value (without the 4-byte TLV header or padding).
    ///
    /// The transaction id is needed by the XOR-address attributes.
    fn decode(value: &'a [u8], transaction_id: &TransactionId) -> Result<Self, Error>;

    /// Appends the value (without TLV header or padding) to `out`.
    fn encode(&self, transaction_id: &TransactionId, out: &mut Vec<u8>);
}

/// A 16-bit attribute type (RFC 8489 §14, §18.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrType(u16);

macro_rules! attr_types {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal;)*) => {
        impl AttrType {
            $($(#[$doc])* pub const $name: Self = Self($value);)*

            /// The RFC name of a type this crate knows, e.g. `"XOR-MAPPED-ADDRESS"`.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

attr_types! {
    /// MAPPED-ADDRESS (RFC 8489 §14.1).
    MAPPED_ADDRESS = 0x0001, "MAPPED-ADDRESS";
    /// CHANGE-REQUEST (RFC 5780 §7.2).
    CHANGE_REQUEST = 0x0003, "CHANGE-REQUEST";
    /// USERNAME (RFC 8489 §14.3).
    USERNAME = 0x0006, "USERNAME";
    /// MESSAGE-INTEGRITY (RFC 8489 §14.5).
    MESSAGE_INTEGRITY = 0x0008, "MESSAGE-INTEGRITY";
    /// ERROR-CODE (RFC 8489 §14.8).
    ERROR_CODE = 0x0009, "ERROR-CODE";
    /// UNKNOWN-ATTRIBUTES (RFC 8489 §14.13).
    UNKNOWN_ATTRIBUTES = 0x000A, "UNKNOWN-ATTRIBUTES";
    /// CHANNEL-NUMBER (RFC 8656 §18.1).
    CHANNEL_NUMBER = 0x000C, "CHANNEL-NUMBER";
    /// LIFETIME (RFC 8656 §18.2).
    LIFETIME = 0x000D, "LIFETIME";
    /// XOR-PEER-ADDRESS (RFC 8656 §18.3).
    XOR_PEER_ADDRESS = 0x0012, "XOR-PEER-ADDRESS";
    /// DATA (RFC 8656 §18.4).
    DATA = 0x0013, "DATA";
    /// REALM (RFC 8489 §14.9).
    REALM = 0x0014, "REALM";
    /// NONCE (RFC 8489 §14.10).
    NONCE = 0x0015, "NONCE";
    /// XOR-RELAYED-ADDRESS (RFC 8656 §18.5).
    XOR_RELAYED_ADDRESS = 0x0016, "XOR-RELAYED-ADDRESS";
    /// REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.6).
    REQUESTED_ADDRESS_FAMILY = 0x0017, "REQUESTED-ADDRESS-FAMILY";
    /// EVEN-PORT (RFC 8656 §18.7).
    EVEN_PORT = 0x0018, "EVEN-PORT";
    /// REQUESTED-TRANSPORT (RFC 8656 §18.8).
    REQUESTED_TRANSPORT = 0x0019, "REQUESTED-TRANSPORT";
    /// DONT-FRAGMENT (RFC 8656 §18.9).
    DONT_FRAGMENT = 0x001A, "DONT-FRAGMENT";
    /// MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6).
    MESSAGE_INTEGRITY_SHA256 = 0x001C, "MESSAGE-INTEGRITY-SHA256";
    /// PASSWORD-ALGORITHM (RFC 8489 §14.12).
    PASSWORD_ALGORITHM = 0x001D, "PASSWORD-ALGORITHM";
    /// USERHASH (RFC 8489 §14.4).
    USERHASH = 0x001E, "USERHASH";
    /// XOR-MAPPED-ADDRESS (RFC 8489 §14.2).
    XOR_MAPPED_ADDRESS = 0x0020, "XOR-MAPPED-ADDRESS";
    /// RESERVATION-TOKEN (RFC 8656 §18.10).
    RESERVATION_TOKEN = 0x0022, "RESERVATION-TOKEN";
    /// PADDING (RFC 5780 §7.6).
    PADDING = 0x0026, "PADDING";
    /// RESPONSE-PORT (RFC 5780 §7.5).
    RESPONSE_PORT = 0x0027, "RESPONSE-PORT";
    /// CONNECTION-ID (RFC 6062 §6.2.1).
    CONNECTION_ID = 0x002A, "CONNECTION-ID";
    /// ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.11).
    ADDITIONAL_ADDRESS_FAMILY = 0x8000, "ADDITIONAL-ADDRESS-FAMILY";
    /// ADDRESS-ERROR-CODE (RFC 8656 §18.12).
    ADDRESS_ERROR_CODE = 0x8001, "ADDRESS-ERROR-CODE";
    /// PASSWORD-ALGORITHMS (RFC 8489 §14.11).
    PASSWORD_ALGORITHMS = 0x8002, "PASSWORD-ALGORITHMS";
    /// ALTERNATE-DOMAIN (RFC 8489 §14.16).
    ALTERNATE_DOMAIN = 0x8003, "ALTERNATE-DOMAIN";
    /// ICMP (RFC 8656 §18.13).
    ICMP = 0x8004, "ICMP";
    /// SOFTWARE (RFC 8489 §14.14).
    SOFTWARE = 0x8022, "SOFTWARE";
    /// ALTERNATE-SERVER (RFC 8489 §14.15).
    ALTERNATE_SERVER = 0x8023, "ALTERNATE-SERVER";
    /// FINGERPRINT (RFC 8489 §14.7).
    FINGERPRINT = 0x8028, "FINGERPRINT";
    /// RESPONSE-ORIGIN (RFC 5780 §7.3).
    RESPONSE_ORIGIN = 0x802B, "RESPONSE-ORIGIN";
    /// OTHER-ADDRESS (RFC 5780 §7.4).
    OTHER_ADDRESS = 0x802C, "OTHER-ADDRESS";
}

impl AttrType {
    /// Wraps any 16-bit type, known or not.
    pub const fn new(value: u16) -> Self {
        Self(value)
    }

    /// The 16-bit type as sent on the wire.
    pub const fn value(self) -> u16 {
        self.0
    }

    /// 0x0000..=0x7FFF: an agent that does not understand it must reject the message (RFC 8489 §14).
    pub const fn is_comprehension_required(self) -> bool {
        self.0 < 0x8000
    }

    /// Whether this crate has a name (and a typed view or verifier) for the type.
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }
}

impl fmt::Debug for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "AttrType({:#06x})", self.0),
        }
    }
}

/// Checks that a fixed-size value has exactly `N` bytes and copies them out.
pub(crate) fn fixed<const N: usize>(attr: AttrType, value: &[u8]) -> Result<[u8; N], Error> {
    value.try_into().map_err(|_| Error::AttributeLength {
        attr,
        len: value.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comprehension_ranges_follow_the_top_bit() {
        assert!(AttrType::XOR_MAPPED_ADDRESS.is_comprehension_required());
        assert!(AttrType::new(0x7FFF).is_comprehension_required());
        assert!(!AttrType::SOFTWARE.is_comprehension_required());
        assert!(!AttrType::new(0x8000).is_comprehension_required());
    }

    #[test]
    fn known_types_have_names_and_unknown_ones_print_as_hex() {
        assert!(AttrType::ICMP.is_known());
        assert_eq!(format!("{:?}", AttrType::DONT_FRAGMENT), "DONT-FRAGMENT");
        assert!(!AttrType::new(0x0024).is_known());
        assert_eq!(format!("{:?}", AttrType::new(0x0024)), "AttrType(0x0024)");
    }
}
