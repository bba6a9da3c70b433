//! Scenario tests of the core on a virtual clock, named after behaviours.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod harness;

mod allocate;
mod auth;
mod binding;
mod drain;
mod hostile;
mod metrics;
mod relay;
mod tcp;

use sha2::{Digest, Sha256};

/// USERHASH = SHA-256(username ":" realm) (RFC 8489 §14.4).
pub fn userhash(user: &str, realm: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(user.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.finalize().into()
}
