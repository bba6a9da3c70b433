//! Performs the core's [`StorageRequest`]s on `rtc-userdb`.
//!
//! Requests are spread over a few sequential workers by account, so writes
//! for one account are applied in the order the core emitted them while
//! different accounts proceed in parallel. An answer goes back to the core
//! only after the database confirmed the write (SQLite `synchronous=FULL`),
//! which is what lets the core acknowledge roster changes and offline
//! messages to clients.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rtc_userdb as db;
use rtc_userdb::XmppStore;
use sha1::{Digest, Sha1};
use tokio::sync::mpsc;

use crate::core::{
    decode_element, encode_element, AccountData, Jid, OfflineMessage, RequestId, RosterItem, ScramKeys,
    StorageAnswer, StorageError, StorageRequest, StoredCredentials, Subscription,
};

use super::driver::ToCore;

/// Sequential storage workers.
const SHARDS: usize = 4;
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

/// The handle the core task uses to submit requests.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    shards: Vec<mpsc::UnboundedSender<(RequestId, StorageRequest)>>,
    in_flight: Arc<AtomicUsize>,
}

impl Storage {
    /// Start the workers; answers are sent to `core`.
    pub(crate) fn start(store: XmppStore, quotas: Quotas, core: mpsc::UnboundedSender<ToCore>) -> Self {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let shards = (0..SHARDS)
            .map(|_| {
                let (tx, mut rx) = mpsc::unbounded_channel::<(RequestId, StorageRequest)>();
                let store = store.clone();
                let core = core.clone();
                let in_flight = Arc::clone(&in_flight);
                tokio::spawn(async move {
                    while let Some((id, request)) = rx.recv().await {
                        let result = perform(&store, quotas, request).await;
                        in_flight.fetch_sub(1, Ordering::AcqRel);
                        if core.send(ToCore::Storage { id, result }).is_err() {
                            break;
                        }
                    }
                });
                tx
            })
            .collect();
        Self { shards, in_flight }
    }

    /// Queue a request behind earlier ones for the same account.
    pub(crate) fn submit(&self, id: RequestId, request: StorageRequest) {
        let mut h = DefaultHasher::new();
        user_of(&request).hash(&mut h);
        let shard = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        if let Some(tx) = self.shards.get(shard) {
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            if tx.send((id, request)).is_err() {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Requests submitted and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

fn user_of(r: &StorageRequest) -> &Jid {
    match r {
        StorageRequest::LoadCredentials { user }
        | StorageRequest::LoadAccount { user }
        | StorageRequest::SaveRosterItem { user, .. }
        | StorageRequest::RemoveRosterItem { user, .. }
        | StorageRequest::StoreOffline { user, .. }
        | StorageRequest::LoadOffline { user }
        | StorageRequest::DeleteOffline { user, .. }
        | StorageRequest::LoadVcard { user }
        | StorageRequest::SaveVcard { user, .. }
        | StorageRequest::LoadPrivate { user, .. }
        | StorageRequest::SavePrivate { user, .. }
        | StorageRequest::SaveBlocklist { user, .. } => user,
    }
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
enum Failure {
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

fn xml(e: &rtc_xmlstream::Element) -> Result<String, Failure> {
    String::from_utf8(encode_element(e)?).map_err(|_| Failure::Utf8)
}

async fn run(store: &XmppStore, q: Quotas, request: &StorageRequest) -> Result<StorageAnswer, Failure> {
    use StorageRequest as R;
    let (host, name) = split(user_of(request))?;
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
    })
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
    Ok(Some(AccountData {
        roster: items,
        roster_version: roster.version,
        blocklist,
        offline_count,
        avatar_hash,
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
