//! ChannelData messages: the 4-byte-header fast path of TURN channels (RFC 8656 §12.4).

use crate::error::Error;
use crate::wire;

/// Length of the ChannelData header: channel number and length (RFC 8656 §12.4).
pub const CHANNEL_DATA_HEADER_LEN: usize = 4;

/// A TURN channel number, in 0x4000..=0x7FFF (RFC 5766 §11; RFC 8656 §12 narrows new
/// clients to 0x4FFF, but deployed clients such as coturn's use the old range).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelNumber(u16);

impl ChannelNumber {
    /// Lowest valid channel number.
    pub const MIN: u16 = 0x4000;
    /// Highest accepted channel number: RFC 5766's upper bound, which RFC 8656
    /// reserves but older clients still use; ChannelData demultiplexing (first two
    /// bits 01) covers the whole range.
    pub const MAX: u16 = 0x7FFF;

    /// Accepts only numbers in 0x4000..=0x7FFF.
    pub const fn new(number: u16) -> Result<Self, Error> {
        if number >= Self::MIN && number <= Self::MAX {
            Ok(Self(number))
        } else {
            Err(Error::InvalidChannelNumber { number })
        }
    }

    /// The 16-bit number.
    pub const fn value(self) -> u16 {
        self.0
    }
}

/// A ChannelData message borrowing its application data from the buffer (RFC 8656 §12.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelData<'a> {
    channel: ChannelNumber,
    data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Wraps data for a channel; refuses more than 65535 bytes.
    pub fn new(channel: ChannelNumber, data: &'a [u8]) -> Result<Self, Error> {
        if data.len() > usize::from(u16::MAX) {
            return Err(Error::MessageTooLong { len: data.len() });
        }
        Ok(Self { channel, data })
    }

    /// Parses one ChannelData message that fills `buf`.
    ///
    /// Up to three bytes of padding after the data are accepted: they are
    /// mandatory over TCP/TLS and optional over UDP (RFC 8656 §12.5).
    pub fn parse(buf: &'a [u8]) -> Result<Self, Error> {
        let (Some(number), Some(len)) = (wire::be16(buf, 0), wire::be16(buf, 2)) else {
            return Err(Error::TooShort { len: buf.len() });
        };
        let channel = ChannelNumber::new(number)?;
        let len = usize::from(len);
        let available = buf.len() - CHANNEL_DATA_HEADER_LEN;
        let data = match buf.get(CHANNEL_DATA_HEADER_LEN..CHANNEL_DATA_HEADER_LEN + len) {
            Some(data) if available <= wire::pad4(len) => data,
            _ => {
                return Err(Error::ChannelDataLength {
                    declared: len,
                    available,
                })
            }
        };
        Ok(Self { channel, data })
    }

    /// The channel the data belongs to.
    pub fn channel(&self) -> ChannelNumber {
        self.channel
    }

    /// The application data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The 4-byte header for `data_len` bytes, for scatter-gather sends
    /// that avoid copying the payload. `data_len` must not exceed 65535.
    pub fn header(channel: ChannelNumber, data_len: u16) -> [u8; CHANNEL_DATA_HEADER_LEN] {
        let [a, b] = channel.0.to_be_bytes();
        let [c, d] = data_len.to_be_bytes();
        [a, b, c, d]
    }

    fn write_header(&self, out: &mut Vec<u8>) {
        // `new` and `parse` guarantee the length fits in 16 bits.
        let len = u16::try_from(self.data.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&Self::header(self.channel, len));
        out.extend_from_slice(self.data);
    }

    /// Appends the message for UDP or DTLS: no padding.
    pub fn encode_datagram(&self, out: &mut Vec<u8>) {
        self.write_header(out);
    }

    /// Appends the message for TCP or TLS: padded to a multiple of 4 with zeros (RFC 8656 §12.5).
    pub fn encode_stream(&self, out: &mut Vec<u8>) {
        self.write_header(out);
        out.resize(out.len() + wire::pad4(self.data.len()) - self.data.len(), 0);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn datagram_and_stream_encodings_differ_only_in_padding() {
        let ch = ChannelNumber::new(0x4001).unwrap();
        let msg = ChannelData::new(ch, b"hello").unwrap();
        let mut dgram = Vec::new();
        msg.encode_datagram(&mut dgram);
        assert_eq!(dgram, b"\x40\x01\x00\x05hello");
        let mut stream = Vec::new();
        msg.encode_stream(&mut stream);
        assert_eq!(stream, b"\x40\x01\x00\x05hello\0\0\0");
        assert_eq!(ChannelData::parse(&dgram).unwrap(), msg);
        assert_eq!(ChannelData::parse(&stream).unwrap(), msg);
    }

    #[test]
    fn channel_numbers_outside_0x4000_to_0x7fff_are_invalid() {
        for n in [0x0000, 0x3FFF, 0x8000, 0xBFFF, 0xFFFF] {
            assert_eq!(
                ChannelNumber::new(n),
                Err(Error::InvalidChannelNumber { number: n })
            );
        }
        assert!(ChannelNumber::new(0x4000).is_ok());
        assert!(ChannelNumber::new(0x4FFF).is_ok());
        // RFC 5766 range, used by coturn's turnutils_uclient.
        assert!(ChannelNumber::new(0x5000).is_ok());
        assert!(ChannelNumber::new(0x7FFF).is_ok());
        assert_eq!(
            ChannelData::parse(&[0x80, 0, 0, 0]),
            Err(Error::InvalidChannelNumber { number: 0x8000 })
        );
    }

    #[test]
    fn truncated_or_overlong_buffers_are_rejected() {
        assert_eq!(
            ChannelData::parse(&[0x40, 0]),
            Err(Error::TooShort { len: 2 })
        );
        assert_eq!(
            ChannelData::parse(b"\x40\x00\x00\x05hell"),
            Err(Error::ChannelDataLength {
                declared: 5,
                available: 4
            })
        );
        assert_eq!(
            ChannelData::parse(b"\x40\x00\x00\x01h\0\0\0\0"),
            Err(Error::ChannelDataLength {
                declared: 1,
                available: 5
            })
        );
    }

    #[test]
    fn empty_data_is_allowed() {
        let msg = ChannelData::parse(&[0x40, 0x00, 0, 0]).unwrap();
        assert_eq!(msg.data(), b"");
    }
}
