//! Transport-address attributes, plain and XOR-obfuscated (RFC 8489 §14.1, §14.2).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{AttrType, Attribute};
use crate::error::Error;
use crate::header::{TransactionId, MAGIC_COOKIE};
use crate::wire;

const FAMILY_IPV4: u8 = 0x01;
const FAMILY_IPV6: u8 = 0x02;

/// Reads `0x00 | family | port | address` without any XOR.
fn decode_plain(attr: AttrType, value: &[u8]) -> Result<SocketAddr, Error> {
    let bad_len = || Error::AttributeLength {
        attr,
        len: value.len(),
    };
    let family = *value.get(1).ok_or_else(bad_len)?;
    let port = wire::be16(value, 2).ok_or_else(bad_len)?;
    let ip = match (family, value.len()) {
        (FAMILY_IPV4, 8) => IpAddr::V4(Ipv4Addr::from(
            wire::array::<4>(value, 4).ok_or_else(bad_len)?,
        )),
        (FAMILY_IPV6, 20) => IpAddr::V6(Ipv6Addr::from(
            wire::array::<16>(value, 4).ok_or_else(bad_len)?,
        )),
        (FAMILY_IPV4 | FAMILY_IPV6, _) => return Err(bad_len()),
        _ => return Err(Error::AddressFamily { attr, family }),
    };
    Ok(SocketAddr::new(ip, port))
}

fn encode_plain(addr: &SocketAddr, out: &mut Vec<u8>) {
    let family = if addr.is_ipv4() {
        FAMILY_IPV4
    } else {
        FAMILY_IPV6
    };
    out.extend_from_slice(&[0, family]);
    out.extend_from_slice(&addr.port().to_be_bytes());
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
}

/// XOR is its own inverse, so the same function obfuscates and recovers (RFC 8489 §14.2).
fn xor(addr: SocketAddr, transaction_id: &TransactionId) -> SocketAddr {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match addr.ip() {
        IpAddr::V4(ip) => IpAddr::V4(Ipv4Addr::from(u32::from(ip) ^ MAGIC_COOKIE)),
        IpAddr::V6(ip) => {
            let mut mask = [0u8; 16];
            let (head, tail) = mask.split_at_mut(4);
            head.copy_from_slice(&cookie);
            tail.copy_from_slice(transaction_id.as_bytes());
            IpAddr::V6(Ipv6Addr::from(u128::from(ip) ^ u128::from_be_bytes(mask)))
        }
    };
    SocketAddr::new(ip, port)
}

macro_rules! plain_address {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub SocketAddr);

        impl<'a> Attribute<'a> for $name {
            const TYPE: AttrType = $ty;

            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
                decode_plain(Self::TYPE, value).map(Self)
            }

            fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
                encode_plain(&self.0, out);
            }
        }
    };
}

macro_rules! xor_address {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        ///
        /// Holds the real address; the XOR with the magic cookie and transaction
        /// id happens while decoding and encoding.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub SocketAddr);

        impl<'a> Attribute<'a> for $name {
            const TYPE: AttrType = $ty;

            fn decode(value: &'a [u8], transaction_id: &TransactionId) -> Result<Self, Error> {
                decode_plain(Self::TYPE, value).map(|a| Self(xor(a, transaction_id)))
            }

            fn encode(&self, transaction_id: &TransactionId, out: &mut Vec<u8>) {
                encode_plain(&xor(self.0, transaction_id), out);
            }
        }
    };
}

plain_address!(
    /// MAPPED-ADDRESS: the client's reflexive address, for RFC 3489 clients (RFC 8489 §14.1).
    MappedAddress,
    AttrType::MAPPED_ADDRESS
);
plain_address!(
    /// ALTERNATE-SERVER: another server to try, encoded like MAPPED-ADDRESS (RFC 8489 §14.15).
    AlternateServer,
    AttrType::ALTERNATE_SERVER
);
plain_address!(
    /// RESPONSE-ORIGIN: the address the response was sent from (RFC 5780 §7.3).
    ResponseOrigin,
    AttrType::RESPONSE_ORIGIN
);
plain_address!(
    /// OTHER-ADDRESS: the server's alternate IP and port for NAT discovery (RFC 5780 §7.4).
    OtherAddress,
    AttrType::OTHER_ADDRESS
);
xor_address!(
    /// XOR-MAPPED-ADDRESS: the client's reflexive address (RFC 8489 §14.2).
    XorMappedAddress,
    AttrType::XOR_MAPPED_ADDRESS
);
xor_address!(
    /// XOR-PEER-ADDRESS: a peer's address as seen from the relay (RFC 8656 §18.3).
    XorPeerAddress,
    AttrType::XOR_PEER_ADDRESS
);
xor_address!(
    /// XOR-RELAYED-ADDRESS: the relayed transport address of an allocation (RFC 8656 §18.5).
    XorRelayedAddress,
    AttrType::XOR_RELAYED_ADDRESS
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const TID: TransactionId = TransactionId::new([
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ]);

    #[test]
    fn rfc5769_xor_mapped_ipv4_decodes_to_192_0_2_1_port_32853() {
        let value = [0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43];
        let addr = XorMappedAddress::decode(&value, &TID).unwrap();
        assert_eq!(addr.0, "192.0.2.1:32853".parse().unwrap());
        let mut out = Vec::new();
        addr.encode(&TID, &mut out);
        assert_eq!(out, value);
    }

    #[test]
    fn rfc5769_xor_mapped_ipv6_uses_the_transaction_id() {
        let value = [
            0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25,
            0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
        ];
        let addr = XorMappedAddress::decode(&value, &TID).unwrap();
        assert_eq!(
            addr.0,
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
                .parse()
                .unwrap()
        );
    }

    #[test]
    fn plain_address_is_not_obfuscated_and_ignores_the_first_byte() {
        let value = [0xff, 0x01, 0x0d, 0x96, 10, 0, 0, 1];
        let addr = MappedAddress::decode(&value, &TID).unwrap();
        assert_eq!(addr.0, "10.0.0.1:3478".parse().unwrap());
    }

    #[test]
    fn malformed_addresses_are_errors() {
        let cases: [(&[u8], Error); 4] = [
            (
                &[0, 1, 0],
                Error::AttributeLength {
                    attr: AttrType::MAPPED_ADDRESS,
                    len: 3,
                },
            ),
            (
                &[0, 1, 0, 1, 1, 2, 3],
                Error::AttributeLength {
                    attr: AttrType::MAPPED_ADDRESS,
                    len: 7,
                },
            ),
            (
                &[0, 2, 0, 1, 1, 2, 3, 4],
                Error::AttributeLength {
                    attr: AttrType::MAPPED_ADDRESS,
                    len: 8,
                },
            ),
            (
                &[0, 3, 0, 1, 1, 2, 3, 4],
                Error::AddressFamily {
                    attr: AttrType::MAPPED_ADDRESS,
                    family: 3,
                },
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                MappedAddress::decode(value, &TID),
                Err(expected),
                "{value:?}"
            );
        }
    }
}
