//! Size and count limits applied to everything read from the network.

/// Bounds applied while framing and parsing. Every size or count that comes
/// from the network is checked against one of these before it is trusted.
///
/// The defaults suit a proxy/registrar: 64 KiB per message (the UDP maximum),
/// 100 header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message (start line, header section and body), in bytes.
    pub max_message_bytes: usize,
    /// Largest start line plus header section (up to and including the empty line), in bytes.
    pub max_header_bytes: usize,
    /// Largest body, in bytes.
    pub max_body_bytes: usize,
    /// Most header fields (logical lines, after unfolding) in one message.
    pub max_headers: usize,
    /// Most comma-separated values handled in one list header family (e.g. all Via values).
    pub max_list_values: usize,
}

impl Limits {
    /// The default limits: 64 KiB message, 32 KiB header section, 64 KiB body,
    /// 100 header fields, 64 values per list family.
    pub const DEFAULT: Limits = Limits {
        max_message_bytes: 64 * 1024,
        max_header_bytes: 32 * 1024,
        max_body_bytes: 64 * 1024,
        max_headers: 100,
        max_list_values: 64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
