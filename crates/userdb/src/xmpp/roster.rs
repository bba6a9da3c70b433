//! Rosters (RFC 6121 §2) with subscription state (RFC 6121 §3) and a
//! per-user version counter for roster versioning (RFC 6121 §2.6).

use super::{lock_account, XmppStore};
use crate::backend::retry_conflicts;
use crate::error::{Entity, Error, Result};
use crate::sql::{check_name, check_text, check_xml, Exec, Row, Sql, Value};

use super::storage::{MAX_JID_LEN, MAX_XML_LEN};

/// Longest stored group list (all names, one byte between each).
const MAX_GROUPS_LEN: usize = 4096;

const ROSTER_GET: Sql = Sql::both(
    "SELECT a.roster_version, r.contact, r.name, r.subscription, r.ask, r.approved, \
     r.pending_in, r.group_names FROM xmpp_account a LEFT JOIN xmpp_roster r \
     ON r.host = a.host AND r.username = a.username \
     WHERE a.host = ? AND a.username = ? ORDER BY r.contact",
);
const ITEM_GET: Sql = Sql::both(
    "SELECT contact, name, subscription, ask, approved, pending_in, group_names \
     FROM xmpp_roster WHERE host = ? AND username = ? AND contact = ?",
);
const ITEM_UPDATE: Sql = Sql::both(
    "UPDATE xmpp_roster SET name = ?, subscription = ?, ask = ?, approved = ?, \
     pending_in = ?, group_names = ? WHERE host = ? AND username = ? AND contact = ?",
);
const ITEM_INSERT: Sql = Sql::both(
    "INSERT INTO xmpp_roster (name, subscription, ask, approved, pending_in, group_names, \
     host, username, contact) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
);
const ITEM_DELETE: Sql =
    Sql::both("DELETE FROM xmpp_roster WHERE host = ? AND username = ? AND contact = ?");
const ITEM_COUNT: Sql =
    Sql::both("SELECT COUNT(*) FROM xmpp_roster WHERE host = ? AND username = ?");
const BUMP_VERSION: Sql = Sql::both(
    "UPDATE xmpp_account SET roster_version = roster_version + 1 \
     WHERE host = ? AND username = ?",
);

/// The subscription state of a roster item, RFC 6121 §2.1.2.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscription {
    /// Neither side receives the other's presence.
    None,
    /// The user receives the contact's presence.
    To,
    /// The contact receives the user's presence.
    From,
    /// Both directions.
    Both,
}

impl Subscription {
    /// The value of the `subscription` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Subscription::None),
            "to" => Ok(Subscription::To),
            "from" => Ok(Subscription::From),
            "both" => Ok(Subscription::Both),
            _ => Err(Error::Corrupt("unknown roster subscription")),
        }
    }
}

/// One roster item and the subscription state the server keeps for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterItem {
    /// The contact's bare JID (the item key), at most 1023 bytes.
    pub jid: String,
    /// The handle the user gave the contact, RFC 6121 §2.1.2.4.
    pub name: Option<String>,
    /// RFC 6121 §2.1.2.5.
    pub subscription: Subscription,
    /// The user asked to subscribe and the contact has not answered
    /// (`ask="subscribe"`), RFC 6121 §2.1.2.2 and §3.1.2.
    pub ask: bool,
    /// The user pre-approved the contact's subscription, RFC 6121 §3.4.
    pub approved: bool,
    /// An inbound subscription request awaiting the user's answer, RFC 6121
    /// §3.1.3: the presence stanza to deliver again at the next login (an
    /// `xmppd` that keeps no stanza stores a minimal one). An item that
    /// exists only for this (subscription none, no ask) is not yet a
    /// roster entry; `xmppd` leaves it out of roster results.
    pub pending_in: Option<String>,
    /// The groups the item is in, RFC 6121 §2.1.2.6; no control characters.
    pub groups: Vec<String>,
}

/// A user's whole roster and its version, read in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// Incremented by every change to any item; `xmppd` sends it as the
    /// roster `ver` (RFC 6121 §2.6).
    pub version: u64,
    /// The items, ordered by JID.
    pub items: Vec<RosterItem>,
}

impl RosterItem {
    fn check(&self) -> Result<()> {
        check_text("jid", &self.jid, MAX_JID_LEN)?;
        if let Some(name) = &self.name {
            check_text("name", name, MAX_JID_LEN)?;
        }
        if let Some(stanza) = &self.pending_in {
            check_xml("pending_in", stanza, MAX_XML_LEN)?;
        }
        for group in &self.groups {
            check_name("group", group)?;
        }
        let len = self.groups.iter().map(|g| g.len() + 1).sum::<usize>();
        if len > MAX_GROUPS_LEN + 1 {
            return Err(Error::InvalidInput {
                field: "groups",
                reason: "longer than 4096 bytes together",
            });
        }
        Ok(())
    }

