//! Schema version 4 and its operations: the per-user message archive
//! (XEP-0313) and push registrations (XEP-0357).
//!
//! Archive rows carry a monotonic row id (the order of the archive), the
//! public archive id handed to clients as the XEP-0359 stanza-id, the bare
//! JID of the other party and the time `xmppd` archived the message, given
//! by the caller (its clock is the one that counts). Growth is bounded
//! twice: [`XmppStore::archive_append`] drops the oldest rows beyond a
//! per-account cap, and [`XmppStore::archive_expire`] deletes rows older
//! than a cutoff in small batches.

use super::storage::{MAX_JID_LEN, MAX_XML_LEN};
use super::{lock_account, XmppStore};
use crate::backend::retry_conflicts;
use crate::error::{Entity, Error, Result};
use crate::migrate::Migration;
use crate::sql::{check_name, check_text, check_xml, unix_now, Exec, Sql};

/// Longest public archive id accepted, in bytes.
pub const MAX_ARCHIVE_ID_LEN: usize = 64;
/// Longest push node or stored publish-options form, in bytes.
const MAX_PUSH_NODE_LEN: usize = 1023;
/// Most rows one query returns, whatever the caller asks.
pub const MAX_ARCHIVE_PAGE: u32 = 1000;

/// Schema version 4: the message archive and push registrations.
pub(crate) const XMPP_4_ARCHIVE_PUSH: Migration = Migration {
    version: 4,
    name: "xmpp message archive and push registrations",
    sqlite: &[
        "CREATE TABLE xmpp_archive (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            host TEXT NOT NULL,
            username TEXT NOT NULL,
            archive_id TEXT NOT NULL,
            with_jid TEXT NOT NULL,
            stored_at INTEGER NOT NULL,
            stanza TEXT NOT NULL,
            FOREIGN KEY (host, username) REFERENCES xmpp_account (host, username)
                ON DELETE CASCADE
        ) STRICT",
        "CREATE UNIQUE INDEX xmpp_archive_key ON xmpp_archive (host, username, archive_id)",
        "CREATE INDEX xmpp_archive_owner ON xmpp_archive (host, username, id)",
        "CREATE INDEX xmpp_archive_age ON xmpp_archive (stored_at)",
        "CREATE TABLE xmpp_push (
            host TEXT NOT NULL,
            username TEXT NOT NULL,
            service TEXT NOT NULL,
            node TEXT NOT NULL,
            options TEXT,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (host, username, service, node),
            FOREIGN KEY (host, username) REFERENCES xmpp_account (host, username)
                ON DELETE CASCADE
        ) STRICT",
    ],
    mysql: &[
        "CREATE TABLE IF NOT EXISTS xmpp_archive (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            host VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            archive_id VARBINARY(64) NOT NULL,
            with_jid VARBINARY(1023) NOT NULL,
            stored_at BIGINT NOT NULL,
            stanza MEDIUMBLOB NOT NULL,
            UNIQUE KEY xmpp_archive_key (host, username, archive_id),
            KEY xmpp_archive_owner (host, username, id),
            KEY xmpp_archive_age (stored_at),
            CONSTRAINT xmpp_archive_account FOREIGN KEY (host, username)
                REFERENCES xmpp_account (host, username) ON DELETE CASCADE
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS xmpp_push (
            host VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            service VARBINARY(1023) NOT NULL,
            node VARBINARY(1023) NOT NULL,
            options MEDIUMBLOB NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (host, username, service(255), node(255)),
            CONSTRAINT xmpp_push_account FOREIGN KEY (host, username)
                REFERENCES xmpp_account (host, username) ON DELETE CASCADE
        ) ENGINE=InnoDB",
    ],
};

const ARCHIVE_INSERT: Sql = Sql::both(
    "INSERT INTO xmpp_archive (host, username, archive_id, with_jid, stored_at, stanza) \
     VALUES (?, ?, ?, ?, ?, ?)",
);
const ARCHIVE_COUNT_ALL: Sql =
    Sql::both("SELECT COUNT(*) FROM xmpp_archive WHERE host = ? AND username = ?");
