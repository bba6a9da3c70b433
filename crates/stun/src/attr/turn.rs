//! TURN attributes (RFC 8656 §18) and CONNECTION-ID (RFC 6062 §6.2.1).

use super::error_code::{join_code, split_code};
use super::text::{check_phrase, decode_phrase};
use super::{fixed, AttrType, Attribute};
use crate::channel_data::ChannelNumber;
use crate::error::Error;
use crate::header::TransactionId;
use crate::wire;

impl<'a> Attribute<'a> for ChannelNumber {
    /// CHANNEL-NUMBER: 16-bit channel number and 16 reserved bits (RFC 8656 §18.1).
    const TYPE: AttrType = AttrType::CHANNEL_NUMBER;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let [a, b, _, _] = fixed::<4>(Self::TYPE, value)?;
        ChannelNumber::new(u16::from_be_bytes([a, b]))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.value().to_be_bytes());
        out.extend_from_slice(&[0, 0]);
    }
}

macro_rules! u32_attribute {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub u32);

        impl<'a> Attribute<'a> for $name {
            const TYPE: AttrType = $ty;

            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
                fixed::<4>(Self::TYPE, value).map(|b| Self(u32::from_be_bytes(b)))
            }

            fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0.to_be_bytes());
            }
        }
    };
}

u32_attribute!(
    /// LIFETIME: requested or granted allocation lifetime in seconds (RFC 8656 §18.2).
    Lifetime,
    AttrType::LIFETIME
);
u32_attribute!(
    /// CONNECTION-ID: names a peer TCP connection of a TCP allocation (RFC 6062 §6.2.1).
    ConnectionId,
    AttrType::CONNECTION_ID
);

/// DATA: the application payload of a Send or Data indication (RFC 8656 §18.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Data<'a>(pub &'a [u8]);

impl<'a> Attribute<'a> for Data<'a> {
    const TYPE: AttrType = AttrType::DATA;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        Ok(Self(value))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0);
    }
}

/// An IP address family as carried by TURN attributes (RFC 8656 §18.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// 0x01.
    Ipv4,
    /// 0x02.
    Ipv6,
}

impl AddressFamily {
    fn from_byte(attr: AttrType, family: u8) -> Result<Self, Error> {
        match family {
            0x01 => Ok(Self::Ipv4),
            0x02 => Ok(Self::Ipv6),
            _ => Err(Error::AddressFamily { attr, family }),
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::Ipv4 => 0x01,
            Self::Ipv6 => 0x02,
        }
    }
}

macro_rules! family_attribute {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        ///
        /// An unknown family decodes to [`Error::AddressFamily`], which a
        /// server answers with 440 (Address Family not Supported).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub AddressFamily);

        impl<'a> Attribute<'a> for $name {
            const TYPE: AttrType = $ty;

            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
                let [family, _, _, _] = fixed::<4>(Self::TYPE, value)?;
                AddressFamily::from_byte(Self::TYPE, family).map(Self)
            }

            fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
                out.extend_from_slice(&[self.0.byte(), 0, 0, 0]);
            }
        }
    };
}

family_attribute!(
    /// REQUESTED-ADDRESS-FAMILY: family of the relayed address to allocate (RFC 8656 §18.6).
    RequestedAddressFamily,
    AttrType::REQUESTED_ADDRESS_FAMILY
);
family_attribute!(
    /// ADDITIONAL-ADDRESS-FAMILY: ask for a second, IPv6 relayed address (RFC 8656 §18.11).
    AdditionalAddressFamily,
    AttrType::ADDITIONAL_ADDRESS_FAMILY
);

/// EVEN-PORT: ask for an even relayed port, optionally reserving the next one (RFC 8656 §18.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EvenPort {
    /// The R bit: also reserve port + 1 and return a RESERVATION-TOKEN.
    pub reserve: bool,
}

impl<'a> Attribute<'a> for EvenPort {
    const TYPE: AttrType = AttrType::EVEN_PORT;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let [flags] = fixed::<1>(Self::TYPE, value)?;
        Ok(Self {
            reserve: flags & 0x80 != 0,
        })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        out.push(if self.reserve { 0x80 } else { 0 });
    }
}

/// REQUESTED-TRANSPORT: the IP protocol number of the relay (RFC 8656 §18.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestedTransport(pub u8);

impl RequestedTransport {
    /// UDP relaying (RFC 8656 §18.8).
    pub const UDP: Self = Self(17);
    /// TCP relaying (RFC 6062 §6.1).
    pub const TCP: Self = Self(6);
}

impl<'a> Attribute<'a> for RequestedTransport {
    const TYPE: AttrType = AttrType::REQUESTED_TRANSPORT;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let [protocol, _, _, _] = fixed::<4>(Self::TYPE, value)?;
        Ok(Self(protocol))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.0, 0, 0, 0]);
    }
}

/// DONT-FRAGMENT: set the DF bit on relayed UDP datagrams; it has no value (RFC 8656 §18.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DontFragment;

impl<'a> Attribute<'a> for DontFragment {
    const TYPE: AttrType = AttrType::DONT_FRAGMENT;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        fixed::<0>(Self::TYPE, value).map(|_| Self)
    }

    fn encode(&self, _: &TransactionId, _: &mut Vec<u8>) {}
}

/// RESERVATION-TOKEN: names a relayed port reserved by EVEN-PORT (RFC 8656 §18.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReservationToken(pub [u8; 8]);