    /// Parameters of ITEM_UPDATE and ITEM_INSERT.
    fn params(&self, host: &str, username: &str) -> Vec<Value> {
        let groups = (!self.groups.is_empty()).then(|| self.groups.join("\n"));
        vec![
            self.name.as_deref().into(),
            self.subscription.as_str().into(),
            self.ask.into(),
            self.approved.into(),
            self.pending_in.as_deref().into(),
            groups.as_deref().into(),
            host.into(),
            username.into(),
            self.jid.as_str().into(),
        ]
    }

    /// Reads the item columns starting at `offset`.
    fn from_row(r: &Row, offset: usize) -> Result<Self> {
        Ok(RosterItem {
            jid: r.text(offset)?,
            name: r.opt_text(offset + 1)?,
            subscription: Subscription::parse(&r.text(offset + 2)?)?,
            ask: r.flag(offset + 3)?,
            approved: r.flag(offset + 4)?,
            pending_in: r.opt_text(offset + 5)?,
            groups: r
                .opt_text(offset + 6)?
                .map(|g| g.split('\n').map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }
}

impl XmppStore {
    /// The user's roster and its version; `None` if there is no such
    /// account. One query.
    pub async fn roster(&self, host: &str, username: &str) -> Result<Option<Roster>> {
        if check_name("host", host).is_err() || check_name("username", username).is_err() {
            return Ok(None);
        }
        let rows = self
            .db
            .query(ROSTER_GET, vec![host.into(), username.into()])
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let version = first.count(0)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            // The LEFT JOIN yields one all-NULL item for an empty roster.
            if !r.is_null(1)? {
                items.push(RosterItem::from_row(r, 1)?);
            }
        }
        Ok(Some(Roster { version, items }))
    }

    /// One roster item, or `None`.
    pub async fn roster_item(
        &self,
        host: &str,
        username: &str,
        jid: &str,
    ) -> Result<Option<RosterItem>> {
        let row = self
            .db
            .query_opt(ITEM_GET, vec![host.into(), username.into(), jid.into()])
            .await?;
        row.map(|r| RosterItem::from_row(&r, 0)).transpose()
    }

    /// Adds or replaces the item with `item.jid` and returns the new roster
    /// version. Adding a new item when the roster already has `max_items`
    /// is [`Error::QuotaExceeded`]; no account is [`Error::NotFound`].
    pub async fn set_roster_item(
        &self,
        host: &str,
        username: &str,
        item: &RosterItem,
        max_items: u32,
    ) -> Result<u64> {
        item.check()?;
        retry_conflicts(|| async move {
            let (mut tx, version) = lock_account(&self.db, host, username).await?;
            let params = item.params(host, username);
            let updated =
                matches!(tx.exec(ITEM_UPDATE, params.clone()).await?, Exec::Rows(n) if n > 0);
            if !updated {
                let count = tx
                    .query_opt(ITEM_COUNT, vec![host.into(), username.into()])
                    .await?
                    .ok_or(Error::Corrupt("count query returned no row"))?
                    .count(0)?;
                if count >= u64::from(max_items) {
                    return Err(Error::QuotaExceeded {
                        entity: Entity::XmppRosterItem,
                        limit: u64::from(max_items),
                    });
                }
                if tx.exec(ITEM_INSERT, params).await? == Exec::Duplicate {
                    return Err(self.db.conflict());
                }
            }
            tx.exec(BUMP_VERSION, vec![host.into(), username.into()])
                .await?;
            tx.commit().await?;
            Ok(version + 1)
        })
        .await
    }

    /// Removes an item and returns the new roster version;
    /// [`Error::NotFound`] if there is no such item (the version is then
    /// unchanged) or no such account.
    pub async fn remove_roster_item(&self, host: &str, username: &str, jid: &str) -> Result<u64> {
        retry_conflicts(|| async move {
            let (mut tx, version) = lock_account(&self.db, host, username).await?;
            let n = tx
                .exec(ITEM_DELETE, vec![host.into(), username.into(), jid.into()])
                .await?;
            if n == Exec::Rows(0) {
                return Err(Error::NotFound(Entity::XmppRosterItem));
            }
            tx.exec(BUMP_VERSION, vec![host.into(), username.into()])
                .await?;
            tx.commit().await?;
            Ok(version + 1)
        })
        .await
    }
}
