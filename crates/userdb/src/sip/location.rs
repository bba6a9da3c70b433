//! The location service: saving, finding and expiring registration
//! bindings (RFC 3261 §10.3) in one transaction per REGISTER.

use std::collections::HashMap;

use super::binding::{
    binding_columns, binding_from_row, invalid, Binding, BindingChange, BindingKey,
};
use super::SipStore;
use crate::backend::{retry_conflicts, Tx};
use crate::error::{Entity, Error, Result};
use crate::sql::{check_name, expect_some_rows, Exec, Sql};

/// Most changes one [`SipStore::save_bindings`] call may carry; bounds how
/// long one REGISTER holds the write lock.
pub const MAX_CHANGES_PER_SAVE: usize = 256;

pub(super) const LOCK_AOR: Sql = Sql {
    sqlite: "SELECT binding_key, call_id, cseq, expires FROM sip_location WHERE aor = ?",
    mysql: "SELECT binding_key, call_id, cseq, expires FROM sip_location WHERE aor = ? \
            FOR UPDATE",
};
pub(super) const DELETE_EXPIRED_OF_AOR: Sql =
    Sql::both("DELETE FROM sip_location WHERE aor = ? AND expires <= ?");
pub(super) const UPDATE_BINDING: Sql = Sql::both(
    "UPDATE sip_location SET contact = ?, received = ?, path = ?, expires = ?, q = ?, \
     call_id = ?, cseq = ?, flags = ?, user_agent = ?, socket = ?, instance = ?, reg_id = ?, \
     server_id = ?, flow = ?, last_modified = ? WHERE aor = ? AND binding_key = ?",
);
pub(super) const INSERT_BINDING: Sql = Sql::both(concat!(
    "INSERT INTO sip_location (",
    binding_columns!(),
    ", aor, binding_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
));
pub(super) const DELETE_BINDING: Sql =
    Sql::both("DELETE FROM sip_location WHERE aor = ? AND binding_key = ?");
pub(super) const DELETE_AOR: Sql = Sql::both("DELETE FROM sip_location WHERE aor = ?");
pub(super) const LIVE_BINDINGS: Sql = Sql::both(concat!(
    "SELECT ",
    binding_columns!(),
    " FROM sip_location WHERE aor = ? AND expires > ? \
     ORDER BY q DESC, last_modified DESC, contact, binding_key"
));
const PURGE_EXPIRED: Sql = Sql {
    sqlite: "DELETE FROM sip_location WHERE rowid IN \
             (SELECT rowid FROM sip_location WHERE expires <= ? ORDER BY expires LIMIT ?)",
    mysql: "DELETE FROM sip_location WHERE expires <= ? ORDER BY expires LIMIT ?",
};

/// What is stored for a binding at the start of a save.
pub(super) struct Stored {
    pub(super) call_id: String,
    pub(super) cseq: u32,
}

impl Stored {
    /// RFC 3261 §10.3 step 7: same Call-ID needs a higher CSeq.
    pub(super) fn check_order(&self, call_id: &str, cseq: u32) -> Result<()> {
        if self.call_id == call_id && cseq <= self.cseq {
            return Err(Error::OutOfOrder {
                cseq,
                stored: self.cseq,
            });
        }
        Ok(())
    }
}

impl SipStore {
    /// Applies one REGISTER's changes to `aor` in one transaction and
    /// returns the bindings live at `now` afterwards (for the 200 OK), best
    /// first (q, then most recently written).
    ///
    /// Bindings expired at `now` are dropped first and count as absent.
    /// Every change is checked against the state before the request; if
    /// any is out of order ([`Error::OutOfOrder`]), or the result would
    /// have more than `max_bindings` live bindings
    /// ([`Error::QuotaExceeded`]), nothing is changed. Returns once the
    /// change is durable; see the module documentation for how long that
    /// may take.
    ///
    /// Concurrent saves for one address of record (two nodes, or a node
    /// and `sipctl`) are serialised on SQLite and, on MySQL, on the
    /// bindings they share; a race on a new binding is retried. On MySQL
    /// two saves adding *different* new contacts to the same address of
    /// record at the same instant can each see room under
    /// `max_bindings` and together exceed it by one.
    pub async fn save_bindings(
        &self,
        aor: &str,
        changes: &[BindingChange],
        now: i64,
        max_bindings: Option<usize>,
    ) -> Result<Vec<Binding>> {
        check_name("aor", aor)?;
        if changes.len() > MAX_CHANGES_PER_SAVE {
            return Err(invalid("changes", "more than 256 in one request"));
        }
        for change in changes {
            match change {
                BindingChange::Set(b) => b.check(now)?,
                BindingChange::Remove { call_id, .. }
                | BindingChange::RemoveAll { call_id, .. } => {
                    check_name("call_id", call_id)?;
                }
            }
        }
        retry_conflicts(|| self.save_once(aor, changes, now, max_bindings)).await
    }

