//! Performs the core's [`StorageRequest`]s on `rtc-userdb`.
//!
//! Requests are spread over a few sequential workers by account, so writes
//! for one account are applied in the order the core emitted them while
//! different accounts proceed in parallel. An answer goes back to the core
//! only after the database confirmed the write (SQLite `synchronous=FULL`),
//! which is what lets the core acknowledge roster changes and offline
//! messages to clients.
//!
//! Archive writes (XEP-0313: two per chat message, the sender's and the
//! recipient's copy) queued behind each other on a worker are committed
//! together, up to `ARCHIVE_BATCH` in one transaction. The requests in
//! flight are counted ([`Backlog`]); above `BACKLOG_PAUSE` the connections
//! stop reading until the workers are down to `BACKLOG_RESUME`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rtc_userdb as db;
use rtc_userdb::XmppStore;
use sha1::{Digest, Sha1};
use tokio::sync::mpsc;

use crate::core::{
    decode_element, encode_element, AccessModel, AccountData, ArchivePage, PepItem, PepNodeConfig, ArchiveQuery, ArchivedMessage, Jid,
    OfflineMessage, PushRegistration, RequestId, RosterItem, ScramKeys, StorageAnswer, StorageError,
    StorageRequest, StoredCredentials, Subscription,
};

use super::driver::ToCore;

/// Sequential storage workers.
const SHARDS: usize = 4;
/// Storage requests in flight beyond which client connections stop being
/// read (TCP backpressure on the senders) until the backlog is down to
/// [`BACKLOG_RESUME`]: message archiving, offline storage and roster
/// writes cannot pile up in memory faster than the database takes them.
pub(crate) const BACKLOG_PAUSE: usize = 8_192;
/// See [`BACKLOG_PAUSE`].
pub(crate) const BACKLOG_RESUME: usize = 4_096;

/// Storage requests submitted and not answered yet, and a wake-up for the
/// readers held back while there are too many.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    count: AtomicUsize,
    drained: tokio::sync::Notify,
}

impl Backlog {
    /// Requests in flight.
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Whether readers should wait ([`Backlog::wait`]) before reading more.
    pub(crate) fn is_over(&self) -> bool {
        self.len() >= BACKLOG_PAUSE
    }

    /// Returns once the backlog is down to [`BACKLOG_RESUME`].
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.len() <= BACKLOG_RESUME {
                return;
            }
            notified.await;
        }
    }

    fn add(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == BACKLOG_RESUME + 1 {
            self.drained.notify_waiters();
        }
    }
}
/// Keys of private XML are `NAMESPACE NAME`; the longest accepted.
const MAX_PRIVATE_KEY: usize = 255;
/// Marks a stored roster entry that only records an inbound subscription
/// request (RFC 6121 §3.1.3) from a contact the user never added.
const UNLISTED_MARK: &str = "<presence type='subscribe' xmlns='urn:xmppd:unlisted'/>";
/// A listed entry with a pending inbound request.
const PENDING_IN: &str = "<presence type='subscribe'/>";

/// Quotas passed down to the database (the core enforces them too).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quotas {
    pub offline: u32,
    pub roster: u32,
    pub blocklist: u32,
    pub private: u32,
}

/// Whom a request's errors are logged for.
fn user_of(r: &StorageRequest) -> String {
    r.user().map_or_else(|| "(all accounts)".to_owned(), ToString::to_string)
}

/// The handle the core task uses to submit requests.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    shards: Vec<mpsc::UnboundedSender<(RequestId, StorageRequest)>>,
    backlog: Arc<Backlog>,
}

