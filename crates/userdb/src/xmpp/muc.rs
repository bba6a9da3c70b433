//! Multi-user chat storage (XEP-0045, XEP-0313 for MUC): persistent rooms
//! with their state document (configuration, affiliations, subject) and
//! each room's message archive, trimmed to the most recent messages.
//!
//! Rooms are keyed by (service, room) — the MUC domain and the room's
//! localpart — and belong to no account: deleting a user keeps the rooms
//! they own. Deleting a room deletes its archive.

use super::storage::MAX_XML_LEN;
use super::XmppStore;
use crate::error::Result;
use crate::migrate::Migration;
use crate::sql::{check_name, check_xml, unix_now, Sql};

/// Schema version 6: MUC rooms and their archives.
pub(crate) const XMPP_6_MUC: Migration = Migration {
    version: 6,
    name: "xmpp muc rooms and archive",
    sqlite: &[
        "CREATE TABLE xmpp_muc_room (
            service TEXT NOT NULL,
            room TEXT NOT NULL,
            state TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (service, room)
        ) STRICT",
        "CREATE TABLE xmpp_muc_archive (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            service TEXT NOT NULL,
            room TEXT NOT NULL,
            stanza_id TEXT NOT NULL,
            stamp INTEGER NOT NULL,
            stanza TEXT NOT NULL
        ) STRICT",
        "CREATE INDEX xmpp_muc_archive_room ON xmpp_muc_archive (service, room, id)",
    ],
    mysql: &[
        "CREATE TABLE IF NOT EXISTS xmpp_muc_room (
            service VARBINARY(255) NOT NULL,
            room VARBINARY(255) NOT NULL,
            state MEDIUMBLOB NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (service, room)
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS xmpp_muc_archive (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            service VARBINARY(255) NOT NULL,
            room VARBINARY(255) NOT NULL,
            stanza_id VARBINARY(255) NOT NULL,
            stamp BIGINT NOT NULL,
            stanza MEDIUMBLOB NOT NULL,
            KEY xmpp_muc_archive_room (service, room, id)
        ) ENGINE=InnoDB",
    ],
};

const ROOM_UPDATE: Sql =
    Sql::both("UPDATE xmpp_muc_room SET state = ?, updated_at = ? WHERE service = ? AND room = ?");
const ROOM_INSERT: Sql =
    Sql::both("INSERT INTO xmpp_muc_room (state, updated_at, service, room) VALUES (?, ?, ?, ?)");
const ROOM_LIST: Sql =
    Sql::both("SELECT room, state FROM xmpp_muc_room WHERE service = ? ORDER BY room");
const ROOM_DELETE: Sql = Sql::both("DELETE FROM xmpp_muc_room WHERE service = ? AND room = ?");
const ARCHIVE_DELETE_ROOM: Sql =
    Sql::both("DELETE FROM xmpp_muc_archive WHERE service = ? AND room = ?");
const ARCHIVE_INSERT: Sql = Sql::both(
    "INSERT INTO xmpp_muc_archive (service, room, stanza_id, stamp, stanza) VALUES (?, ?, ?, ?, ?)",
);
const ARCHIVE_RECENT: Sql = Sql::both(
    "SELECT stanza_id, stamp, stanza FROM xmpp_muc_archive WHERE service = ? AND room = ? \
     ORDER BY id DESC LIMIT ?",
);
/// The id of the newest message that falls out of the kept window.
const ARCHIVE_CUTOFF: Sql = Sql::both(
    "SELECT id FROM xmpp_muc_archive WHERE service = ? AND room = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
);
const ARCHIVE_TRIM: Sql =
    Sql::both("DELETE FROM xmpp_muc_archive WHERE service = ? AND room = ? AND id <= ?");

/// A stored room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MucRoom {
    /// The room's localpart.
    pub room: String,
    /// Its state document (XML chosen by `xmppd`).
    pub state: String,
}

/// An archived groupchat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MucArchived {
    /// The XEP-0359 stanza id the room assigned.
    pub stanza_id: String,
    /// Unix seconds.
    pub stamp: i64,
    /// The message as serialised XML.
    pub stanza: String,
}

impl XmppStore {
    /// Stores (replacing) a persistent room's state.
    pub async fn save_muc_room(&self, service: &str, room: &str, state: &str) -> Result<()> {
        check_name("service", service)?;
        check_name("room", room)?;
        check_xml("state", state, MAX_XML_LEN)?;
        let now = unix_now();
        let params = vec![state.into(), now.into(), service.into(), room.into()];
        self.db
            .upsert(ROOM_UPDATE, params.clone(), ROOM_INSERT, params)
            .await?;
        Ok(())
    }

    /// The persistent rooms of a service, by name.
    pub async fn muc_rooms(&self, service: &str) -> Result<Vec<MucRoom>> {
        let rows = self.db.query(ROOM_LIST, vec![service.into()]).await?;
        rows.iter()
            .map(|r| {
                Ok(MucRoom {
                    room: r.text(0)?,
                    state: r.text(1)?,
                })
            })
            .collect()
    }

    /// Deletes a room and its archive; `false` if there was no such room.
    pub async fn delete_muc_room(&self, service: &str, room: &str) -> Result<bool> {
        self.db
            .exec(ARCHIVE_DELETE_ROOM, vec![service.into(), room.into()])
            .await?;
        let n = self
            .db
            .exec(ROOM_DELETE, vec![service.into(), room.into()])
            .await?;
        Ok(matches!(n, crate::sql::Exec::Rows(r) if r > 0))
    }

    /// Appends a message to a room's archive and deletes what falls beyond
    /// the `keep` most recent messages.
    pub async fn push_muc_archive(
        &self,
        service: &str,
        room: &str,
        message: &MucArchived,
        keep: u32,
    ) -> Result<()> {
        check_name("service", service)?;
        check_name("room", room)?;
        check_name("stanza_id", &message.stanza_id)?;
        check_xml("stanza", &message.stanza, MAX_XML_LEN)?;
        let params = vec![
            service.into(),
            room.into(),
            message.stanza_id.as_str().into(),
            message.stamp.into(),
            message.stanza.as_str().into(),
        ];
        self.db.insert(ARCHIVE_INSERT, params).await?;
        let cutoff = self
            .db
            .query_opt(
                ARCHIVE_CUTOFF,
                vec![service.into(), room.into(), keep.into()],
            )
            .await?;
        if let Some(row) = cutoff {
            let id = row.int(0)?;
            self.db
                .exec(ARCHIVE_TRIM, vec![service.into(), room.into(), id.into()])
                .await?;
        }
        Ok(())
    }

    /// A room's `max` most recent archived messages, oldest first.
    pub async fn muc_archive(
        &self,
        service: &str,
        room: &str,
        max: u32,
    ) -> Result<Vec<MucArchived>> {
        let rows = self
            .db
            .query(
                ARCHIVE_RECENT,
                vec![service.into(), room.into(), max.into()],
            )
            .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(MucArchived {
                    stanza_id: r.text(0)?,
                    stamp: r.int(1)?,
                    stanza: r.text(2)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }
}
