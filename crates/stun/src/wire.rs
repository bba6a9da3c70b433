//! Bounds-checked big-endian readers shared by the decoders.
//!
//! Every read from network data goes through these helpers, so a short
//! buffer yields `None` instead of a panic. Values are copied out byte by
//! byte, so alignment of the underlying buffer never matters.

/// Rounds `len` up to the next multiple of 4 (STUN attribute padding, RFC 8489 §14).
pub(crate) const fn pad4(len: usize) -> usize {
    (len + 3) & !3
}

/// Copies `N` bytes starting at `at`, if they are all present.
pub(crate) fn array<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    let end = at.checked_add(N)?;
    buf.get(at..end)?.try_into().ok()
}

/// Reads a big-endian `u16` at `at`.
pub(crate) fn be16(buf: &[u8], at: usize) -> Option<u16> {
    array::<2>(buf, at).map(u16::from_be_bytes)
}

/// Reads a big-endian `u32` at `at`.
pub(crate) fn be32(buf: &[u8], at: usize) -> Option<u32> {
    array::<4>(buf, at).map(u32::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad4_rounds_up_to_word_boundary() {
        let cases = [(0, 0), (1, 4), (3, 4), (4, 4), (5, 8), (65535, 65536)];
        for (len, padded) in cases {
            assert_eq!(pad4(len), padded, "pad4({len})");
        }
    }

    #[test]
    fn readers_return_none_past_the_end() {
        let buf = [1, 2, 3];
        assert_eq!(be16(&buf, 1), Some(0x0203));
        assert_eq!(be16(&buf, 2), None);
        assert_eq!(be32(&buf, 0), None);
        assert_eq!(array::<2>(&buf, usize::MAX), None);
    }
}
