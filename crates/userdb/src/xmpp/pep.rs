//! Schema version 5 and its operations: personal eventing (XEP-0163)
//! nodes with their configuration (XEP-0223 publish-options) and items.
//! Item order is the row id: republishing an item id moves it to the end.

use super::storage::MAX_XML_LEN;
use super::{lock_account, XmppStore};
use crate::backend::retry_conflicts;
use crate::error::{Entity, Error, Result};
use crate::migrate::Migration;
use crate::sql::{check_name, check_text, check_xml, Exec, Sql};

/// Longest node name or item id accepted, in bytes.
pub const MAX_PEP_NAME_LEN: usize = 255;

/// Schema version 5: PEP nodes and items.
pub(crate) const XMPP_5_PEP: Migration = Migration {
    version: 5,
    name: "xmpp pep nodes and items",
    sqlite: &[
        "CREATE TABLE xmpp_pep_node (
            host TEXT NOT NULL,
            username TEXT NOT NULL,
            node TEXT NOT NULL,
            access_model TEXT NOT NULL,
            max_items INTEGER NOT NULL,
            persist INTEGER NOT NULL,
            PRIMARY KEY (host, username, node),
            FOREIGN KEY (host, username) REFERENCES xmpp_account (host, username)
                ON DELETE CASCADE
        ) STRICT",
        "CREATE TABLE xmpp_pep_item (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            host TEXT NOT NULL,
            username TEXT NOT NULL,
            node TEXT NOT NULL,
            item_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            FOREIGN KEY (host, username, node) REFERENCES xmpp_pep_node (host, username, node)
                ON DELETE CASCADE
        ) STRICT",
        "CREATE UNIQUE INDEX xmpp_pep_item_key ON xmpp_pep_item (host, username, node, item_id)",
    ],
    mysql: &[
        "CREATE TABLE IF NOT EXISTS xmpp_pep_node (
            host VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            node VARBINARY(255) NOT NULL,
            access_model VARBINARY(32) NOT NULL,
            max_items BIGINT NOT NULL,
            persist TINYINT NOT NULL,
            PRIMARY KEY (host, username, node),
            CONSTRAINT xmpp_pep_node_account FOREIGN KEY (host, username)
                REFERENCES xmpp_account (host, username) ON DELETE CASCADE
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS xmpp_pep_item (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            host VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            node VARBINARY(255) NOT NULL,
            item_id VARBINARY(255) NOT NULL,
            payload MEDIUMBLOB NOT NULL,
            UNIQUE KEY xmpp_pep_item_key (host, username, node, item_id),
            CONSTRAINT xmpp_pep_item_node FOREIGN KEY (host, username, node)
                REFERENCES xmpp_pep_node (host, username, node) ON DELETE CASCADE
        ) ENGINE=InnoDB",
    ],
};

const NODE_LIST: Sql = Sql::both(
    "SELECT node, access_model, max_items, persist FROM xmpp_pep_node \
     WHERE host = ? AND username = ? ORDER BY node",
);
const NODE_UPDATE: Sql = Sql::both(
    "UPDATE xmpp_pep_node SET access_model = ?, max_items = ?, persist = ? \
     WHERE host = ? AND username = ? AND node = ?",
);
const NODE_INSERT: Sql = Sql::both(
    "INSERT INTO xmpp_pep_node (access_model, max_items, persist, host, username, node) \
     VALUES (?, ?, ?, ?, ?, ?)",
);
const NODE_COUNT: Sql =
    Sql::both("SELECT COUNT(*) FROM xmpp_pep_node WHERE host = ? AND username = ?");
const NODE_EXISTS: Sql =
    Sql::both("SELECT 1 FROM xmpp_pep_node WHERE host = ? AND username = ? AND node = ?");
const NODE_DELETE: Sql =
    Sql::both("DELETE FROM xmpp_pep_node WHERE host = ? AND username = ? AND node = ?");
const ITEM_DELETE: Sql = Sql::both(
    "DELETE FROM xmpp_pep_item WHERE host = ? AND username = ? AND node = ? AND item_id = ?",
);
const ITEM_DELETE_ALL: Sql =
    Sql::both("DELETE FROM xmpp_pep_item WHERE host = ? AND username = ? AND node = ?");
const ITEM_INSERT: Sql = Sql::both(
    "INSERT INTO xmpp_pep_item (host, username, node, item_id, payload) VALUES (?, ?, ?, ?, ?)",
);
const ITEM_NTH_NEWEST: Sql = Sql::both(
    "SELECT id FROM xmpp_pep_item WHERE host = ? AND username = ? AND node = ? \
     ORDER BY id DESC LIMIT 1 OFFSET ?",
);
const ITEM_DELETE_THROUGH: Sql =
    Sql::both("DELETE FROM xmpp_pep_item WHERE host = ? AND username = ? AND node = ? AND id <= ?");
const ITEM_NEWEST: Sql = Sql::both(
    "SELECT item_id, payload FROM xmpp_pep_item WHERE host = ? AND username = ? AND node = ? \
     ORDER BY id DESC LIMIT ?",
);

/// A PEP node's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PepNode {
    /// Node name.
    pub node: String,
    /// `open`, `presence`, `roster` or `whitelist` (XEP-0060 §4.5).
    pub access_model: String,
    /// Items kept (`max` is stored as the caller's cap).
    pub max_items: u32,
    /// Whether items are stored at all (`persist_items`).
    pub persist: bool,
}

