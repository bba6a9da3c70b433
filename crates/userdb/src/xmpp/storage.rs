//! Per-user XML storage: offline messages (XEP-0160), vcard-temp
//! (XEP-0054), private XML storage (XEP-0049) and the block list
//! (XEP-0191).

use super::{lock_account, XmppStore};
use crate::backend::retry_conflicts;
use crate::error::{Entity, Error, Result};
use crate::sql::{check_name, check_text, check_xml, unix_now, Exec, Sql};

/// Largest stanza, vCard or private XML document stored, in bytes: the
/// stanza size limit after authentication that Prosody also uses.
pub const MAX_XML_LEN: usize = 256 * 1024;
/// Longest JID accepted as a roster or block-list key, in bytes.
pub(crate) const MAX_JID_LEN: usize = 1023;

const OFFLINE_COUNT: Sql =
    Sql::both("SELECT COUNT(*) FROM xmpp_offline WHERE host = ? AND username = ?");
const OFFLINE_INSERT: Sql =
    Sql::both("INSERT INTO xmpp_offline (host, username, stanza, stored_at) VALUES (?, ?, ?, ?)");
const OFFLINE_LIST: Sql = Sql::both(
    "SELECT id, stanza, stored_at FROM xmpp_offline WHERE host = ? AND username = ? ORDER BY id",
);
const OFFLINE_DELETE_THROUGH: Sql =
    Sql::both("DELETE FROM xmpp_offline WHERE host = ? AND username = ? AND id <= ?");

const VCARD_GET: Sql = Sql::both("SELECT vcard FROM xmpp_vcard WHERE host = ? AND username = ?");
const VCARD_UPDATE: Sql =
    Sql::both("UPDATE xmpp_vcard SET vcard = ?, updated_at = ? WHERE host = ? AND username = ?");
const VCARD_INSERT: Sql =
    Sql::both("INSERT INTO xmpp_vcard (vcard, updated_at, host, username) VALUES (?, ?, ?, ?)");
const VCARD_DELETE: Sql = Sql::both("DELETE FROM xmpp_vcard WHERE host = ? AND username = ?");

const PRIVATE_GET: Sql =
    Sql::both("SELECT xml FROM xmpp_private WHERE host = ? AND username = ? AND storage_key = ?");
const PRIVATE_UPDATE: Sql = Sql::both(
    "UPDATE xmpp_private SET xml = ?, updated_at = ? \
     WHERE host = ? AND username = ? AND storage_key = ?",
);
const PRIVATE_INSERT: Sql = Sql::both(
    "INSERT INTO xmpp_private (xml, updated_at, host, username, storage_key) \
     VALUES (?, ?, ?, ?, ?)",
);
const PRIVATE_COUNT: Sql =
    Sql::both("SELECT COUNT(*) FROM xmpp_private WHERE host = ? AND username = ?");
const PRIVATE_DELETE: Sql =
    Sql::both("DELETE FROM xmpp_private WHERE host = ? AND username = ? AND storage_key = ?");

const BLOCK_INSERT: Sql =
    Sql::both("INSERT INTO xmpp_blocklist (host, username, jid) VALUES (?, ?, ?)");
const BLOCK_COUNT: Sql =
    Sql::both("SELECT COUNT(*) FROM xmpp_blocklist WHERE host = ? AND username = ?");
const BLOCK_DELETE: Sql =
    Sql::both("DELETE FROM xmpp_blocklist WHERE host = ? AND username = ? AND jid = ?");
const BLOCK_CLEAR: Sql = Sql::both("DELETE FROM xmpp_blocklist WHERE host = ? AND username = ?");
const BLOCK_LIST: Sql =
    Sql::both("SELECT jid FROM xmpp_blocklist WHERE host = ? AND username = ? ORDER BY jid");
const BLOCK_EXISTS: Sql =
    Sql::both("SELECT 1 FROM xmpp_blocklist WHERE host = ? AND username = ? AND jid = ?");

/// A stored offline message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineMessage {
    /// Increasing per user in the order messages were stored; acknowledge
    /// delivery with [`XmppStore::delete_offline_through`].
    pub id: i64,
    /// The stanza as serialised XML.
    pub stanza: String,
    /// When it was stored, in Unix seconds (for the XEP-0203 delay stamp).
    pub stored_at: i64,
}