const ARCHIVE_NTH_NEWEST: Sql = Sql::both(
    "SELECT id FROM xmpp_archive WHERE host = ? AND username = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
);
const ARCHIVE_DELETE_THROUGH: Sql =
    Sql::both("DELETE FROM xmpp_archive WHERE host = ? AND username = ? AND id <= ?");
const ARCHIVE_ROW_OF: Sql =
    Sql::both("SELECT id FROM xmpp_archive WHERE host = ? AND username = ? AND archive_id = ?");
/// Filter parameters: host, username, with, with, start, end, lo, hi, limit.
const ARCHIVE_PAGE_ASC: Sql = Sql::both(
    "SELECT id, archive_id, stored_at, stanza FROM xmpp_archive \
     WHERE host = ? AND username = ? AND (? = '' OR with_jid = ?) \
     AND stored_at >= ? AND stored_at <= ? AND id > ? AND id < ? ORDER BY id ASC LIMIT ?",
);
const ARCHIVE_PAGE_DESC: Sql = Sql::both(
    "SELECT id, archive_id, stored_at, stanza FROM xmpp_archive \
     WHERE host = ? AND username = ? AND (? = '' OR with_jid = ?) \
     AND stored_at >= ? AND stored_at <= ? AND id > ? AND id < ? ORDER BY id DESC LIMIT ?",
);
const ARCHIVE_COUNT: Sql = Sql::both(
    "SELECT COUNT(*) FROM xmpp_archive \
     WHERE host = ? AND username = ? AND (? = '' OR with_jid = ?) \
     AND stored_at >= ? AND stored_at <= ?",
);
const ARCHIVE_EXPIRE: Sql = Sql {
    sqlite: "DELETE FROM xmpp_archive WHERE id IN \
             (SELECT id FROM xmpp_archive WHERE stored_at < ? ORDER BY stored_at LIMIT ?)",
    mysql: "DELETE FROM xmpp_archive WHERE stored_at < ? ORDER BY stored_at LIMIT ?",
};
const ARCHIVE_CLEAR: Sql = Sql::both("DELETE FROM xmpp_archive WHERE host = ? AND username = ?");

const PUSH_UPDATE: Sql = Sql::both(
    "UPDATE xmpp_push SET options = ? WHERE host = ? AND username = ? AND service = ? AND node = ?",
);
const PUSH_INSERT: Sql = Sql::both(
    "INSERT INTO xmpp_push (options, host, username, service, node, created_at) \
     VALUES (?, ?, ?, ?, ?, ?)",
);
const PUSH_COUNT: Sql = Sql::both("SELECT COUNT(*) FROM xmpp_push WHERE host = ? AND username = ?");
const PUSH_DELETE_NODE: Sql =
    Sql::both("DELETE FROM xmpp_push WHERE host = ? AND username = ? AND service = ? AND node = ?");
const PUSH_DELETE_SERVICE: Sql =
    Sql::both("DELETE FROM xmpp_push WHERE host = ? AND username = ? AND service = ?");
const PUSH_LIST: Sql = Sql::both(
    "SELECT service, node, options FROM xmpp_push WHERE host = ? AND username = ? \
     ORDER BY service, node",
);

/// A message to archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry<'a> {
    /// Public id (the XEP-0359 stanza-id), unique per account.
    pub archive_id: &'a str,
    /// Bare JID of the other party.
    pub with: &'a str,
    /// When it was archived, in Unix seconds.
    pub stored_at: i64,
    /// The message as serialised XML.
    pub stanza: &'a str,
}

/// Drop the account's oldest archived messages beyond `max_messages`.
async fn trim_archive(tx: &mut crate::backend::Tx, host: &str, username: &str, max_messages: u32) -> Result<()> {
    let count = tx
        .query_opt(ARCHIVE_COUNT_ALL, vec![host.into(), username.into()])
        .await?
        .ok_or(Error::Corrupt("count query returned no row"))?
        .count(0)?;
    if count > u64::from(max_messages) {
        let nth = vec![host.into(), username.into(), i64::from(max_messages).into()];
        if let Some(row) = tx.query_opt(ARCHIVE_NTH_NEWEST, nth).await? {
            let through = row.int(0)?;
            let del = vec![host.into(), username.into(), through.into()];
            tx.exec(ARCHIVE_DELETE_THROUGH, del).await?;
        }
    }
    Ok(())
}

