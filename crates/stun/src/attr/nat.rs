//! NAT behaviour discovery attributes (RFC 5780 §7).
//!
//! RESPONSE-ORIGIN and OTHER-ADDRESS are address attributes and live in
//! the `address` module.

use super::{fixed, AttrType, Attribute};
use crate::error::Error;
use crate::header::TransactionId;

/// CHANGE-REQUEST: answer from another IP and/or port (RFC 5780 §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ChangeRequest {
    /// The A flag: send the response from the alternate IP address.
    pub change_ip: bool,
    /// The B flag: send the response from the alternate port.
    pub change_port: bool,
}

const CHANGE_IP: u8 = 0x04;
const CHANGE_PORT: u8 = 0x02;

impl<'a> Attribute<'a> for ChangeRequest {
    const TYPE: AttrType = AttrType::CHANGE_REQUEST;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let [_, _, _, flags] = fixed::<4>(Self::TYPE, value)?;
        Ok(Self {
            change_ip: flags & CHANGE_IP != 0,
            change_port: flags & CHANGE_PORT != 0,
        })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        let mut flags = 0;
        if self.change_ip {
            flags |= CHANGE_IP;
        }
        if self.change_port {
            flags |= CHANGE_PORT;
        }
        out.extend_from_slice(&[0, 0, 0, flags]);
    }
}

/// RESPONSE-PORT: send the response to this port of the source IP (RFC 5780 §7.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResponsePort(pub u16);

impl<'a> Attribute<'a> for ResponsePort {
    const TYPE: AttrType = AttrType::RESPONSE_PORT;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let [a, b, _, _] = fixed::<4>(Self::TYPE, value)?;
        Ok(Self(u16::from_be_bytes([a, b])))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
    }
}

/// PADDING: filler that makes a message larger, to probe fragmentation (RFC 5780 §7.6).
///
/// A server that honours PADDING must bound what it echoes; this crate
/// only carries the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Padding<'a>(pub &'a [u8]);

impl<'a> Attribute<'a> for Padding<'a> {
    const TYPE: AttrType = AttrType::PADDING;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        Ok(Self(value))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const TID: TransactionId = TransactionId::new([0; 12]);

    #[test]
    fn change_request_flags_are_bits_a_and_b() {
        let both = ChangeRequest {
            change_ip: true,
            change_port: true,
        };
        let mut out = Vec::new();
        both.encode(&TID, &mut out);
        assert_eq!(out, [0, 0, 0, 0x06]);
        assert_eq!(
            ChangeRequest::decode(&[0, 0, 0, 0x04], &TID).unwrap(),
            ChangeRequest {
                change_ip: true,
                change_port: false
            }
        );
        assert!(ChangeRequest::decode(&[0, 0, 4], &TID).is_err());
    }

    #[test]
    fn response_port_carries_two_bytes_of_padding() {
        assert_eq!(
            ResponsePort::decode(&[0x0d, 0x96, 0xff, 0xff], &TID).unwrap(),
            ResponsePort(3478)
        );
        assert!(ResponsePort::decode(&[0x0d, 0x96], &TID).is_err());
    }
}