impl<'a> Attribute<'a> for ReservationToken {
    const TYPE: AttrType = AttrType::RESERVATION_TOKEN;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        fixed::<8>(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

/// ADDRESS-ERROR-CODE: why one family of a dual allocation failed (RFC 8656 §18.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressErrorCode<'a> {
    family: AddressFamily,
    code: u16,
    reason: &'a str,
}

impl<'a> AddressErrorCode<'a> {
    /// A code in 300..=699 for `family`, with a reason of fewer than 128 characters.
    pub fn new(family: AddressFamily, code: u16, reason: &'a str) -> Result<Self, Error> {
        split_code(code)?;
        check_phrase(AttrType::ADDRESS_ERROR_CODE, reason)?;
        Ok(Self {
            family,
            code,
            reason,
        })
    }

    /// The family the error is about.
    pub fn family(&self) -> AddressFamily {
        self.family
    }

    /// The numeric code, e.g. 440.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The reason phrase, for diagnostics only.
    pub fn reason(&self) -> &'a str {
        self.reason
    }
}

impl<'a> Attribute<'a> for AddressErrorCode<'a> {
    const TYPE: AttrType = AttrType::ADDRESS_ERROR_CODE;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let [family, _, class, number] =
            wire::array::<4>(value, 0).ok_or(Error::AttributeLength {
                attr: Self::TYPE,
                len: value.len(),
            })?;
        let family = AddressFamily::from_byte(Self::TYPE, family)?;
        let code = join_code(class, number)?;
        let reason = decode_phrase(Self::TYPE, value.get(4..).unwrap_or_default())?;
        Ok(Self {
            family,
            code,
            reason,
        })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        let class = (self.code / 100) as u8;
        let number = (self.code % 100) as u8;
        out.extend_from_slice(&[self.family.byte(), 0, class, number]);
        out.extend_from_slice(self.reason.as_bytes());
    }
}

/// ICMP: an ICMP error the relay received for a peer (RFC 8656 §18.13).
///
/// Type and code are read as the third and fourth bytes of the value, the
/// widths ICMPv4 and ICMPv6 use; the RFC's figure draws them less clearly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Icmp {
    /// ICMP type, interpreted per the peer's IP version.
    pub icmp_type: u8,
    /// ICMP code, interpreted per the peer's IP version.
    pub code: u8,
    /// The next-hop MTU for "packet too big" errors, otherwise zero.
    pub error_data: u32,
}

impl<'a> Attribute<'a> for Icmp {
    const TYPE: AttrType = AttrType::ICMP;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let [_, _, icmp_type, code, d0, d1, d2, d3] = fixed::<8>(Self::TYPE, value)?;
        Ok(Self {
            icmp_type,
            code,
            error_data: u32::from_be_bytes([d0, d1, d2, d3]),
        })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, 0, self.icmp_type, self.code]);
        out.extend_from_slice(&self.error_data.to_be_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const TID: TransactionId = TransactionId::new([0; 12]);

    fn encode<'a, A: Attribute<'a>>(attr: &A) -> Vec<u8> {
        let mut out = Vec::new();
        attr.encode(&TID, &mut out);
        out
    }

    #[test]
    fn fixed_layouts_match_the_rfc_figures() {
        assert_eq!(
            encode(&ChannelNumber::new(0x4001).unwrap()),
            [0x40, 0x01, 0, 0]
        );
        assert_eq!(encode(&Lifetime(600)), [0, 0, 0x02, 0x58]);
        assert_eq!(encode(&RequestedTransport::UDP), [17, 0, 0, 0]);
        assert_eq!(
            encode(&RequestedAddressFamily(AddressFamily::Ipv6)),
            [2, 0, 0, 0]
        );
        assert_eq!(encode(&EvenPort { reserve: true }), [0x80]);
        assert_eq!(encode(&DontFragment), [] as [u8; 0]);
        let icmp = Icmp {
            icmp_type: 3,
            code: 4,
            error_data: 1400,
        };
        assert_eq!(encode(&icmp), [0, 0, 3, 4, 0, 0, 0x05, 0x78]);
        assert_eq!(Icmp::decode(&encode(&icmp), &TID).unwrap(), icmp);
    }

    #[test]
    fn channel_number_attribute_rejects_numbers_outside_the_channel_range() {
        assert_eq!(
            ChannelNumber::decode(&[0x3f, 0xff, 0, 0], &TID),
            Err(Error::InvalidChannelNumber { number: 0x3fff })
        );
        assert_eq!(
            ChannelNumber::decode(&[0x80, 0x00, 0, 0], &TID),
            Err(Error::InvalidChannelNumber { number: 0x8000 })
        );
    }

    #[test]
    fn even_port_ignores_reserved_bits() {
        assert_eq!(
            EvenPort::decode(&[0x7f], &TID).unwrap(),
            EvenPort { reserve: false }
        );
        assert!(EvenPort::decode(&[0x80, 0], &TID).is_err());
    }

    #[test]
    fn unknown_requested_family_is_an_address_family_error() {
        assert_eq!(
            RequestedAddressFamily::decode(&[3, 0, 0, 0], &TID),
            Err(Error::AddressFamily {
                attr: AttrType::REQUESTED_ADDRESS_FAMILY,
                family: 3
            })
        );
    }

    #[test]
    fn address_error_code_round_trips() {
        let e = AddressErrorCode::new(AddressFamily::Ipv6, 440, "Address Family not Supported")
            .unwrap();
        let bytes = encode(&e);
        assert_eq!(&bytes[..4], [2, 0, 4, 40]);
        assert_eq!(AddressErrorCode::decode(&bytes, &TID).unwrap(), e);
        assert!(AddressErrorCode::new(AddressFamily::Ipv4, 200, "").is_err());
    }

    #[test]
    fn dont_fragment_must_be_empty() {
        assert!(DontFragment::decode(&[0], &TID).is_err());
    }
}
