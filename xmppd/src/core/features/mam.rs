//! Message archive management (XEP-0313, `urn:xmpp:mam:2`) for one-to-one
//! chats: every `chat` or `normal` message with a body is archived for the
//! local sender and the local recipient, the recipient's copy carries a
//! stanza-id (XEP-0359), and the owner queries by `with`, `start`/`end`
//! and pages with RSM (XEP-0059).
//!
//! Writes and queries for one account go through the same ordered storage
//! queue, so a message is written before a later query can miss it. Order
//! is the storage's monotonic row id. Growth is bounded by a per-account
//! cap and by expiry (`expires_after_seconds`, default one week like
//! Prosody's `archive_expires_after`), run on a timer in small batches.

use std::time::Duration;

use rtc_xmlstream::{ns, Element, Node};
use serde::Deserialize;

use crate::core::error::{StanzaCondition, StanzaError};
use crate::core::jid::Jid;
use crate::core::pending::{AfterWrite, IqReply, Pending};
use crate::core::server::{Server, TimerKey};
use crate::core::stanza::{self, MessageType};
use crate::core::storage::{
    ArchivePage, ArchiveQuery, StorageAnswer, StorageError, StorageRequest,
};
use crate::core::types::SessionId;

/// XEP-0313 namespace.
pub(crate) const NS: &str = "urn:xmpp:mam:2";
/// XEP-0359 namespace.
pub(crate) const NS_SID: &str = "urn:xmpp:sid:0";
/// XEP-0059 namespace.
pub(crate) const NS_RSM: &str = "http://jabber.org/protocol/rsm";
/// XEP-0297 namespace.
const NS_FORWARD: &str = "urn:xmpp:forward:0";
/// XEP-0004 namespace.
pub(crate) const NS_DATA: &str = "jabber:x:data";
/// XEP-0203 namespace.
const NS_DELAY: &str = "urn:xmpp:delay";

/// `archive:` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Archive one-to-one messages and answer XEP-0313 queries.
    pub enabled: bool,
    /// Messages older than this are deleted (Prosody's
    /// `archive_expires_after`, one week); 0 keeps them until the cap.
    pub expires_after_seconds: u64,
    /// Most messages kept per account; the oldest go first.
    pub max_messages_per_account: u32,
    /// How often the expiry runs.
    pub expiry_interval_seconds: u64,
    /// Most messages one expiry step deletes; a full batch runs the next
    /// step a second later.
    pub expiry_batch: u32,
    /// Page size when the client gives no RSM `<max/>`.
    pub default_page_size: u32,
    /// Largest page a client may ask for.
    pub max_page_size: u32,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            expires_after_seconds: 7 * 86_400,
            max_messages_per_account: 10_000,
            expiry_interval_seconds: 60,
            expiry_batch: 500,
            default_page_size: 20,
            max_page_size: 250,
        }
    }
}

/// Whether a message is archived (XEP-0313 §5.1.1: chat and normal with a body).
fn archivable(e: &Element) -> bool {
    matches!(MessageType::of(e), MessageType::Chat | MessageType::Normal)
        && e.find_child("body", ns::CLIENT).is_some()
}

/// A copy of `e` without children for which `drop` holds.
fn without_children(e: &Element, drop: impl Fn(&Element) -> bool) -> Element {
    let mut out = Element::new(e.name(), e.ns());
    for a in e.attributes() {
        out.set_attr_ns(a.ns.clone(), a.name.clone(), a.value.clone());
    }
    for n in e.nodes() {
        match n {
            Node::Element(c) if drop(c) => {}
            Node::Element(c) => out.push_child(c.clone()),
            Node::Text(t) => out.push_text(t),
        }
    }
    out
}

