//! Paged listings of the location table for `sipctl ul show` and
//! `sipctl online`: keyset pagination, so each page is one bounded,
//! indexed query and nothing ever loads every registration at once (the
//! way dumping 40k AoRs exhausts kamailio's memory).

use super::binding::{binding_columns, binding_from_row, Binding};
use super::SipStore;
use crate::error::Result;
use crate::sql::{Row, Sql};

/// Largest page a listing call returns; bigger requests are cut to it.
const MAX_PAGE: u32 = 1000;

/// Bindings after a cursor, in (aor, contact, key) order. SQLite uses a
/// row-value comparison, which its planner turns into an index range; the
/// expanded form is what MySQL's range optimizer understands.
const BINDINGS_AFTER: Sql = Sql {
    sqlite: concat!(
        "SELECT aor, binding_key, ",
        binding_columns!(),
        " FROM sip_location WHERE (aor, contact, binding_key) > (?, ?, ?) AND expires > ? \
         ORDER BY aor, contact, binding_key LIMIT ?"
    ),
    mysql: concat!(
        "SELECT aor, binding_key, ",
        binding_columns!(),
        " FROM sip_location WHERE (aor > ? OR (aor = ? AND (contact > ? OR \
         (contact = ? AND binding_key > ?)))) AND expires > ? \
         ORDER BY aor, contact, binding_key LIMIT ?"
    ),
};

const AORS_AFTER: Sql = Sql::both(
    "SELECT DISTINCT aor FROM sip_location WHERE aor > ? AND expires > ? ORDER BY aor LIMIT ?",
);

/// A binding together with its address of record, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationEntry {
    /// The address of record (user@domain).
    pub aor: String,
    /// The binding.
    pub binding: Binding,
}

/// Where a binding listing stopped; pass it back to get the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingCursor {
    aor: String,
    contact: String,
    key: [u8; 32],
}

/// One page of bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingPage {
    /// The bindings, ordered by address of record, then Contact.
    pub entries: Vec<LocationEntry>,
    /// Cursor for the next page; `None` when this page is the last.
    pub next: Option<BindingCursor>,
}

/// One page of addresses of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AorPage {
    /// Addresses of record with a live binding, sorted.
    pub aors: Vec<String>,
    /// Pass as `after` to get the next page; `None` when this is the last.
    pub next: Option<String>,
}

impl SipStore {
    /// Up to `limit` (at most 1000) bindings live at `now` that sort after
    /// `after` (from the start if `None`).
    pub async fn bindings_page(
        &self,
        after: Option<&BindingCursor>,
        now: i64,
        limit: u32,
    ) -> Result<BindingPage> {
        let limit = limit.clamp(1, MAX_PAGE);
        // The empty address of record sorts before every stored one.
        let (aor, contact, key) = after.map_or(("", "", [0u8; 32]), |c| {
            (c.aor.as_str(), c.contact.as_str(), c.key)
        });
        // The two spellings bind the cursor differently (see BINDINGS_AFTER).
        let params = match self.db.kind() {
            crate::BackendKind::Sqlite => vec![
                aor.into(),
                contact.into(),
                key.as_slice().into(),
                now.into(),
                limit.into(),
            ],
            crate::BackendKind::Mysql => vec![
                aor.into(),
                aor.into(),
                contact.into(),
                contact.into(),
                key.as_slice().into(),
                now.into(),
                limit.into(),
            ],
        };
        let rows = self.db.query(BINDINGS_AFTER, params).await?;
        let mut next = None;
        if rows.len() == limit as usize {
            if let Some(last) = rows.last() {
                next = Some(cursor_of(last)?);
            }
        }
        let entries = rows
            .iter()
            .map(|r| {
                Ok(LocationEntry {
                    aor: r.text(0)?,
                    binding: binding_from_row(r, 2)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BindingPage { entries, next })
    }

    /// A scan over every binding live at `now`, `page_size` at a time.
    pub fn scan_bindings(&self, now: i64, page_size: u32) -> BindingScan {
        BindingScan {
            store: self.clone(),
            now,
            page_size,
            cursor: None,
            done: false,
        }
    }

    /// Up to `limit` (at most 1000) addresses of record with a binding live
    /// at `now`, sorted, after `after` (from the start if `None`).
    pub async fn online_page(&self, after: Option<&str>, now: i64, limit: u32) -> Result<AorPage> {
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = self
            .db
            .query(
                AORS_AFTER,
                vec![after.unwrap_or("").into(), now.into(), limit.into()],
            )
            .await?;
        let aors = rows.iter().map(|r| r.text(0)).collect::<Result<Vec<_>>>()?;
        let next = if aors.len() == limit as usize {
            aors.last().cloned()
        } else {
            None
        };
        Ok(AorPage { aors, next })
    }

    /// A scan over the addresses of record online at `now`.
    pub fn scan_online(&self, now: i64, page_size: u32) -> OnlineScan {
        OnlineScan {
            store: self.clone(),
            now,
            page_size,
            cursor: None,
            done: false,
        }
    }
}

fn cursor_of(row: &Row) -> Result<BindingCursor> {
    Ok(BindingCursor {
        aor: row.text(0)?,
        key: row.bytes::<32>(1)?,
        contact: row.text(2)?,
    })
}

/// Streams the location table page by page (`sipctl ul show`): each
/// [`next_page`](Self::next_page) is one query. Rows changed during the
/// scan may or may not be seen; none is seen twice.
#[derive(Debug)]
pub struct BindingScan {
    store: SipStore,
    now: i64,
    page_size: u32,
    cursor: Option<BindingCursor>,
    done: bool,
}

impl BindingScan {
    /// The next page, or `None` when the scan is over.
    pub async fn next_page(&mut self) -> Result<Option<Vec<LocationEntry>>> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .store
            .bindings_page(self.cursor.as_ref(), self.now, self.page_size)
            .await?;
        self.done = page.next.is_none();
        self.cursor = page.next;
        if page.entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(page.entries))
    }
}

/// Streams the addresses of record online (`sipctl online`), page by page.
#[derive(Debug)]
pub struct OnlineScan {
    store: SipStore,
    now: i64,
    page_size: u32,
    cursor: Option<String>,
    done: bool,
}

impl OnlineScan {
    /// The next page, or `None` when the scan is over.
    pub async fn next_page(&mut self) -> Result<Option<Vec<String>>> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .store
            .online_page(self.cursor.as_deref(), self.now, self.page_size)
            .await?;
        self.done = page.next.is_none();
        self.cursor = page.next;
        if page.aors.is_empty() {
            return Ok(None);
        }
        Ok(Some(page.aors))
    }
}
