//! CSeq (RFC 3261 §20.16).

use crate::error::Error;
use crate::headers::HeaderName;
use crate::method::Method;
use crate::scan;

/// The CSeq header field value: a sequence number and a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number, below 2**31 (RFC 3261 §8.1.1.5).
    pub number: u32,
    /// The method.
    pub method: Method<'a>,
}

impl<'a> CSeq<'a> {
    /// Parse `1*DIGIT LWS Method`; numbers of 2**31 or more are refused (RFC 4475 §3.1.2.4).
    pub fn parse(value: &'a [u8]) -> Result<CSeq<'a>, Error> {
        const INVALID: Error = Error::InvalidHeader(HeaderName::CSeq);
        let v = scan::trim(value);
        let n = v.iter().take_while(|b| b.is_ascii_digit()).count();
        let number =
            scan::parse_decimal(v.get(..n).unwrap_or_default(), (1 << 31) - 1).ok_or(INVALID)?;
        let rest = v.get(n..).unwrap_or_default();
        let method = scan::trim_start(rest);
        if method.len() == rest.len() || !scan::is_token_str(method) {
            return Err(INVALID);
        }
        Ok(CSeq {
            number: u32::try_from(number).map_err(|_| INVALID)?,
            method: Method::from_bytes(method),
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn cseq_forms() {
        assert_eq!(
            CSeq::parse(b"0009\r\n  INVITE").unwrap(),
            CSeq {
                number: 9,
                method: Method::Invite
            }
        );
        assert!(CSeq::parse(b"36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse(b"2147483648 INVITE").is_err());
        assert!(CSeq::parse(b"1INVITE").is_err());
        assert!(CSeq::parse(b"1 INVITE x").is_err());
        assert!(CSeq::parse(b"INVITE").is_err());
    }
}