/// XEP-0082 `DateTime` to Unix seconds (fractions dropped).
pub(crate) fn parse_datetime(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (clock, offset) = match time.find(['Z', '+', '-']) {
        Some(i) => time.split_at(i),
        None => return None,
    };
    let clock = clock.split('.').next()?;
    let mut t = clock.splitn(3, ':');
    let hh: i64 = t.next()?.parse().ok()?;
    let mm: i64 = t.next()?.parse().ok()?;
    let ss: i64 = t.next()?.parse().ok()?;
    let off = match offset {
        "Z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o.get(1..)?.split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    let valid = (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && (0..24).contains(&hh)
        && (0..60).contains(&mm)
        && (0..=60).contains(&ss);
    if !valid {
        return None;
    }
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss - off).ok()
}

/// The query form (XEP-0313 §4.1.1) returned to `iq type='get'`.
fn query_form() -> Element {
    let field = |var: &str, kind: &str| {
        Element::new("field", NS_DATA)
            .attr("var", var)
            .attr("type", kind)
    };
    Element::new("query", NS).child(
        Element::new("x", NS_DATA)
            .attr("type", "form")
            .child(field("FORM_TYPE", "hidden").child(Element::new("value", NS_DATA).text(NS)))
            .child(field("with", "jid-single"))
            .child(field("start", "text-single"))
            .child(field("end", "text-single")),
    )
}

/// Parse a `<query/>` into filters and paging, or the error to answer.
fn parse_query(q: &Element, config: &ArchiveConfig) -> Result<ArchiveQuery, StanzaError> {
    let bad = || StanzaError::new(StanzaCondition::BadRequest);
    let mut out = ArchiveQuery {
        max: config.default_page_size,
        ..Default::default()
    };
    if let Some(form) = q.find_child("x", NS_DATA) {
        for f in form.find_children("field", NS_DATA) {
            let value = f.child_text("value", NS_DATA).map(|v| v.trim().to_owned());
            let Some(value) = value.filter(|v| !v.is_empty()) else {
                continue;
            };
            match f.attribute("var") {
                Some("FORM_TYPE") if value != NS => return Err(bad()),
                Some("with") => out.with = Some(Jid::parse(&value).map_err(|_| bad())?.bare()),
                Some("start") => out.start = Some(parse_datetime(&value).ok_or_else(bad)?),
                Some("end") => out.end = Some(parse_datetime(&value).ok_or_else(bad)?),
                Some("FORM_TYPE") => {}
                // XEP-0313 §4.1.1: unknown fields are an error.
                _ => return Err(bad()),
            }
        }
    }
    if let Some(set) = q.find_child("set", NS_RSM) {
        if let Some(max) = set.child_text("max", NS_RSM) {
            out.max = max.trim().parse::<u32>().map_err(|_| bad())?;
        }
        if let Some(after) = set.child_text("after", NS_RSM) {
            out.after = Some(after.trim().to_owned()).filter(|a| !a.is_empty());
        }
        if let Some(before) = set.find_child("before", NS_RSM) {
            let id = before.text_content().trim().to_owned();
            if id.is_empty() {
                out.last_page = true;
            } else {
                out.before = Some(id);
            }
        }
    }
    out.max = out.max.min(config.max_page_size);
    Ok(out)
}

impl Server {
    /// Archive a message a local user sent (before routing it).
    pub(crate) fn mam_outgoing(&mut self, own: &Jid, e: &Element, to: &Jid) {
        if !self.config.archive.enabled || !archivable(e) || &to.bare() == own {
            return;
        }
        let id = self.random_token(16);
        self.mam_store(own, id, to.bare(), e.clone());
    }

    /// Archive a message for its local recipient, stamping the stanza-id
    /// (XEP-0359 §3) it is delivered with. Stanza-ids claiming to be ours
    /// are removed first (XEP-0359 §4).
    pub(crate) fn mam_incoming(&mut self, e: Element, to: &Jid) -> Element {
        let own = to.bare();
        let by = own.to_string();
        if !self.config.archive.enabled || !archivable(&e) || self.account(&own).is_none() {
            return e;
        }
        let mut e = without_children(&e, |c| {
            c.is(NS_SID_NAME, NS_SID) && c.attribute("by") == Some(by.as_str())
        });
        let id = self.random_token(16);
        e.push_child(
            Element::new(NS_SID_NAME, NS_SID)
                .attr("id", id.as_str())
                .attr("by", by),
        );
        let with = stanza::from_jid(&e)
            .map(|f| f.bare())
            .unwrap_or_else(|| own.domain_jid());
        self.mam_store(&own, id, with, e.clone());
        e
    }

