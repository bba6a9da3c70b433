//! Building responses: success and error messages, signed like the request
//! (RFC 8489 §9.2.4), with SOFTWARE and FINGERPRINT where they belong.

use rtc_stun::attr::{ErrorCode, Software, UnknownAttributes};
use rtc_stun::{AttrType, Class, Message, MessageEncoder, MessageType, Method, TransactionId};

use super::server::Server;
use super::types::FiveTuple;

/// A long-term key: MD5 (16 bytes) or SHA-256 (32 bytes) (RFC 8489 §9.2.2).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum KeyBytes {
    Md5([u8; 16]),
    Sha256([u8; 32]),
}

impl KeyBytes {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Self::Md5(k) => k,
            Self::Sha256(k) => k,
        }
    }
}

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyBytes(..)")
    }
}

/// How to sign a response: like the request (RFC 8489 §9.2.4, last paragraph).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signer {
    /// Unauthenticated exchange: no integrity attribute.
    None,
    /// MESSAGE-INTEGRITY (HMAC-SHA1).
    Sha1(KeyBytes),
    /// MESSAGE-INTEGRITY-SHA256.
    Sha256(KeyBytes),
}

/// Everything needed to answer one request, possibly later (parked Allocate/Connect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub tid: TransactionId,
    pub method: Method,
    pub fingerprint: bool,
    pub signer: Signer,
}

impl Reply {
    /// An unsigned reply to `msg`, with FINGERPRINT if the request had one.
    pub(crate) fn to(msg: &Message<'_>) -> Self {
        Self {
            tid: msg.transaction_id(),
            method: msg.method(),
            fingerprint: msg.has_fingerprint(),
            signer: Signer::None,
        }
    }

    /// Encode a response of `class`; `body` adds the method-specific attributes.
    fn encode(
        &self,
        class: Class,
        software: Option<&str>,
        error: Option<u16>,
        body: impl FnOnce(&mut MessageEncoder<'_>) -> Result<(), rtc_stun::Error>,
    ) -> Vec<u8> {
        let mut buf = Vec::with_capacity(160);
        let mut enc = MessageEncoder::new(&mut buf, MessageType::new(self.method, class), self.tid);
        // Our own attributes always fit; an encoder error only drops that
        // attribute (the encoder rolls back), never corrupts the message.
        if let Some(code) = error {
            if let Ok(ec) = ErrorCode::from_code(code) {
                let _ = enc.add(&ec);
            }
        }
        let _ = body(&mut enc);
        if let Some(sw) = software.and_then(|s| Software::new(s).ok()) {
            let _ = enc.add(&sw);
        }
        let _ = match &self.signer {
            Signer::None => Ok(&mut enc),
            Signer::Sha1(k) => enc.integrity(k.as_slice()),
            Signer::Sha256(k) => enc.integrity_sha256(k.as_slice()),
        };
        if self.fingerprint {
            let _ = enc.fingerprint();
        }
        let _ = enc.finish();
        buf
    }

    pub(crate) fn success(
        &self,
        software: Option<&str>,
        body: impl FnOnce(&mut MessageEncoder<'_>) -> Result<(), rtc_stun::Error>,
    ) -> Vec<u8> {
        self.encode(Class::Success, software, None, body)
    }

    pub(crate) fn error(
        &self,
        software: Option<&str>,
        code: u16,
        body: impl FnOnce(&mut MessageEncoder<'_>) -> Result<(), rtc_stun::Error>,
    ) -> Vec<u8> {
        self.encode(Class::Error, software, Some(code), body)
    }
}

fn nothing(_: &mut MessageEncoder<'_>) -> Result<(), rtc_stun::Error> {
    Ok(())
}

impl Server {
    /// Send a success response built by `body`.
    pub(crate) fn send_success(
        &mut self,
        from: &FiveTuple,
        reply: &Reply,
        body: impl FnOnce(&mut MessageEncoder<'_>) -> Result<(), rtc_stun::Error>,
    ) {
        let bytes = reply.success(self.config.software.as_deref(), body);
        self.reply_to(from, bytes);
    }

    /// Send an error response with extra attributes.
    pub(crate) fn send_error_with(
        &mut self,
        from: &FiveTuple,
        reply: &Reply,
        code: u16,
        body: impl FnOnce(&mut MessageEncoder<'_>) -> Result<(), rtc_stun::Error>,
    ) {
        self.metrics.errors.add(code);
        let bytes = reply.error(self.config.software.as_deref(), code, body);
        self.reply_to(from, bytes);
    }

    /// Send a plain error response.
    pub(crate) fn send_error(&mut self, from: &FiveTuple, reply: &Reply, code: u16) {
        self.send_error_with(from, reply, code, nothing);
    }

    /// 420 with the UNKNOWN-ATTRIBUTES list (RFC 8489 §6.3.1).
    pub(crate) fn send_unknown_attributes(&mut self, from: &FiveTuple, reply: &Reply, unknown: &[AttrType]) {
        self.send_error_with(from, reply, 420, |enc| enc.add(&UnknownAttributes::new(unknown)).map(|_| ()));
    }
}
