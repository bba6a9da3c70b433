//! Typed, lazily parsed views of a [`Message`]'s header fields, and the
//! semantic checks a proxy runs before acting on a request (RFC 3261 §16.3).

use crate::error::{Error, ParseFailure};
use crate::headers::addr::{Contact, NameAddr};
use crate::headers::auth::{Credentials, DigestChallenge};
use crate::headers::cseq::CSeq;
use crate::headers::scalar::{self, MediaType};
use crate::headers::via::Via;
use crate::headers::HeaderName;
use crate::limits::Limits;
use crate::message::{failure, Message};
use crate::method::Method;
use crate::reply::ReplyContext;
use crate::uri::Uri;

fn single<'a>(m: &Message<'a>, kind: HeaderName) -> Result<Option<&'a [u8]>, Error> {
    let mut it = m.headers_named(kind);
    let first = it.next().map(|h| h.value());
    if it.next().is_some() {
        return Err(Error::DuplicateHeader(kind));
    }
    Ok(first)
}

fn addr(value: &[u8], kind: HeaderName) -> Result<NameAddr<'_>, Error> {
    NameAddr::parse(value).map_err(|_| Error::InvalidHeader(kind))
}

/// A route-style value must be a bracketed name-addr (RFC 3261 §20.30, §20.34; RFC 3327 §4).
fn route(value: &[u8], kind: HeaderName) -> Result<NameAddr<'_>, Error> {
    addr(value, kind).and_then(|a| {
        if a.is_bracketed() {
            Ok(a)
        } else {
            Err(Error::InvalidHeader(kind))
        }
    })
}