    fn mam_store(&mut self, user: &Jid, id: String, with: Jid, message: Element) {
        let request = StorageRequest::ArchiveMessage {
            user: user.clone(),
            id,
            with,
            stored_at: self.clock.unix(self.now).as_secs(),
            message: Box::new(message),
            max_messages: self.config.archive.max_messages_per_account,
        };
        self.write(user, request, AfterWrite::Nothing, None);
    }

    /// `<query xmlns='urn:xmpp:mam:2'/>` to the user's own archive.
    pub(crate) fn mam_iq(&mut self, sid: SessionId, e: Element, get: bool) {
        if !self.config.archive.enabled {
            let err = StanzaError::new(StanzaCondition::ServiceUnavailable);
            return self.reply_error_to(sid, &e, err);
        }
        if get {
            return self.deliver(sid, stanza::iq_result_with(&e, query_form()));
        }
        let Some(user) = self.sessions.get(&sid).map(|s| s.jid.bare()) else {
            return;
        };
        let Some(q) = stanza::iq_payload(&e) else {
            return;
        };
        let queryid = q.attribute("queryid").map(str::to_owned);
        let query = match parse_query(q, &self.config.archive) {
            Ok(query) => query,
            Err(err) => return self.reply_error_to(sid, &e, err),
        };
        if !self.request_slot(sid) {
            let err = StanzaError::new(StanzaCondition::ResourceConstraint);
            return self.reply_error_to(sid, &e, err);
        }
        let pending = Pending::Archive {
            reply: IqReply { sid, iq: e },
            queryid,
        };
        self.request(
            StorageRequest::QueryArchive {
                user,
                query: Box::new(query),
            },
            pending,
        );
    }

    /// The storage answered a `QueryArchive`: the results as messages, then
    /// the IQ result with `<fin/>` (XEP-0313 §4.2).
    pub(crate) fn mam_results(
        &mut self,
        reply: IqReply,
        queryid: Option<String>,
        result: Result<StorageAnswer, StorageError>,
    ) {
        self.request_done(reply.sid);
        let page: ArchivePage = match result {
            Ok(StorageAnswer::Archive(page)) => page,
            Ok(StorageAnswer::NotFound) => {
                let err = StanzaError::new(StanzaCondition::ItemNotFound);
                return self.reply_error_to(reply.sid, &reply.iq, err);
            }
            _ => {
                let err = StanzaError::new(StanzaCondition::InternalServerError);
                return self.reply_error_to(reply.sid, &reply.iq, err);
            }
        };
        let Some(session) = self.sessions.get(&reply.sid) else {
            return;
        };
        let (full, own) = (session.jid.to_string(), session.jid.bare().to_string());
        for m in &page.messages {
            let mut result = Element::new("result", NS).attr("id", m.id.as_str());
            if let Some(q) = &queryid {
                result.set_attr("queryid", q.as_str());
            }
            let forwarded = Element::new("forwarded", NS_FORWARD)
                .child(
                    Element::new("delay", NS_DELAY)
                        .attr("stamp", crate::core::format_datetime(m.stored_at)),
                )
                .child(m.message.clone());
            let id = self.random_token(12);
            let msg = Element::new("message", ns::CLIENT)
                .attr("from", own.as_str())
                .attr("to", full.as_str())
                .attr("id", id)
                .child(result.child(forwarded));
            self.deliver(reply.sid, msg);
        }
        let mut set = Element::new("set", NS_RSM);
        if let (Some(first), Some(last)) = (page.messages.first(), page.messages.last()) {
            set.push_child(Element::new("first", NS_RSM).text(&first.id));
            set.push_child(Element::new("last", NS_RSM).text(&last.id));
        }
        set.push_child(Element::new("count", NS_RSM).text(page.count.to_string()));
        let mut fin = Element::new("fin", NS).child(set);
        if page.complete {
            fin.set_attr("complete", "true");
        }
        self.deliver(reply.sid, stanza::iq_result_with(&reply.iq, fin));
    }