/// One message of [`XmppStore::archive_append_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveAppend<'a> {
    /// The account's host.
    pub host: &'a str,
    /// The account's user name.
    pub username: &'a str,
    /// The message.
    pub entry: ArchiveEntry<'a>,
    /// The account's cap, as for [`XmppStore::archive_append`].
    pub max_messages: u32,
}

impl ArchiveAppend<'_> {
    fn check(&self) -> Result<()> {
        check_name("host", self.host)?;
        check_name("username", self.username)?;
        check_text("archive_id", self.entry.archive_id, MAX_ARCHIVE_ID_LEN)?;
        check_text("with", self.entry.with, MAX_JID_LEN)?;
        check_xml("stanza", self.entry.stanza, MAX_XML_LEN)
    }
}

/// An archived message as returned by a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMessage {
    /// Public id (the XEP-0359 stanza-id).
    pub archive_id: String,
    /// When it was archived, in Unix seconds.
    pub stored_at: i64,
    /// The message as serialised XML.
    pub stanza: String,
}

/// An archive query (XEP-0313 filters with XEP-0059 paging).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveQuery {
    /// Only messages with this bare JID.
    pub with: Option<String>,
    /// Only messages archived at or after this Unix second.
    pub start: Option<i64>,
    /// Only messages archived at or before this Unix second.
    pub end: Option<i64>,
    /// Only messages after this archive id (RSM `<after/>`).
    pub after: Option<String>,
    /// Only messages before this archive id (RSM `<before>id</before>`).
    pub before: Option<String>,
    /// The last page (RSM empty `<before/>`); also implied by `before`.
    pub last_page: bool,
    /// Page size; capped at [`MAX_ARCHIVE_PAGE`].
    pub max: u32,
}

/// One page of an archive query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchivePage {
    /// The messages, oldest first.
    pub messages: Vec<ArchivedMessage>,
    /// How many messages match the filters (without paging).
    pub count: u64,
    /// No more messages in the direction of the query (XEP-0313 `complete`).
    pub complete: bool,
}

/// A push registration (XEP-0357 §5): the app server and node to publish
/// to, and the publish-options form as serialised XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRegistration {
    /// The app server's JID.
    pub service: String,
    /// The node on the app server.
    pub node: String,
    /// `<x xmlns='jabber:x:data'/>` publish options, if given.
    pub options: Option<String>,
}

impl XmppStore {
    /// Archives a message and returns its row id. Drops the oldest rows
    /// beyond `max_messages` in the same transaction. An archive id already
    /// used by the account is [`Error::AlreadyExists`]; no account is
    /// [`Error::NotFound`].
    pub async fn archive_append(
        &self,
        host: &str,
        username: &str,
        entry: &ArchiveEntry<'_>,
        max_messages: u32,
    ) -> Result<i64> {
        check_text("archive_id", entry.archive_id, MAX_ARCHIVE_ID_LEN)?;
        check_text("with", entry.with, MAX_JID_LEN)?;
        check_xml("stanza", entry.stanza, MAX_XML_LEN)?;
        retry_conflicts(|| async move {
            let (mut tx, _) = lock_account(&self.db, host, username).await?;
            let params = vec![
                host.into(),
                username.into(),
                entry.archive_id.into(),
                entry.with.into(),
                entry.stored_at.into(),
                entry.stanza.into(),
            ];
            let id = tx
                .insert(ARCHIVE_INSERT, params)
                .await?
                .ok_or(Error::AlreadyExists(Entity::XmppArchivedMessage))?;
            trim_archive(&mut tx, host, username, max_messages).await?;
            tx.commit().await?;
            Ok(id)
        })
        .await
    }

