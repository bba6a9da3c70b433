//! Size, count and depth limits applied to everything read from the network.

use serde::Deserialize;

/// Hard ceiling on [`Limits::max_depth`]. Element trees are walked
/// recursively (serialising, comparing, dropping), so nesting must stay far
/// below what a thread stack can hold whatever the configuration says.
pub const MAX_DEPTH_CEILING: usize = 256;

/// Smallest token length the reader will configure, whatever the
/// configuration says; below this even a stream header cannot be parsed.
pub const MIN_TOKEN_BYTES: usize = 64;

/// Bounds applied while reading a stream. Every length, count and depth that
/// comes from the network is checked against one of these.
///
/// Deserialisable from the daemon's YAML configuration; missing keys take
/// the defaults below, unknown keys are an error.
///
/// | key | default |
/// | --- | --- |
/// | `max_token_bytes` | 8192 |
/// | `max_depth` | 32 |
/// | `max_child_elements` | 4096 |
/// | `max_attributes` | 64 |
/// | `max_attribute_value_bytes` | 4096 |
/// | `max_stanza_bytes_unauthenticated` | 10000 (as Prosody) |
/// | `max_stanza_bytes` | 262144 (256 KiB, as Prosody) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest element name, attribute name, attribute value or entity
    /// reference, in bytes (the tokenizer's limit). Text is not limited by
    /// this: long text is delivered in pieces and bounded by the stanza size.
    /// Values below [`MIN_TOKEN_BYTES`] are raised to it.
    pub max_token_bytes: usize,
    /// Deepest element nesting inside one stanza; the stanza element itself is
    /// depth 1. Values above [`MAX_DEPTH_CEILING`] are lowered to it.
    pub max_depth: usize,
    /// Most elements below one stanza element (children, grandchildren, ...).
    pub max_child_elements: usize,
    /// Most attributes on one element, namespace declarations included.
    pub max_attributes: usize,
    /// Longest attribute value, in bytes after entity expansion.
    pub max_attribute_value_bytes: usize,
    /// Most input bytes for the stream header or for one stanza before
    /// [`crate::StreamReader::set_authenticated`] is called.
    pub max_stanza_bytes_unauthenticated: usize,
    /// Most input bytes for one stanza once the peer is authenticated.
    pub max_stanza_bytes: usize,
}

impl Limits {
    /// The default limits (see the table on [`Limits`]).
    pub const DEFAULT: Limits = Limits {
        max_token_bytes: 8192,
        max_depth: 32,
        max_child_elements: 4096,
        max_attributes: 64,
        max_attribute_value_bytes: 4096,
        max_stanza_bytes_unauthenticated: 10_000,
        max_stanza_bytes: 256 * 1024,
    };

    /// The stanza byte limit that applies in the given authentication state.
    pub fn stanza_bytes(&self, authenticated: bool) -> usize {
        if authenticated {
            self.max_stanza_bytes
        } else {
            self.max_stanza_bytes_unauthenticated
        }
    }

    /// The token length handed to the tokenizer.
    pub(crate) fn effective_token_bytes(&self) -> usize {
        self.max_token_bytes.max(MIN_TOKEN_BYTES)
    }

    /// The depth limit actually enforced.
    pub(crate) fn effective_depth(&self) -> usize {
        self.max_depth.min(MAX_DEPTH_CEILING)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn missing_keys_take_defaults() {
        let l: Limits = yaml_serde::from_str("max_depth: 10\n").unwrap();
        assert_eq!(
            l,
            Limits {
                max_depth: 10,
                ..Limits::DEFAULT
            }
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(yaml_serde::from_str::<Limits>("max_dpeth: 10\n").is_err());
    }

    #[test]
    fn defaults_match_prosody_stanza_sizes() {
        assert_eq!(Limits::default().stanza_bytes(false), 10_000);
        assert_eq!(Limits::default().stanza_bytes(true), 262_144);
    }

    #[test]
    fn absurd_configuration_is_clamped() {
        let l = Limits {
            max_token_bytes: 0,
            max_depth: usize::MAX,
            ..Limits::DEFAULT
        };
        assert_eq!(l.effective_token_bytes(), MIN_TOKEN_BYTES);
        assert_eq!(l.effective_depth(), MAX_DEPTH_CEILING);
    }
}
