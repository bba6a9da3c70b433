//! Telling STUN from ChannelData, on datagrams and on TCP/TLS streams (RFC 8656 §12.5).

use crate::channel_data::{ChannelNumber, CHANNEL_DATA_HEADER_LEN};
use crate::error::Error;
use crate::header::{HEADER_LEN, MAGIC_COOKIE, MAX_MESSAGE_LEN};
use crate::wire;

/// What a datagram or frame appears to be, judged by its first two bits (RFC 8656 §12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// 0b00: a STUN message.
    Stun,
    /// 0b01: a ChannelData message.
    ChannelData,
    /// Anything else (DTLS, RTP, junk) or an empty buffer.
    Other,
}

/// Classifies a datagram by its first two bits, without parsing it.
///
/// This is the cheap demultiplexing step on the hot path; the caller still
/// parses the packet, which can fail.
pub fn classify(packet: &[u8]) -> PacketKind {
    match packet.first().map(|b| b >> 6) {
        Some(0b00) => PacketKind::Stun,
        Some(0b01) => PacketKind::ChannelData,
        _ => PacketKind::Other,
    }
}

/// The outcome of looking for the next frame in a stream buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// The first `len` bytes are one whole frame of the given kind.
    Complete {
        /// [`PacketKind::Stun`] or [`PacketKind::ChannelData`].
        kind: PacketKind,
        /// Frame length, including ChannelData padding.
        len: usize,
    },
    /// More bytes are needed; nothing is wrong yet.
    Incomplete,
    /// The stream cannot be STUN/TURN: close the connection.
    Invalid(Error),
}

/// Cuts STUN messages and ChannelData out of a TCP or TLS byte stream.
///
/// Over streams, ChannelData is padded to a multiple of 4 (RFC 8656 §12.5),
/// and STUN messages carry their length in the header, so the framer only
/// needs the first few bytes of a frame to know where it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamFramer {
    max_frame_len: usize,
}

impl Default for StreamFramer {
    /// Allows the largest frame the protocol can express.
    fn default() -> Self {
        Self {
            max_frame_len: MAX_MESSAGE_LEN,
        }
    }
}

impl StreamFramer {
    /// A framer that declares frames longer than `max_frame_len` invalid.
    pub const fn new(max_frame_len: usize) -> Self {
        Self { max_frame_len }
    }

    /// The configured maximum frame length.
    pub const fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Looks at the bytes received so far and reports the first frame.
    pub fn next_frame(&self, buf: &[u8]) -> Framing {
        let Some(&first) = buf.first() else {
            return Framing::Incomplete;
        };
        let kind = classify(buf);
        let header_len = match kind {
            PacketKind::Stun => HEADER_LEN,
            PacketKind::ChannelData => CHANNEL_DATA_HEADER_LEN,
            PacketKind::Other => {
                return Framing::Invalid(Error::UnknownFrame { first_byte: first })
            }
        };
        let Some(len_field) = wire::be16(buf, 2) else {
            return Framing::Incomplete;
        };
        let body = usize::from(len_field);
        let len = match kind {
            PacketKind::ChannelData => {
                if let Err(e) = ChannelNumber::new(wire::be16(buf, 0).unwrap_or_default()) {
                    return Framing::Invalid(e);
                }
                header_len + wire::pad4(body)
            }
            _ => {
                if !body.is_multiple_of(4) {
                    return Framing::Invalid(Error::NotStun);
                }
                if let Some(cookie) = wire::be32(buf, 4) {
                    if cookie != MAGIC_COOKIE {
                        return Framing::Invalid(Error::BadMagicCookie { found: cookie });
                    }
                }
                header_len + body
            }
        };
        if len > self.max_frame_len {
            return Framing::Invalid(Error::FrameTooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        if buf.len() < len {
            Framing::Incomplete
        } else {
            Framing::Complete { kind, len }
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn classify_uses_the_first_two_bits() {
        assert_eq!(classify(&[0x00, 0x01]), PacketKind::Stun);
        assert_eq!(classify(&[0x40]), PacketKind::ChannelData);
        assert_eq!(classify(&[0x7F]), PacketKind::ChannelData);
        assert_eq!(classify(&[0x16]), PacketKind::Stun); // DTLS shares 0b00; parsing tells them apart
        assert_eq!(classify(&[0x80]), PacketKind::Other);
        assert_eq!(classify(&[]), PacketKind::Other);
    }

    #[test]
    fn stun_frame_is_complete_once_header_and_body_arrived() {
        let framer = StreamFramer::default();
        let mut msg = vec![0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42];
        msg.extend_from_slice(&[0; 12]);
        msg.extend_from_slice(&[0x80, 0x22, 0, 0]);
        msg.extend_from_slice(b"next");
        for cut in [0, 1, 3, 8, 19, 23] {
            assert_eq!(
                framer.next_frame(&msg[..cut]),
                Framing::Incomplete,
                "cut at {cut}"
            );
        }
        assert_eq!(
            framer.next_frame(&msg),
            Framing::Complete {
                kind: PacketKind::Stun,
                len: 24
            }
        );
    }

    #[test]
    fn channel_data_frame_includes_padding() {
        let framer = StreamFramer::default();
        let frame = b"\x40\x01\x00\x05hello\0\0\0\x40";
        assert_eq!(framer.next_frame(&frame[..9]), Framing::Incomplete);
        assert_eq!(
            framer.next_frame(frame),
            Framing::Complete {
                kind: PacketKind::ChannelData,
                len: 12
            }
        );
    }

    #[test]
    fn invalid_streams_are_reported_distinctly_from_incomplete_ones() {
        let framer = StreamFramer::new(1000);
        let cases: [(&[u8], Error); 4] = [
            (
                &[0x80, 0x60, 0x00, 0x01],
                Error::UnknownFrame { first_byte: 0x80 },
            ),
            (&[0x00, 0x01, 0x00, 0x05], Error::NotStun),
            (
                &[0x00, 0x01, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef],
                Error::BadMagicCookie { found: 0xdead_beef },
            ),
            (
                &[0x40, 0x00, 0x04, 0x00],
                Error::FrameTooLarge {
                    len: 1028,
                    max: 1000,
                },
            ),
        ];
        for (buf, err) in cases {
            assert_eq!(framer.next_frame(buf), Framing::Invalid(err), "{buf:?}");
        }
        // "GE" looks like channel 0x4745, but the announced length gives it away.
        assert!(matches!(
            framer.next_frame(b"GET / HTTP/1.1\r\n"),
            Framing::Invalid(_)
        ));
    }
}