impl XmppStore {
    /// Appends a stanza to the user's offline queue and returns its id.
    /// [`Error::QuotaExceeded`] if the queue already holds `max_messages`;
    /// [`Error::NotFound`] if there is no such account.
    pub async fn push_offline(
        &self,
        host: &str,
        username: &str,
        stanza: &str,
        max_messages: u32,
    ) -> Result<i64> {
        check_xml("stanza", stanza, MAX_XML_LEN)?;
        retry_conflicts(|| async move {
            let (mut tx, _) = lock_account(&self.db, host, username).await?;
            let count = tx
                .query_opt(OFFLINE_COUNT, vec![host.into(), username.into()])
                .await?
                .ok_or(Error::Corrupt("count query returned no row"))?
                .count(0)?;
            if count >= u64::from(max_messages) {
                return Err(Error::QuotaExceeded {
                    entity: Entity::XmppOfflineMessage,
                    limit: u64::from(max_messages),
                });
            }
            let params = vec![
                host.into(),
                username.into(),
                stanza.into(),
                unix_now().into(),
            ];
            let id = tx
                .insert(OFFLINE_INSERT, params)
                .await?
                .ok_or(Error::Corrupt("offline message id collided"))?;
            tx.commit().await?;
            Ok(id)
        })
        .await
    }