    /// Arm the first expiry step (called once the core exists).
    pub(crate) fn mam_arm_expiry(&mut self, after: Duration) {
        let a = &self.config.archive;
        if a.enabled && a.expires_after_seconds > 0 {
            let at = self.now + after;
            self.arm(at, TimerKey::ArchiveExpiry);
        }
    }

    /// One expiry step: delete a batch of messages older than the retention.
    pub(crate) fn mam_expire(&mut self) {
        let a = &self.config.archive;
        if !a.enabled || a.expires_after_seconds == 0 {
            return;
        }
        let batch = a.expiry_batch.max(1);
        let before = self
            .clock
            .unix(self.now)
            .as_secs()
            .saturating_sub(a.expires_after_seconds);
        self.request(
            StorageRequest::ExpireArchive { before, batch },
            Pending::ArchiveExpiry { batch },
        );
    }

    /// The storage finished an expiry step: a full batch means more are due
    /// soon, otherwise wait for the next interval.
    pub(crate) fn mam_expired(&mut self, batch: u32, result: Result<StorageAnswer, StorageError>) {
        let full = matches!(result, Ok(StorageAnswer::Expired(n)) if n >= u64::from(batch));
        let wait = if full {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(self.config.archive.expiry_interval_seconds.max(1))
        };
        self.mam_arm_expiry(wait);
    }
}

/// XEP-0359 element name.
const NS_SID_NAME: &str = "stanza-id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_per_xep_0082() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_datetime("2010-07-10T23:08:25Z"), Some(1_278_803_305));
        assert_eq!(
            parse_datetime("2010-07-10T23:08:25.123Z"),
            Some(1_278_803_305)
        );
        assert_eq!(
            parse_datetime("2010-07-11T01:08:25+02:00"),
            Some(1_278_803_305)
        );
        assert_eq!(
            parse_datetime("2024-02-29T13:05:09Z")
                .map(crate::core::format_datetime)
                .as_deref(),
            Some("2024-02-29T13:05:09Z")
        );
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime("2010-13-10T23:08:25Z"), None);
    }

    #[test]
    fn queries_parse_filters_and_cap_the_page() {
        let config = ArchiveConfig::default();
        let field = |var: &str, v: &str| {
            Element::new("field", NS_DATA)
                .attr("var", var)
                .child(Element::new("value", NS_DATA).text(v))
        };
        let q = Element::new("query", NS)
            .child(
                Element::new("x", NS_DATA)
                    .child(field("FORM_TYPE", NS))
                    .child(field("with", "Juliet@capulet.lit/balcony"))
                    .child(field("start", "1970-01-01T00:01:00Z")),
            )
            .child(
                Element::new("set", NS_RSM)
                    .child(Element::new("max", NS_RSM).text("100000"))
                    .child(Element::new("before", NS_RSM)),
            );
        let parsed = parse_query(&q, &config).unwrap_or_default();
        assert_eq!(
            parsed.with.map(|j| j.to_string()).as_deref(),
            Some("juliet@capulet.lit")
        );
        assert_eq!(parsed.start, Some(60));
        assert_eq!(parsed.max, 250);
        assert!(parsed.last_page);
        let unknown = Element::new("query", NS)
            .child(Element::new("x", NS_DATA).child(field("colour", "red")));
        assert!(parse_query(&unknown, &config).is_err());
        assert_eq!(
            parse_query(&Element::new("query", NS), &config).map(|q| q.max),
            Ok(20)
        );
    }
}