impl Storage {
    /// Start the workers; answers are sent to `core`.
    pub(crate) fn start(store: XmppStore, quotas: Quotas, core: mpsc::UnboundedSender<ToCore>) -> Self {
        let backlog = Arc::new(Backlog::default());
        let shards = (0..SHARDS)
            .map(|_| {
                let (tx, mut rx) = mpsc::unbounded_channel::<(RequestId, StorageRequest)>();
                let store = store.clone();
                let core = core.clone();
                let backlog = Arc::clone(&backlog);
                tokio::spawn(async move {
                    let mut next = None;
                    loop {
                        let queued = match next.take() {
                            Some(r) => Some(r),
                            None => rx.recv().await,
                        };
                        let Some((id, request)) = queued else { break };
                        if is_archive(&request) {
                            // Group commit: the archive writes queued behind
                            // this one (in order) go in the same transaction.
                            let mut batch = vec![(id, request)];
                            while batch.len() < ARCHIVE_BATCH {
                                match rx.try_recv() {
                                    Ok(r) if is_archive(&r.1) => batch.push(r),
                                    Ok(r) => {
                                        next = Some(r);
                                        break;
                                    }
                                    Err(_) => break,
                                }
                            }
                            let results = archive_batch(&store, &batch).await;
                            for ((id, _), result) in batch.into_iter().zip(results) {
                                backlog.done();
                                if core.send(ToCore::Storage { id, result }).is_err() {
                                    return;
                                }
                            }
                            continue;
                        }
                        let result = perform(&store, quotas, request).await;
                        backlog.done();
                        if core.send(ToCore::Storage { id, result }).is_err() {
                            break;
                        }
                    }
                });
                tx
            })
            .collect();
        Self { shards, backlog }
    }

    /// Queue a request behind earlier ones for the same account.
    pub(crate) fn submit(&self, id: RequestId, request: StorageRequest) {
        let mut h = DefaultHasher::new();
        request.user().hash(&mut h);
        let shard = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        if let Some(tx) = self.shards.get(shard) {
            self.backlog.add();
            if tx.send((id, request)).is_err() {
                self.backlog.done();
            }
        }
    }

    /// Requests submitted and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.backlog.len()
    }

    /// The backlog, for the readers that must wait on it.
    pub(crate) fn backlog(&self) -> Arc<Backlog> {
        Arc::clone(&self.backlog)
    }
}

/// Most archive writes committed in one transaction.
const ARCHIVE_BATCH: usize = 512;

fn is_archive(r: &StorageRequest) -> bool {
    matches!(r, StorageRequest::ArchiveMessage { .. })
}

/// Archive writes (all `ArchiveMessage`) in one transaction; one answer
/// each, in order.
async fn archive_batch(
    store: &XmppStore,
    batch: &[(RequestId, StorageRequest)],
) -> Vec<Result<StorageAnswer, StorageError>> {
    struct Owned<'a> {
        host: &'a str,
        name: &'a str,
        id: &'a str,
        with: String,
        stored_at: i64,
        stanza: String,
        max: u32,
    }
    let prepared: Vec<Result<Owned<'_>, Failure>> = batch
        .iter()
        .map(|(_, r)| match r {
            StorageRequest::ArchiveMessage { user, id, with, stored_at, message, max_messages } => {
                let (host, name) = split(user)?;
                Ok(Owned {
                    host,
                    name,
                    id,
                    with: with.to_string(),
                    stored_at: i64::try_from(*stored_at).unwrap_or(i64::MAX),
                    stanza: xml(message)?,
                    max: *max_messages,
                })
            }
            _ => Err(Failure::NotAccount),
        })
        .collect();
    let appends: Vec<db::ArchiveAppend<'_>> = prepared
        .iter()
        .flatten()
        .map(|o| db::ArchiveAppend {
            host: o.host,
            username: o.name,
            entry: db::ArchiveEntry { archive_id: o.id, with: &o.with, stored_at: o.stored_at, stanza: &o.stanza },
            max_messages: o.max,
        })
        .collect();
    let mut stored = match store.archive_append_batch(&appends).await {
        Ok(results) => results.into_iter().map(|r| r.map_err(Failure::from)).collect::<Vec<_>>(),
        Err(e) => {
            tracing::error!(messages = appends.len(), "storage request failed: archiving a batch: {e}");
            return batch.iter().map(|_| Err(StorageError::Unavailable)).collect();
        }
    }
    .into_iter();
    batch
        .iter()
        .zip(prepared)
        .map(|((_, request), p)| {
            let result = match p {
                Ok(_) => stored.next().unwrap_or(Err(Failure::NotAccount)),
                Err(e) => Err(e),
            };
            result.map(|_| StorageAnswer::Done).map_err(|e| {
                tracing::error!(user = %user_of(request), "storage request failed: {e}");
                StorageError::Unavailable
            })
        })
        .collect()
}