    /// The user's offline messages, oldest first, in one query. Empty for
    /// an unknown user.
    pub async fn offline_messages(
        &self,
        host: &str,
        username: &str,
    ) -> Result<Vec<OfflineMessage>> {
        let rows = self
            .db
            .query(OFFLINE_LIST, vec![host.into(), username.into()])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(OfflineMessage {
                    id: r.int(0)?,
                    stanza: r.text(1)?,
                    stored_at: r.int(2)?,
                })
            })
            .collect()
    }

    /// Deletes the user's offline messages with ids up to and including
    /// `id` (once they are delivered) and returns how many went. Messages
    /// stored after those were read are kept.
    pub async fn delete_offline_through(&self, host: &str, username: &str, id: i64) -> Result<u64> {
        let n = self
            .db
            .exec(
                OFFLINE_DELETE_THROUGH,
                vec![host.into(), username.into(), id.into()],
            )
            .await?;
        rows_or_corrupt(n)
    }

    /// Number of messages in the user's offline queue.
    pub async fn offline_count(&self, host: &str, username: &str) -> Result<u64> {
        self.db
            .query_opt(OFFLINE_COUNT, vec![host.into(), username.into()])
            .await?
            .ok_or(Error::Corrupt("count query returned no row"))?
            .count(0)
    }

    /// Stores (replacing) the user's vcard-temp XML; [`Error::NotFound`] if
    /// there is no such account.
    pub async fn set_vcard(&self, host: &str, username: &str, vcard: &str) -> Result<()> {
        check_xml("vcard", vcard, MAX_XML_LEN)?;
        retry_conflicts(|| async move {
            let (mut tx, _) = lock_account(&self.db, host, username).await?;
            let params = vec![
                vcard.into(),
                unix_now().into(),
                host.into(),
                username.into(),
            ];
            if tx.exec(VCARD_UPDATE, params.clone()).await? == Exec::Rows(0)
                && tx.exec(VCARD_INSERT, params).await? == Exec::Duplicate
            {
                return Err(self.db.conflict());
            }
            tx.commit().await
        })
        .await
    }

    /// The user's vcard-temp XML, if any.
    pub async fn vcard(&self, host: &str, username: &str) -> Result<Option<String>> {
        let row = self
            .db
            .query_opt(VCARD_GET, vec![host.into(), username.into()])
            .await?;
        row.map(|r| r.text(0)).transpose()
    }

    /// Deletes the user's vCard; `false` if there was none.
    pub async fn delete_vcard(&self, host: &str, username: &str) -> Result<bool> {
        let n = self
            .db
            .exec(VCARD_DELETE, vec![host.into(), username.into()])
            .await?;
        Ok(rows_or_corrupt(n)? > 0)
    }

    /// Stores (replacing) a private XML document under `key` (XEP-0049:
    /// the child element's name and namespace, as `xmppd` spells them).
    /// Adding a new key when the user has `max_keys` is
    /// [`Error::QuotaExceeded`]; no account is [`Error::NotFound`].
    pub async fn set_private(
        &self,
        host: &str,
        username: &str,
        key: &str,
        xml: &str,
        max_keys: u32,
    ) -> Result<()> {
        check_name("key", key)?;
        check_xml("xml", xml, MAX_XML_LEN)?;
        retry_conflicts(|| async move {
            let (mut tx, _) = lock_account(&self.db, host, username).await?;
            let params = vec![
                xml.into(),
                unix_now().into(),
                host.into(),
                username.into(),
                key.into(),
            ];
            if tx.exec(PRIVATE_UPDATE, params.clone()).await? == Exec::Rows(0) {
                let count = tx
                    .query_opt(PRIVATE_COUNT, vec![host.into(), username.into()])
                    .await?
                    .ok_or(Error::Corrupt("count query returned no row"))?
                    .count(0)?;
                if count >= u64::from(max_keys) {
                    return Err(Error::QuotaExceeded {
                        entity: Entity::XmppPrivateData,
                        limit: u64::from(max_keys),
                    });
                }
                if tx.exec(PRIVATE_INSERT, params).await? == Exec::Duplicate {
                    return Err(self.db.conflict());
                }
            }
            tx.commit().await
        })
        .await
    }

    /// The private XML document stored under `key`, if any.
    pub async fn private(&self, host: &str, username: &str, key: &str) -> Result<Option<String>> {
        let row = self
            .db
            .query_opt(PRIVATE_GET, vec![host.into(), username.into(), key.into()])
            .await?;
        row.map(|r| r.text(0)).transpose()
    }

    /// Deletes the document under `key`; `false` if there was none.
    pub async fn delete_private(&self, host: &str, username: &str, key: &str) -> Result<bool> {
        let n = self
            .db
            .exec(
                PRIVATE_DELETE,
                vec![host.into(), username.into(), key.into()],
            )
            .await?;
        Ok(rows_or_corrupt(n)? > 0)
    }

    /// Adds `jid` to the user's block list; `false` if it was already
    /// there. Growing the list past `max_items` is
    /// [`Error::QuotaExceeded`]; no account is [`Error::NotFound`].
    pub async fn block(
        &self,
        host: &str,
        username: &str,
        jid: &str,
        max_items: u32,
    ) -> Result<bool> {
        check_text("jid", jid, MAX_JID_LEN)?;
        retry_conflicts(|| async move {
            let (mut tx, _) = lock_account(&self.db, host, username).await?;
            let params = vec![host.into(), username.into(), jid.into()];
            if tx.exec(BLOCK_INSERT, params).await? == Exec::Duplicate {
                return Ok(false);
            }
            let count = tx
                .query_opt(BLOCK_COUNT, vec![host.into(), username.into()])
                .await?
                .ok_or(Error::Corrupt("count query returned no row"))?
                .count(0)?;
            if count > u64::from(max_items) {
                return Err(Error::QuotaExceeded {
                    entity: Entity::XmppBlockedJid,
                    limit: u64::from(max_items),
                });
            }
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Removes `jid` from the block list; `false` if it was not there.
    pub async fn unblock(&self, host: &str, username: &str, jid: &str) -> Result<bool> {
        let n = self
            .db
            .exec(BLOCK_DELETE, vec![host.into(), username.into(), jid.into()])
            .await?;
        Ok(rows_or_corrupt(n)? > 0)
    }

    /// Empties the block list, returning how many JIDs it held.
    pub async fn clear_blocklist(&self, host: &str, username: &str) -> Result<u64> {
        let n = self
            .db
            .exec(BLOCK_CLEAR, vec![host.into(), username.into()])
            .await?;
        rows_or_corrupt(n)
    }

    /// The block list, sorted, in one query.
    pub async fn blocklist(&self, host: &str, username: &str) -> Result<Vec<String>> {
        let rows = self
            .db
            .query(BLOCK_LIST, vec![host.into(), username.into()])
            .await?;
        rows.iter().map(|r| r.text(0)).collect()
    }

    /// Whether the user blocks `jid` exactly (one primary-key read);
    /// `xmppd` checks the bare and the domain JID as XEP-0191 §3.3 asks.
    pub async fn is_blocked(&self, host: &str, username: &str, jid: &str) -> Result<bool> {
        Ok(self
            .db
            .query_opt(BLOCK_EXISTS, vec![host.into(), username.into(), jid.into()])
            .await?
            .is_some())
    }
}

fn rows_or_corrupt(outcome: Exec) -> Result<u64> {
    match outcome {
        Exec::Rows(n) => Ok(n),
        Exec::Duplicate => Err(Error::Corrupt("constraint violation on delete")),
    }
}
