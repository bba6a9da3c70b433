//! Presence (RFC 6121 §3, §4): subscriptions and notifications.

pub(crate) mod broadcast;
pub(crate) mod subscription;
