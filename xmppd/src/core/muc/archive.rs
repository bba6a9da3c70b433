//! The room archive (XEP-0313 on a MUC, §6.1.2): queries by time and
//! occupant with RSM paging (XEP-0059), answered from the room's log.

use rtc_xmlstream::{ns, Element};

use super::form::{Submitted, NS_DATA};
use super::room::{Affiliation, Logged};
use super::{delay, MucService};
use crate::core::error::StanzaCondition;
use crate::core::jid::Jid;
use crate::core::stanza;

/// XEP-0313 namespace.
pub(crate) const NS_MAM: &str = "urn:xmpp:mam:2";
/// XEP-0059 namespace.
const NS_RSM: &str = "http://jabber.org/protocol/rsm";
/// XEP-0297 namespace.
const NS_FORWARD: &str = "urn:xmpp:forward:0";

impl MucService {
    /// `<query xmlns='urn:xmpp:mam:2'/>` to a room.
    pub(super) fn mam_query(&mut self, e: &Element, node: &str, from: &Jid) {
        let Some(r) = self.rooms.get(node) else {
            return;
        };
        let aff = r.state.affiliation(from);
        let occupant = self.nick_of(node, from).is_some();
        let may = aff != Affiliation::Outcast
            && (!r.state.config.members_only || aff <= Affiliation::Member)
            && (r.state.config.public || occupant || aff <= Affiliation::Member);
        if !may {
            return self.reject(e, StanzaCondition::Forbidden);
        }
        let Some(q) = stanza::iq_payload(e) else {
            return self.reject(e, StanzaCondition::BadRequest);
        };
        let form = q
            .find_child("x", NS_DATA)
            .map(Submitted::parse)
            .unwrap_or_default();
        let time = |k: &str| form.text(k).map(parse_datetime);
        let start = match time("start") {
            Some(None) => return self.reject(e, StanzaCondition::BadRequest),
            Some(Some(t)) => Some(t),
            None => None,
        };
        let end = match time("end") {
            Some(None) => return self.reject(e, StanzaCondition::BadRequest),
            Some(Some(t)) => Some(t),
            None => None,
        };
        let with = match form.text("with").map(Jid::parse) {
            Some(Err(_)) => return self.reject(e, StanzaCondition::JidMalformed),
            Some(Ok(j)) => Some(j),
            None => None,
        };
        let set = q.find_child("set", NS_RSM);
        let max = set
            .and_then(|s| s.child_text("max", NS_RSM))
            .and_then(|m| m.trim().parse::<usize>().ok())
            .unwrap_or(self.config.max_page)
            .min(self.config.max_page);
        let after = set
            .and_then(|s| s.child_text("after", NS_RSM))
            .map(|a| a.into_owned());
        let before = set
            .and_then(|s| s.find_child("before", NS_RSM))
            .map(|b| b.text_content().into_owned());
        let matches = |l: &Logged| {
            start.is_none_or(|s| l.stamp >= s)
                && end.is_none_or(|t| l.stamp <= t)
                && with.as_ref().is_none_or(|w| match w.resource() {
                    Some(nick) => nick == l.nick,
                    None => l.real.as_ref().is_some_and(|r| r == w),
                })
        };
        let all: Vec<&Logged> = r.state.log.iter().filter(|l| matches(l)).collect();
        let count = all.len();
        let mut lo = 0;
        let mut hi = all.len();
        if let Some(a) = &after {
            match all.iter().position(|l| &l.id == a) {
                Some(i) => lo = i + 1,
                None => return self.reject(e, StanzaCondition::ItemNotFound),
            }
        }
        if let Some(b) = &before {
            if !b.is_empty() {
                match all.iter().position(|l| &l.id == b) {
                    Some(i) => hi = i,
                    None => return self.reject(e, StanzaCondition::ItemNotFound),
                }
            }
        }
        let window = all.get(lo..hi.max(lo)).unwrap_or_default();
        // `<before/>` pages back from the end; otherwise forward from the start.
        let (page, complete) = if before.is_some() {
            let skip = window.len().saturating_sub(max);
            (window.get(skip..).unwrap_or_default(), skip == 0)
        } else {
            let take = window.len().min(max);
            (window.get(..take).unwrap_or_default(), take == window.len())
        };
        let room_jid = r.jid.clone();
        let queryid = q.attribute("queryid").map(str::to_owned);
        let mut out = Vec::new();
        for l in page {
            let mut result = Element::new("result", NS_MAM).attr("id", l.id.as_str());
            if let Some(qid) = &queryid {
                result.set_attr("queryid", qid.as_str());
            }
            let mut m = l.message.clone();
            m.remove_attr("to");
            result.push_child(
                Element::new("forwarded", NS_FORWARD)
                    .child(delay(&room_jid, l.stamp))
                    .child(m),
            );
            out.push(
                Element::new("message", ns::CLIENT)
                    .attr("from", room_jid.to_string())
                    .attr("to", from.to_string())
                    .child(result),
            );
        }
        let mut rsm = Element::new("set", NS_RSM);
        if let (Some(first), Some(last)) = (page.first(), page.last()) {
            rsm.push_child(Element::new("first", NS_RSM).text(&first.id));
            rsm.push_child(Element::new("last", NS_RSM).text(&last.id));
        }
        rsm.push_child(Element::new("count", NS_RSM).text(count.to_string()));
        let fin = Element::new("fin", NS_MAM)
            .attr("complete", if complete { "true" } else { "false" })
            .child(rsm);
        self.out.extend(out);
        self.out.push(stanza::iq_result_with(e, fin));
    }
}

/// XEP-0082 `DateTime` to Unix seconds (fractions dropped, offsets applied).
pub(crate) fn parse_datetime(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0i64)
    } else {
        let i = time.rfind(['+', '-'])?;
        let (c, o) = time.split_at(i);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (oh, om) = o.get(1..)?.split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let clock = clock.split('.').next()?;
    let mut t = clock.splitn(3, ':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let sec: i64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, m, day);
    let total = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(total).ok()
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::format_datetime;

    #[test]
    fn datetimes_parse_back_to_what_was_formatted() {
        for t in [0u64, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_datetime(&format_datetime(t)), Some(t));
        }
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_datetime("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime("2023-13-14T22:13:20Z"), None);
    }
}