impl<'a> Message<'a> {
    /// All Via values, top first, each parsed on demand.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'a>, Error>> + '_ {
        self.values(HeaderName::Via).map(Via::parse)
    }
    /// The topmost Via value.
    pub fn top_via(&self) -> Result<Via<'a>, Error> {
        self.vias()
            .next()
            .unwrap_or(Err(Error::MissingHeader(HeaderName::Via)))
    }
    /// The From value (RFC 3261 §20.20).
    pub fn from(&self) -> Result<NameAddr<'a>, Error> {
        let v = single(self, HeaderName::From)?.ok_or(Error::MissingHeader(HeaderName::From))?;
        addr(v, HeaderName::From)
    }
    /// The To value (RFC 3261 §20.39).
    pub fn to(&self) -> Result<NameAddr<'a>, Error> {
        let v = single(self, HeaderName::To)?.ok_or(Error::MissingHeader(HeaderName::To))?;
        addr(v, HeaderName::To)
    }
    /// The Call-ID value as received (RFC 3261 §20.8).
    pub fn call_id(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::CallId).map(|h| h.value())
    }
    /// The CSeq (RFC 3261 §20.16).
    pub fn cseq(&self) -> Result<CSeq<'a>, Error> {
        let v = single(self, HeaderName::CSeq)?.ok_or(Error::MissingHeader(HeaderName::CSeq))?;
        CSeq::parse(v)
    }
    /// Max-Forwards, when present (RFC 3261 §20.22).
    pub fn max_forwards(&self) -> Result<Option<u8>, Error> {
        single(self, HeaderName::MaxForwards)?
            .map(scalar::parse_max_forwards)
            .transpose()
    }
    /// Expires, when present (RFC 3261 §20.19).
    pub fn expires(&self) -> Result<Option<u32>, Error> {
        single(self, HeaderName::Expires)?
            .map(|v| scalar::parse_delta_seconds(v, HeaderName::Expires))
            .transpose()
    }
    /// Min-Expires, when present (RFC 3261 §20.23).
    pub fn min_expires(&self) -> Result<Option<u32>, Error> {
        single(self, HeaderName::MinExpires)?
            .map(|v| scalar::parse_delta_seconds(v, HeaderName::MinExpires))
            .transpose()
    }
    /// Content-Type, when present (RFC 3261 §20.15).
    pub fn content_type(&self) -> Result<Option<MediaType<'a>>, Error> {
        single(self, HeaderName::ContentType)?
            .map(MediaType::parse)
            .transpose()
    }
    /// All Contact values (RFC 3261 §20.10).
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'a>, Error>> + '_ {
        self.values(HeaderName::Contact).map(Contact::parse)
    }
    /// All Route values, top first (RFC 3261 §20.34).
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, Error>> + '_ {
        self.values(HeaderName::Route)
            .map(|v| route(v, HeaderName::Route))
    }
    /// All Record-Route values, top first (RFC 3261 §20.30).
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, Error>> + '_ {
        self.values(HeaderName::RecordRoute)
            .map(|v| route(v, HeaderName::RecordRoute))
    }
    /// All Path values, top first (RFC 3327 §4).
    pub fn paths(&self) -> impl Iterator<Item = Result<NameAddr<'a>, Error>> + '_ {
        self.values(HeaderName::Path)
            .map(|v| route(v, HeaderName::Path))
    }
    /// Authorization credentials, one per header field (RFC 3261 §20.7).
    pub fn authorizations(&self) -> impl Iterator<Item = Result<Credentials<'a>, Error>> + '_ {
        self.headers_named(HeaderName::Authorization)
            .map(|h| Credentials::parse(h.value()))
    }
    /// Proxy-Authorization credentials (RFC 3261 §20.28).
    pub fn proxy_authorizations(
        &self,
    ) -> impl Iterator<Item = Result<Credentials<'a>, Error>> + '_ {
        self.headers_named(HeaderName::ProxyAuthorization).map(|h| {
            Credentials::parse(h.value())
                .map_err(|_| Error::InvalidHeader(HeaderName::ProxyAuthorization))
        })
    }
    /// WWW-Authenticate challenges (RFC 3261 §20.44).
    pub fn www_authenticates(
        &self,
    ) -> impl Iterator<Item = Result<DigestChallenge<'a>, Error>> + '_ {
        self.headers_named(HeaderName::WwwAuthenticate)
            .map(|h| DigestChallenge::parse(h.value()))
    }
    /// Proxy-Authenticate challenges (RFC 3261 §20.27).
    pub fn proxy_authenticates(
        &self,
    ) -> impl Iterator<Item = Result<DigestChallenge<'a>, Error>> + '_ {
        self.headers_named(HeaderName::ProxyAuthenticate).map(|h| {
            DigestChallenge::parse(h.value())
                .map_err(|_| Error::InvalidHeader(HeaderName::ProxyAuthenticate))
        })
    }
    /// Option tags or methods of a token-list header field (Supported, Require,
    /// Proxy-Require, Unsupported, Allow), across repeated fields; empty items skipped.
    pub fn tokens(&self, kind: HeaderName) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.values(kind).filter(|t| !t.is_empty())
    }
    /// User-Agent as received (RFC 3261 §20.41).
    pub fn user_agent(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::UserAgent).map(|h| h.value())
    }

    /// Check what a proxy or registrar must check before acting (RFC 3261 §8.2,
    /// §16.3): mandatory header fields present once, CSeq method matching the
    /// request, parsable Via/From/To/Contact/Route/Record-Route/Path, a valid
    /// Max-Forwards, and no headers in a SIP Request-URI.
    ///
    /// Failures of requests carry a [`ReplyContext`]; failures of responses drop.
    pub fn validate(&self, limits: &Limits) -> Result<(), ParseFailure<'a>> {
        self.check(limits).map_err(|e| {
            let status = match (e, self.method()) {
                (Error::CSeqMethodMismatch, Some(Method::Other(_))) => 501,
                _ => e.status(),
            };
            let base = failure(self.as_bytes(), limits, e);
            ParseFailure::new(e, status, base.reply_context().cloned())
        })
    }

    fn check(&self, limits: &Limits) -> Result<(), Error> {
        for kind in [
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            single(self, kind)?.ok_or(Error::MissingHeader(kind))?;
        }
        if self.header(HeaderName::Via).is_none() {
            return Err(Error::MissingHeader(HeaderName::Via));
        }
        if !self.call_id().is_some_and(scalar::is_valid_call_id) {
            return Err(Error::InvalidHeader(HeaderName::CallId));
        }
        let cseq = self.cseq()?;
        self.from()?;
        self.to()?;
        let mut count = 0;
        for via in self.vias() {
            via?;
            count += 1;
            if count > limits.max_list_values {
                return Err(Error::TooManyValues);
            }
        }
        if let Some(method) = self.method() {
            if cseq.method != method {
                return Err(Error::CSeqMethodMismatch);
            }
            if let Some(Uri::Sip(u)) = self.request_uri() {
                if !u.headers_raw().is_empty() {
                    return Err(Error::RequestUriHasHeaders);
                }
            }
            self.max_forwards()?;
        }
        let mut star = false;
        let mut n = 0;
        for c in self.contacts() {
            star |= c? == Contact::Star;
            n += 1;
        }
        if star && n > 1 {
            return Err(Error::InvalidHeader(HeaderName::Contact));
        }
        let lists = self
            .routes()
            .chain(self.record_routes())
            .chain(self.paths());
        for (i, r) in lists.enumerate() {
            r?;
            if i >= limits.max_list_values {
                return Err(Error::TooManyValues);
            }
        }
        if n > limits.max_list_values {
            return Err(Error::TooManyValues);
        }
        Ok(())
    }

    /// The raw values a response to this request copies (see [`crate::ResponseBuilder`]).
    ///
    /// Taken from the header fields already split by the parse, so answering
    /// does not scan the message again.
    pub fn reply_context(&self, limits: &Limits) -> Option<ReplyContext<'a>> {
        ReplyContext::of_message(self, limits)
    }
}