/// A stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PepItem {
    /// Item id.
    pub id: String,
    /// The payload as serialised XML.
    pub payload: String,
}

impl XmppStore {
    /// The account's PEP nodes, in one query.
    pub async fn pep_nodes(&self, host: &str, username: &str) -> Result<Vec<PepNode>> {
        let rows = self
            .db
            .query(NODE_LIST, vec![host.into(), username.into()])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PepNode {
                    node: r.text(0)?,
                    access_model: r.text(1)?,
                    max_items: u32::try_from(r.int(2)?).unwrap_or(u32::MAX),
                    persist: r.flag(3)?,
                })
            })
            .collect()
    }

    /// Creates or reconfigures a node; a new node beyond `max_nodes` is
    /// [`Error::QuotaExceeded`]. Items beyond the new `max_items` go.
    pub async fn pep_configure(
        &self,
        host: &str,
        username: &str,
        node: &PepNode,
        max_nodes: u32,
    ) -> Result<()> {
        check_text("node", &node.node, MAX_PEP_NAME_LEN)?;
        check_name("access_model", &node.access_model)?;
        retry_conflicts(|| async move {
            let (mut tx, _) = lock_account(&self.db, host, username).await?;
            let cfg = vec![
                node.access_model.as_str().into(),
                i64::from(node.max_items).into(),
                i64::from(node.persist).into(),
                host.into(),
                username.into(),
                node.node.as_str().into(),
            ];
            if tx.exec(NODE_UPDATE, cfg.clone()).await? == Exec::Rows(0) {
                let count = tx
                    .query_opt(NODE_COUNT, vec![host.into(), username.into()])
                    .await?
                    .ok_or(Error::Corrupt("count query returned no row"))?
                    .count(0)?;
                if count >= u64::from(max_nodes) {
                    return Err(Error::QuotaExceeded {
                        entity: Entity::XmppPepNode,
                        limit: u64::from(max_nodes),
                    });
                }
                if tx.exec(NODE_INSERT, cfg).await? == Exec::Duplicate {
                    return Err(self.db.conflict());
                }
            }
            let key = vec![host.into(), username.into(), node.node.as_str().into()];
            if node.persist {
                let mut nth = key.clone();
                nth.push(i64::from(node.max_items).into());
                if let Some(row) = tx.query_opt(ITEM_NTH_NEWEST, nth).await? {
                    let mut del = key;
                    del.push(row.int(0)?.into());
                    tx.exec(ITEM_DELETE_THROUGH, del).await?;
                }
            } else {
                tx.exec(ITEM_DELETE_ALL, key).await?;
            }
            tx.commit().await
        })
        .await
    }

    /// Stores an item as the node's newest (replacing one with the same
    /// id) and drops the oldest beyond `max_items`. The node must exist
    /// ([`Error::NotFound`]).
    pub async fn pep_publish(
        &self,
        host: &str,
        username: &str,
        node: &str,
        item: &PepItem,
        max_items: u32,
    ) -> Result<()> {
        check_text("item id", &item.id, MAX_PEP_NAME_LEN)?;
        check_xml("payload", &item.payload, MAX_XML_LEN)?;
        retry_conflicts(|| async move {
            let (mut tx, _) = lock_account(&self.db, host, username).await?;
            let key = || vec![host.into(), username.into(), node.into()];
            if tx.query_opt(NODE_EXISTS, key()).await?.is_none() {
                return Err(Error::NotFound(Entity::XmppPepNode));
            }
            let mut del = key();
            del.push(item.id.as_str().into());
            tx.exec(ITEM_DELETE, del).await?;
            let mut ins = key();
            ins.extend([item.id.as_str().into(), item.payload.as_str().into()]);
            if tx.exec(ITEM_INSERT, ins).await? == Exec::Duplicate {
                return Err(self.db.conflict());
            }
            let mut nth = key();
            nth.push(i64::from(max_items).into());
            if let Some(row) = tx.query_opt(ITEM_NTH_NEWEST, nth).await? {
                let mut del = key();
                del.push(row.int(0)?.into());
                tx.exec(ITEM_DELETE_THROUGH, del).await?;
            }
            tx.commit().await
        })
        .await
    }

    /// The newest `max` items of a node, oldest first.
    pub async fn pep_items(
        &self,
        host: &str,
        username: &str,
        node: &str,
        max: u32,
    ) -> Result<Vec<PepItem>> {
        let rows = self
            .db
            .query(
                ITEM_NEWEST,
                vec![
                    host.into(),
                    username.into(),
                    node.into(),
                    i64::from(max).into(),
                ],
            )
            .await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(PepItem {
                    id: r.text(0)?,
                    payload: r.text(1)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        items.reverse();
        Ok(items)
    }

    /// Deletes one item; `false` if it was not there.
    pub async fn pep_retract(
        &self,
        host: &str,
        username: &str,
        node: &str,
        id: &str,
    ) -> Result<bool> {
        let p = vec![host.into(), username.into(), node.into(), id.into()];
        Ok(matches!(self.db.exec(ITEM_DELETE, p).await?, Exec::Rows(n) if n > 0))
    }

    /// Deletes a node and its items; `false` if it was not there.
    pub async fn pep_delete_node(&self, host: &str, username: &str, node: &str) -> Result<bool> {
        let key = vec![host.into(), username.into(), node.into()];
        self.db.exec(ITEM_DELETE_ALL, key.clone()).await?;
        Ok(matches!(self.db.exec(NODE_DELETE, key).await?, Exec::Rows(n) if n > 0))
    }
}