    /// Appends several messages, of one account or many, in one transaction
    /// (one fsync instead of one per message); each account's archive is
    /// then trimmed to its cap once. Answers per message, in order: its row
    /// id, or why that message alone was not stored (invalid, no such
    /// account, archive id already used). An error of the transaction
    /// itself is returned for the whole batch: nothing of it was stored.
    pub async fn archive_append_batch(&self, batch: &[ArchiveAppend<'_>]) -> Result<Vec<Result<i64>>> {
        retry_conflicts(|| async move {
            let mut tx = self.db.begin().await?;
            // Accounts are locked in one order (MySQL row locks), so two
            // batches cannot deadlock.
            let mut accounts: Vec<(&str, &str)> = batch
                .iter()
                .filter(|a| a.check().is_ok())
                .map(|a| (a.host, a.username))
                .collect();
            accounts.sort_unstable();
            accounts.dedup();
            let mut present = std::collections::HashSet::new();
            for &(host, username) in &accounts {
                if tx.query_opt(super::ACCOUNT_LOCK, vec![host.into(), username.into()]).await?.is_some() {
                    present.insert((host, username));
                }
            }
            let mut caps = std::collections::BTreeMap::new();
            let mut out = Vec::with_capacity(batch.len());
            for a in batch {
                if let Err(e) = a.check() {
                    out.push(Err(e));
                    continue;
                }
                if !present.contains(&(a.host, a.username)) {
                    out.push(Err(Error::NotFound(Entity::XmppAccount)));
                    continue;
                }
                let params = vec![
                    a.host.into(),
                    a.username.into(),
                    a.entry.archive_id.into(),
                    a.entry.with.into(),
                    a.entry.stored_at.into(),
                    a.entry.stanza.into(),
                ];
                match tx.insert(ARCHIVE_INSERT, params).await? {
                    Some(id) => {
                        caps.insert((a.host, a.username), a.max_messages);
                        out.push(Ok(id));
                    }
                    None => out.push(Err(Error::AlreadyExists(Entity::XmppArchivedMessage))),
                }
            }
            for ((host, username), max_messages) in caps {
                trim_archive(&mut tx, host, username, max_messages).await?;
            }
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    /// One page of the account's archive, oldest first. An `after` or
    /// `before` id that is not in the archive is [`Error::NotFound`].
    pub async fn archive_query(
        &self,
        host: &str,
        username: &str,
        q: &ArchiveQuery,
    ) -> Result<ArchivePage> {
        check_name("host", host)?;
        check_name("username", username)?;
        let lo = match &q.after {
            Some(id) => self.archive_row(host, username, id).await?,
            None => 0,
        };
        let hi = match &q.before {
            Some(id) => self.archive_row(host, username, id).await?,
            None => i64::MAX,
        };
        let with = q.with.as_deref().unwrap_or("");
        let filter = || {
            vec![
                host.into(),
                username.into(),
                with.into(),
                with.into(),
                q.start.unwrap_or(i64::MIN).into(),
                q.end.unwrap_or(i64::MAX).into(),
            ]
        };
        let max = q.max.min(MAX_ARCHIVE_PAGE);
        let mut params = filter();
        params.extend([lo.into(), hi.into(), (i64::from(max) + 1).into()]);
        let descending = q.before.is_some() || q.last_page;
        let sql = if descending {
            ARCHIVE_PAGE_DESC
        } else {
            ARCHIVE_PAGE_ASC
        };
        let rows = self.db.query(sql, params).await?;
        let complete = rows.len() <= max as usize;
        let mut messages = rows
            .iter()
            .take(max as usize)
            .map(|r| {
                Ok(ArchivedMessage {
                    archive_id: r.text(1)?,
                    stored_at: r.int(2)?,
                    stanza: r.text(3)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if descending {
            messages.reverse();
        }
        let count = self
            .db
            .query_opt(ARCHIVE_COUNT, filter())
            .await?
            .ok_or(Error::Corrupt("count query returned no row"))?
            .count(0)?;
        Ok(ArchivePage {
            messages,
            count,
            complete,
        })
    }

    async fn archive_row(&self, host: &str, username: &str, id: &str) -> Result<i64> {
        self.db
            .query_opt(
                ARCHIVE_ROW_OF,
                vec![host.into(), username.into(), id.into()],
            )
            .await?
            .ok_or(Error::NotFound(Entity::XmppArchivedMessage))?
            .int(0)
    }

    /// Deletes at most `batch` archived messages (of any account) stored
    /// before `before` (Unix seconds), oldest first; returns how many went.
    /// Call it repeatedly on a timer rather than once with a huge batch.
    pub async fn archive_expire(&self, before: i64, batch: u32) -> Result<u64> {
        match self
            .db
            .exec(ARCHIVE_EXPIRE, vec![before.into(), i64::from(batch).into()])
            .await?
        {
            Exec::Rows(n) => Ok(n),
            Exec::Duplicate => Err(Error::Corrupt("constraint violation on delete")),
        }
    }

    /// Deletes the account's whole archive; returns how many messages went.
    pub async fn archive_clear(&self, host: &str, username: &str) -> Result<u64> {
        match self
            .db
            .exec(ARCHIVE_CLEAR, vec![host.into(), username.into()])
            .await?
        {
            Exec::Rows(n) => Ok(n),
            Exec::Duplicate => Err(Error::Corrupt("constraint violation on delete")),
        }
    }

    /// Adds or updates a push registration; adding one beyond `max` is
    /// [`Error::QuotaExceeded`], no account is [`Error::NotFound`].
    pub async fn push_register(
        &self,
        host: &str,
        username: &str,
        reg: &PushRegistration,
        max: u32,
    ) -> Result<()> {
        check_text("service", &reg.service, MAX_JID_LEN)?;
        check_text("node", &reg.node, MAX_PUSH_NODE_LEN)?;
        if let Some(o) = &reg.options {
            check_xml("options", o, MAX_XML_LEN)?;
        }
        retry_conflicts(|| async move {
            let (mut tx, _) = lock_account(&self.db, host, username).await?;
            let key = || {
                vec![
                    host.into(),
                    username.into(),
                    reg.service.as_str().into(),
                    reg.node.as_str().into(),
                ]
            };
            let mut update = vec![reg.options.as_deref().into()];
            update.extend(key());
            if tx.exec(PUSH_UPDATE, update).await? == Exec::Rows(0) {
                let count = tx
                    .query_opt(PUSH_COUNT, vec![host.into(), username.into()])
                    .await?
                    .ok_or(Error::Corrupt("count query returned no row"))?
                    .count(0)?;
                if count >= u64::from(max) {
                    return Err(Error::QuotaExceeded {
                        entity: Entity::XmppPushRegistration,
                        limit: u64::from(max),
                    });
                }
                let mut insert = vec![reg.options.as_deref().into()];
                insert.extend(key());
                insert.push(unix_now().into());
                if tx.exec(PUSH_INSERT, insert).await? == Exec::Duplicate {
                    return Err(self.db.conflict());
                }
            }
            tx.commit().await
        })
        .await
    }

    /// Removes the registrations for `service` (one `node`, or all of them);
    /// returns how many went.
    pub async fn push_unregister(
        &self,
        host: &str,
        username: &str,
        service: &str,
        node: Option<&str>,
    ) -> Result<u64> {
        let outcome = match node {
            Some(n) => {
                let p = vec![host.into(), username.into(), service.into(), n.into()];
                self.db.exec(PUSH_DELETE_NODE, p).await?
            }
            None => {
                let p = vec![host.into(), username.into(), service.into()];
                self.db.exec(PUSH_DELETE_SERVICE, p).await?
            }
        };
        match outcome {
            Exec::Rows(n) => Ok(n),
            Exec::Duplicate => Err(Error::Corrupt("constraint violation on delete")),
        }
    }

    /// The account's push registrations, in one query.
    pub async fn push_registrations(
        &self,
        host: &str,
        username: &str,
    ) -> Result<Vec<PushRegistration>> {
        let rows = self
            .db
            .query(PUSH_LIST, vec![host.into(), username.into()])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PushRegistration {
                    service: r.text(0)?,
                    node: r.text(1)?,
                    options: r.opt_text(2)?,
                })
            })
            .collect()
    }
}
