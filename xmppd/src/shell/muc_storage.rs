//! Performs the MUC storage requests (`core::muc`) on `rtc-userdb`: rooms
//! keyed by (service domain, room localpart) and their archives.

use rtc_userdb::{MucArchived, XmppStore};

use super::storage::{xml, Failure};
use crate::core::{
    decode_element, Jid, MucArchivedMessage, StorageAnswer, StorageRequest, StoredRoom,
};

/// Most archived messages loaded per room at start.
const MAX_LOADED_ARCHIVE: usize = 100_000;

fn room_key(room: &Jid) -> Result<(&str, &str), Failure> {
    Ok((room.domain(), room.node().ok_or(Failure::NotAccount)?))
}

/// `Some(answer)` for a MUC request, `None` for any other.
pub(crate) async fn perform(
    store: &XmppStore,
    request: &StorageRequest,
) -> Result<Option<StorageAnswer>, Failure> {
    use StorageRequest as R;
    Ok(Some(match request {
        R::LoadMucRooms { service, archive } => {
            let service = service.domain();
            let max = u32::try_from((*archive).min(MAX_LOADED_ARCHIVE)).unwrap_or(u32::MAX);
            let mut rooms = Vec::new();
            for r in store.muc_rooms(service).await? {
                let state = match decode_element(r.state.as_bytes()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(service, room = %r.room, "stored room unreadable, skipped: {e}");
                        continue;
                    }
                };
                let mut archive = Vec::new();
                for m in store.muc_archive(service, &r.room, max).await? {
                    if let Ok(message) = decode_element(m.stanza.as_bytes()) {
                        let stamp = u64::try_from(m.stamp).unwrap_or(0);
                        archive.push(MucArchivedMessage {
                            id: m.stanza_id,
                            stamp,
                            message,
                        });
                    }
                }
                rooms.push(StoredRoom {
                    name: r.room,
                    state,
                    archive,
                });
            }
            StorageAnswer::MucRooms(rooms)
        }
        R::SaveMucRoom { room, state } => {
            let (service, name) = room_key(room)?;
            store.save_muc_room(service, name, &xml(state)?).await?;
            StorageAnswer::Done
        }
        R::DeleteMucRoom { room } => {
            let (service, name) = room_key(room)?;
            store.delete_muc_room(service, name).await?;
            StorageAnswer::Done
        }
        R::ArchiveMucMessage {
            room,
            id,
            stamp,
            message,
            keep,
        } => {
            let (service, name) = room_key(room)?;
            let m = MucArchived {
                stanza_id: id.clone(),
                stamp: i64::try_from(*stamp).unwrap_or(i64::MAX),
                stanza: xml(message)?,
            };
            let keep = u32::try_from(*keep).unwrap_or(u32::MAX);
            store.push_muc_archive(service, name, &m, keep).await?;
            StorageAnswer::Done
        }
        _ => return Ok(None),
    }))
}