/// One request against the database.
pub(crate) async fn perform(
    store: &XmppStore,
    q: Quotas,
    request: StorageRequest,
) -> Result<StorageAnswer, StorageError> {
    let result = run(store, q, &request).await;
    if let Err(e) = &result {
        tracing::error!(user = %user_of(&request), "storage request failed: {e}");
    }
    result.map_err(|_| StorageError::Unavailable)
}

/// Why a request failed (logged; the core only learns "unavailable").
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error(transparent)]
    Db(#[from] rtc_userdb::Error),
    #[error("cannot encode or decode stored XML: {0}")]
    Xml(#[from] rtc_xmlstream::StreamError),
    #[error("stored data is not UTF-8")]
    Utf8,
    #[error("not an account JID")]
    NotAccount,
}

fn split(user: &Jid) -> Result<(&str, &str), Failure> {
    Ok((user.domain(), user.node().ok_or(Failure::NotAccount)?))
}

pub(crate) fn xml(e: &rtc_xmlstream::Element) -> Result<String, Failure> {
    String::from_utf8(encode_element(e)?).map_err(|_| Failure::Utf8)
}

async fn run(store: &XmppStore, q: Quotas, request: &StorageRequest) -> Result<StorageAnswer, Failure> {
    use StorageRequest as R;
    if let R::ExpireArchive { before, batch } = request {
        let before = i64::try_from(*before).unwrap_or(i64::MAX);
        return Ok(StorageAnswer::Expired(store.archive_expire(before, *batch).await?));
    }
    if let Some(answer) = super::muc_storage::perform(store, request).await? {
        return Ok(answer);
    }
    let (host, name) = split(request.user().ok_or(Failure::NotAccount)?)?;
    Ok(match request {
        R::LoadCredentials { .. } => StorageAnswer::Credentials(store.credentials(host, name).await?.map(credentials)),
        R::LoadAccount { .. } => StorageAnswer::Account(load_account(store, host, name).await?),
        R::SaveRosterItem { item, .. } => {
            if item.listed || item.pending_in {
                store.set_roster_item(host, name, &to_db_item(item), q.roster).await?;
            } else {
                remove_item(store, host, name, &item.jid.to_string()).await?;
            }
            StorageAnswer::Done
        }
        R::RemoveRosterItem { contact, .. } => {
            remove_item(store, host, name, &contact.to_string()).await?;
            StorageAnswer::Done
        }
        R::StoreOffline { message, .. } => {
            store.push_offline(host, name, &xml(message)?, q.offline).await?;
            StorageAnswer::Done
        }
        R::LoadOffline { .. } => {
            let mut out = Vec::new();
            for m in store.offline_messages(host, name).await? {
                let Ok(key) = u64::try_from(m.id) else { continue };
                match decode_element(m.stanza.as_bytes()) {
                    Ok(message) => out.push(OfflineMessage { key, message }),
                    Err(e) => tracing::warn!(%host, "skipping unreadable offline message {key}: {e}"),
                }
            }
            StorageAnswer::Offline(out)
        }
        R::DeleteOffline { keys, .. } => {
            // Keys grow in storage order and are deleted oldest first.
            if let Some(max) = keys.iter().max().and_then(|k| i64::try_from(*k).ok()) {
                store.delete_offline_through(host, name, max).await?;
            }
            StorageAnswer::Done
        }
        R::LoadVcard { .. } => StorageAnswer::Element(match store.vcard(host, name).await? {
            Some(s) => Some(decode_element(s.as_bytes())?),
            None => None,
        }),
        R::SaveVcard { vcard, .. } => {
            store.set_vcard(host, name, &xml(vcard)?).await?;
            StorageAnswer::Done
        }
        R::LoadPrivate { name: elem, ns, .. } => {
            let key = private_key(elem, ns);
            StorageAnswer::Element(match store.private(host, name, &key).await? {
                Some(s) => Some(decode_element(s.as_bytes())?),
                None => None,
            })
        }
        R::SavePrivate { data, .. } => {
            let key = private_key(data.name(), data.ns());
            store.set_private(host, name, &key, &xml(data)?, q.private).await?;
            StorageAnswer::Done
        }
        R::SaveBlocklist { list, .. } => {
            let wanted: Vec<String> = list.iter().map(ToString::to_string).collect();
            let current = store.blocklist(host, name).await?;
            for old in current.iter().filter(|c| !wanted.contains(c)) {
                store.unblock(host, name, old).await?;
            }
            for new in wanted.iter().filter(|w| !current.contains(w)) {
                store.block(host, name, new, q.blocklist).await?;
            }
            StorageAnswer::Done
        }
        R::ArchiveMessage { id, with, stored_at, message, max_messages, .. } => {
            let stanza = xml(message)?;
            let with = with.to_string();
            let entry = db::ArchiveEntry {
                archive_id: id,
                with: &with,
                stored_at: i64::try_from(*stored_at).unwrap_or(i64::MAX),
                stanza: &stanza,
            };
            store.archive_append(host, name, &entry, *max_messages).await?;
            StorageAnswer::Done
        }
        R::QueryArchive { query, .. } => match archive_query(store, host, name, query).await {
            Err(Failure::Db(rtc_userdb::Error::NotFound(db::Entity::XmppArchivedMessage))) => StorageAnswer::NotFound,
            other => other?,
        },
        R::SavePush { registration, max, .. } => {
            let reg = db::PushRegistration {
                service: registration.service.to_string(),
                node: registration.node.clone(),
                options: registration.options.as_ref().map(xml).transpose()?,
            };
            store.push_register(host, name, &reg, *max).await?;
            StorageAnswer::Done
        }
        R::RemovePush { service, node, .. } => {
            store.push_unregister(host, name, &service.to_string(), node.as_deref()).await?;
            StorageAnswer::Done
        }
        R::PepConfigure { config, max_nodes, .. } => {
            let node = db::PepNode {
                node: config.node.clone(),
                access_model: config.access.as_str().to_owned(),
                max_items: config.max_items,
                persist: config.persist,
            };
            store.pep_configure(host, name, &node, *max_nodes).await?;
            StorageAnswer::Done
        }
        R::PepPublish { node, item, max_items, .. } => {
            let item = db::PepItem { id: item.id.clone(), payload: xml(&item.payload)? };
            store.pep_publish(host, name, node, &item, *max_items).await?;
            StorageAnswer::Done
        }
        R::PepItems { node, max, .. } => {
            let mut out = Vec::new();
            for i in store.pep_items(host, name, node, *max).await? {
                match decode_element(i.payload.as_bytes()) {
                    Ok(payload) => out.push(PepItem { id: i.id, payload }),
                    Err(e) => tracing::warn!(%host, "skipping unreadable PEP item {}: {e}", i.id),
                }
            }
            StorageAnswer::PepItems(out)
        }
        R::PepRetract { node, id, .. } => {
            store.pep_retract(host, name, node, id).await?;
            StorageAnswer::Done
        }
        R::PepDeleteNode { node, .. } => {
            store.pep_delete_node(host, name, node).await?;
            StorageAnswer::Done
        }
        R::ExpireArchive { .. } => StorageAnswer::Done,
        // Answered by `muc_storage::perform` above.
        R::LoadMucRooms { .. } | R::SaveMucRoom { .. } | R::DeleteMucRoom { .. } | R::ArchiveMucMessage { .. } => {
            return Err(Failure::NotAccount)
        }
    })
}

async fn archive_query(store: &XmppStore, host: &str, name: &str, q: &ArchiveQuery) -> Result<StorageAnswer, Failure> {
    let secs = |s: Option<u64>| s.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    let query = db::ArchiveQuery {
        with: q.with.as_ref().map(ToString::to_string),
        start: secs(q.start),
        end: secs(q.end),
        after: q.after.clone(),
        before: q.before.clone(),
        last_page: q.last_page,
        max: q.max,
    };
    let page = store.archive_query(host, name, &query).await?;
    let mut messages = Vec::with_capacity(page.messages.len());
    for m in page.messages {
        match decode_element(m.stanza.as_bytes()) {
            Ok(message) => messages.push(ArchivedMessage {
                id: m.archive_id,
                stored_at: u64::try_from(m.stored_at).unwrap_or(0),
                message,
            }),
            Err(e) => tracing::warn!(%host, "skipping unreadable archived message {}: {e}", m.archive_id),
        }
    }
    Ok(StorageAnswer::Archive(ArchivePage {
        messages,
        count: page.count,
        complete: page.complete,
    }))
}

async fn remove_item(store: &XmppStore, host: &str, name: &str, jid: &str) -> Result<(), Failure> {
    match store.remove_roster_item(host, name, jid).await {
        Ok(_) | Err(rtc_userdb::Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn private_key(name: &str, ns: &str) -> String {
    let mut key = format!("{ns} {name}");
    if key.len() > MAX_PRIVATE_KEY {
        // Long namespaces: keep a stable, bounded key.
        key = format!("sha1:{}", hex::encode(Sha1::digest(key.as_bytes())));
    }
    key
}

fn credentials(c: db::ScramCredentials) -> StoredCredentials {
    let keys = |k: &db::ScramKeys| ScramKeys {
        stored_key: k.stored_key.clone(),
        server_key: k.server_key.clone(),
        salt: c.salt.clone(),
        iterations: c.iterations,
    };
    StoredCredentials {
        sha1: Some(keys(&c.sha1)),
        sha256: Some(keys(&c.sha256)),
    }
}

async fn load_account(store: &XmppStore, host: &str, name: &str) -> Result<Option<AccountData>, Failure> {
    let Some(roster) = store.roster(host, name).await? else {
        return Ok(None);
    };
    let items = roster.items.into_iter().filter_map(from_db_item).collect();
    let blocklist = store
        .blocklist(host, name)
        .await?
        .iter()
        .filter_map(|j| Jid::parse(j).ok())
        .collect();
    let offline_count = u32::try_from(store.offline_count(host, name).await?).unwrap_or(u32::MAX);
    let avatar_hash = match store.vcard(host, name).await? {
        Some(v) => decode_element(v.as_bytes()).ok().as_ref().and_then(avatar_hash),
        None => None,
    };
    let push = store
        .push_registrations(host, name)
        .await?
        .into_iter()
        .filter_map(|r| {
            Some(PushRegistration {
                service: Jid::parse(&r.service).ok()?,
                node: r.node,
                options: r.options.and_then(|o| decode_element(o.as_bytes()).ok()),
            })
        })
        .collect();
    let pep_nodes = store
        .pep_nodes(host, name)
        .await?
        .into_iter()
        .map(|n| PepNodeConfig {
            node: n.node,
            access: AccessModel::parse(&n.access_model).unwrap_or(AccessModel::Whitelist),
            max_items: n.max_items,
            persist: n.persist,
        })
        .collect();
    Ok(Some(AccountData {
        roster: items,
        roster_version: roster.version,
        blocklist,
        offline_count,
        avatar_hash,
        push,
        pep_nodes,
    }))
}

/// Hex SHA-1 of the vCard photo (XEP-0153 §3.2).
fn avatar_hash(vcard: &rtc_xmlstream::Element) -> Option<String> {
    use base64::Engine as _;
    let binval = vcard.find_child("PHOTO", "vcard-temp")?.child_text("BINVAL", "vcard-temp")?;
    let clean: String = binval.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(clean).ok()?;
    Some(hex::encode(Sha1::digest(bytes)))
}

fn to_db_item(item: &RosterItem) -> db::RosterItem {
    db::RosterItem {
        jid: item.jid.to_string(),
        name: item.name.clone(),
        subscription: match item.subscription {
            Subscription::None => db::Subscription::None,
            Subscription::To => db::Subscription::To,
            Subscription::From => db::Subscription::From,
            Subscription::Both => db::Subscription::Both,
        },
        ask: item.ask,
        approved: item.approved,
        pending_in: match (item.pending_in, item.listed) {
            (_, false) => Some(UNLISTED_MARK.to_owned()),
            (true, true) => Some(PENDING_IN.to_owned()),
            (false, true) => None,
        },
        groups: item.groups.clone(),
    }
}

fn from_db_item(item: db::RosterItem) -> Option<RosterItem> {
    let listed = item.pending_in.as_deref() != Some(UNLISTED_MARK);
    Some(RosterItem {
        jid: Jid::parse(&item.jid).ok()?,
        name: item.name,
        groups: item.groups,
        subscription: match item.subscription {
            db::Subscription::None => Subscription::None,
            db::Subscription::To => Subscription::To,
            db::Subscription::From => Subscription::From,
            db::Subscription::Both => Subscription::Both,
        },
        ask: item.ask,
        pending_in: item.pending_in.is_some(),
        approved: item.approved,
        listed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readers held back at the pause mark go on only once the backlog is
    /// down to the resume mark, and none is left waiting.
    #[tokio::test]
    async fn readers_wait_while_the_backlog_is_over_and_resume_at_the_low_mark() {
        let b = Arc::new(Backlog::default());
        for _ in 0..BACKLOG_PAUSE {
            b.add();
        }
        assert!(b.is_over());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let b = Arc::clone(&b);
                tokio::spawn(async move { b.wait().await })
            })
            .collect();
        for _ in 0..(BACKLOG_PAUSE - BACKLOG_RESUME - 1) {
            b.done();
        }
        assert!(!b.is_over());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(waiters.iter().all(|w| !w.is_finished()), "still above the resume mark");
        b.done();
        for w in waiters {
            tokio::time::timeout(std::time::Duration::from_secs(5), w).await.unwrap().unwrap();
        }
        // Below the mark, waiting returns at once.
        tokio::time::timeout(std::time::Duration::from_secs(5), b.wait()).await.unwrap();
    }

    #[test]
    fn roster_items_round_trip_including_unlisted_requests() {
        let mut a = RosterItem::new(Jid::parse("romeo@montague.lit").unwrap());
        a.subscription = Subscription::From;
        a.groups = vec!["Friends".into()];
        a.pending_in = true;
        let mut b = RosterItem::new(Jid::parse("nurse@capulet.lit").unwrap());
        b.listed = false;
        b.pending_in = true;
        for item in [a, b] {
            assert_eq!(from_db_item(to_db_item(&item)).unwrap(), item);
        }
    }

    #[test]
    fn private_keys_are_bounded() {
        assert_eq!(private_key("storage", "storage:bookmarks"), "storage:bookmarks storage");
        assert!(private_key("x", &"n".repeat(400)).len() <= MAX_PRIVATE_KEY);
    }
}