    async fn save_once(
        &self,
        aor: &str,
        changes: &[BindingChange],
        now: i64,
        max_bindings: Option<usize>,
    ) -> Result<Vec<Binding>> {
        let mut tx = self.db.begin().await?;
        let mut stored = HashMap::new();
        for row in tx.query(LOCK_AOR, vec![aor.into()]).await? {
            if row.int(3)? > now {
                let stored_binding = Stored {
                    call_id: row.text(1)?,
                    cseq: row.u32(2)?,
                };
                stored.insert(row.bytes::<32>(0)?, stored_binding);
            }
        }
        tx.exec(DELETE_EXPIRED_OF_AOR, vec![aor.into(), now.into()])
            .await?;
        for change in changes {
            match change {
                BindingChange::Set(b) => {
                    let key = b.key().digest();
                    if let Some(s) = stored.get(&key) {
                        s.check_order(&b.call_id, b.cseq)?;
                    }
                    self.write_binding(&mut tx, aor, &key, b, now).await?;
                }
                BindingChange::Remove { key, call_id, cseq } => {
                    let key = key.digest();
                    if let Some(s) = stored.get(&key) {
                        s.check_order(call_id, *cseq)?;
                    }
                    tx.exec(DELETE_BINDING, vec![aor.into(), key.as_slice().into()])
                        .await?;
                }
                BindingChange::RemoveAll { call_id, cseq } => {
                    for s in stored.values() {
                        s.check_order(call_id, *cseq)?;
                    }
                    tx.exec(DELETE_AOR, vec![aor.into()]).await?;
                }
            }
        }
        let live = tx
            .query(LIVE_BINDINGS, vec![aor.into(), now.into()])
            .await?
            .iter()
            .map(|r| binding_from_row(r, 0))
            .collect::<Result<Vec<_>>>()?;
        if let Some(limit) = max_bindings {
            if live.len() > limit {
                return Err(Error::QuotaExceeded {
                    entity: Entity::SipBinding,
                    limit: limit as u64,
                });
            }
        }
        tx.commit().await?;
        Ok(live)
    }

    async fn write_binding(
        &self,
        tx: &mut Tx,
        aor: &str,
        key: &[u8; 32],
        b: &Binding,
        now: i64,
    ) -> Result<()> {
        let params = b.params(aor, key, now);
        if let Exec::Rows(n) = tx.exec(UPDATE_BINDING, params.clone()).await? {
            if n > 0 {
                return Ok(());
            }
        }
        match tx.exec(INSERT_BINDING, params).await? {
            Exec::Rows(_) => Ok(()),
            // Another node inserted the same key since our read.
            Exec::Duplicate => Err(self.db.conflict()),
        }
    }

    /// The bindings of `aor` live at `now`, best first: the lookup for
    /// routing a request, one indexed query. Empty for an unknown or
    /// malformed address of record.
    pub async fn bindings(&self, aor: &str, now: i64) -> Result<Vec<Binding>> {
        if check_name("aor", aor).is_err() {
            return Ok(Vec::new());
        }
        self.db
            .query(LIVE_BINDINGS, vec![aor.into(), now.into()])
            .await?
            .iter()
            .map(|r| binding_from_row(r, 0))
            .collect()
    }

    /// Removes one binding whatever its Call-ID and CSeq (`sipctl ul rm`);
    /// [`Error::NotFound`] if absent.
    pub async fn remove_binding(&self, aor: &str, key: &BindingKey) -> Result<()> {
        let n = self
            .db
            .exec(
                DELETE_BINDING,
                vec![aor.into(), key.digest().as_slice().into()],
            )
            .await?;
        expect_some_rows(n, Entity::SipBinding)
    }

    /// Removes every binding of `aor`, returning how many there were.
    pub async fn remove_aor(&self, aor: &str) -> Result<u64> {
        match self.db.exec(DELETE_AOR, vec![aor.into()]).await? {
            Exec::Rows(n) => Ok(n),
            Exec::Duplicate => Err(Error::Corrupt("constraint violation on delete")),
        }
    }

    /// Deletes at most `batch` bindings expired at `now` (oldest first) and
    /// returns how many it deleted. Call it periodically, and again at once
    /// while it returns `batch`: each call is one short transaction, so a
    /// backlog never becomes one long sweep holding the write lock.
    pub async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64> {
        if batch == 0 {
            return Ok(0);
        }
        match self
            .db
            .exec(PURGE_EXPIRED, vec![now.into(), batch.into()])
            .await?
        {
            Exec::Rows(n) => Ok(n),
            Exec::Duplicate => Err(Error::Corrupt("constraint violation on delete")),
        }
    }
}
