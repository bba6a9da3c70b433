//! XEP-0363 §5: the PUT and GET side of HTTP upload. A PUT is accepted when
//! its token (minted by `core/upload.rs`) matches the path, the announced
//! size equals `Content-Length`, the slot has not expired, the slot is
//! unused and the owner stays within `upload.quota_bytes`. Files live in
//! `{directory}/{owner}/{slot}/{file}` and are deleted `expiry_seconds`
//! after upload by [`cleanup_loop`]. GET serves them as attachments
//! (`application/octet-stream`, `nosniff`) so an upload cannot script the
//! web origin.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{HttpConn, Request, WebContext, CORS};
use crate::core::upload::{percent_encode, put_token, valid_filename};
use crate::core::UploadConfig;

/// How often expired files are looked for.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);
/// Longest time a PUT body may take, per MiB (plus a base).
const SECS_PER_MIB: u64 = 10;

/// The `{owner}/{slot}/{file}` parts of an upload path, file decoded.
fn split_path(path: &str) -> Option<(&str, &str, String)> {
    let rest = path.strip_prefix("/upload/")?;
    let mut parts = rest.splitn(3, '/');
    let (owner, slot, file) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !ok(owner, 24) || !ok(slot, 24) {
        return None;
    }
    let file = percent_decode(file)?;
    valid_filename(&file).then_some((owner, slot, file))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether the `v=` token authorises a PUT of `size` bytes to `path` now.
pub(crate) fn token_ok(
    secret: &[u8],
    path: &str,
    query: Option<&str>,
    size: u64,
    now: u64,
) -> bool {
    let Some(v) = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("v="))) else {
        return false;
    };
    let mut it = v.splitn(3, '.');
    let (Some(s), Some(e)) = (it.next(), it.next()) else {
        return false;
    };
    let (Ok(s), Ok(e)) = (s.parse::<u64>(), e.parse::<u64>()) else {
        return false;
    };
    let expected = put_token(secret, path, s, e);
    s == size && e >= now && bool::from(expected.as_bytes().ct_eq(v.as_bytes()))
}

/// Bytes stored under `dir` (one owner's files).
fn usage(dir: &Path) -> u64 {
    let Ok(slots) = std::fs::read_dir(dir) else {
        return 0;
    };
    slots
        .flatten()
        .filter_map(|s| std::fs::read_dir(s.path()).ok())
        .flat_map(|files| files.flatten())
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Answer a request under `/upload/`.
pub(super) async fn serve(
    conn: &mut HttpConn,
    req: &Request,
    ctx: &WebContext,
) -> std::io::Result<bool> {
    let Some((owner, slot, file)) = split_path(&req.path) else {
        conn.respond(404, &CORS, b"not found\n").await?;
        return Ok(req.content_length().is_ok_and(|l| l.unwrap_or(0) == 0));
    };
    let c = &ctx.upload;
    let dir = c.directory.join(owner).join(slot);
    match req.method.as_str() {
        "PUT" => put(conn, req, c, &dir, owner, slot, &file).await,
        "GET" | "HEAD" => get(conn, req, c, &dir.join(&file)).await,
        _ => {
            conn.respond(405, &[("Allow", "GET, HEAD, PUT, OPTIONS")], b"")
                .await?;
            Ok(false)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn put(
    conn: &mut HttpConn,
    req: &Request,
    c: &UploadConfig,
    dir: &Path,
    owner: &str,
    slot: &str,
    file: &str,
) -> std::io::Result<bool> {
    let len = match req.content_length() {
        Ok(Some(l)) => l,
        _ => {
            conn.respond(411, &CORS, b"Content-Length required\n")
                .await?;
            return Ok(false);
        }
    };
    if len > c.max_file_bytes {
        conn.respond(413, &CORS, b"file too large\n").await?;
        return Ok(false);
    }
    let path = format!("{owner}/{slot}/{}", percent_encode(file));
    if !token_ok(
        c.secret.as_bytes(),
        &path,
        req.query.as_deref(),
        len,
        unix_now(),
    ) {
        // Read the (bounded) body so the client sees the answer, not a reset.
        let keep = conn.discard(len, Duration::from_secs(30)).await;
        conn.respond(403, &CORS, b"invalid or expired upload slot\n")
            .await?;
        return Ok(keep);
    }
    let owner_dir = c.directory.join(owner);
    let used = tokio::task::spawn_blocking({
        let d = owner_dir.clone();
        move || usage(&d)
    })
    .await
    .unwrap_or(u64::MAX);
    if used.saturating_add(len) > c.quota_bytes {
        let keep = conn.discard(len, Duration::from_secs(30)).await;
        conn.respond(413, &CORS, b"upload quota exceeded\n").await?;
        return Ok(keep);
    }
    // Claim the slot atomically: a second PUT to it finds the directory.
    if let Err(e) = tokio::fs::create_dir_all(&owner_dir).await {
        tracing::warn!("upload directory {}: {e}", owner_dir.display());
    }
    if tokio::fs::create_dir(dir).await.is_err() {
        let keep = conn.discard(len, Duration::from_secs(30)).await;
        conn.respond(409, &CORS, b"slot already used\n").await?;
        return Ok(keep);
    }
    let target = dir.join(file);
    match receive(conn, dir, &target, len).await {
        Ok(()) => {
            tracing::info!(owner, bytes = len, "file uploaded");
            conn.respond(201, &CORS, b"").await?;
            Ok(true)
        }
        Err(e) => {
            tracing::info!(owner, "upload failed: {e}");
            let _ = tokio::fs::remove_dir_all(dir).await;
            let _ = conn.respond(500, &CORS, b"upload failed\n").await;
            Ok(false)
        }
    }
}

/// Copy `len` body bytes into `target` (via a temporary name).
async fn receive(conn: &mut HttpConn, dir: &Path, target: &Path, len: u64) -> std::io::Result<()> {
    let part = dir.join(".part");
    let mut f = tokio::fs::File::create(&part).await?;
    let within = Duration::from_secs(30 + SECS_PER_MIB * (len / (1024 * 1024)));
    let copy = async {
        let mut left = len;
        let first = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(conn.buf.len());
        let head: Vec<u8> = conn.buf.drain(..first).collect();
        f.write_all(&head).await?;
        left -= head.len() as u64;
        let mut chunk = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
            let n = conn
                .io
                .read(chunk.get_mut(..want).unwrap_or_default())
                .await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "body cut short",
                ));
            }
            f.write_all(chunk.get(..n).unwrap_or_default()).await?;
            left -= n as u64;
        }
        f.sync_all().await
    };
    tokio::time::timeout(within, copy)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "body too slow"))??;
    tokio::fs::rename(&part, target).await
}

async fn get(
    conn: &mut HttpConn,
    req: &Request,
    c: &UploadConfig,
    file: &Path,
) -> std::io::Result<bool> {
    let meta = match tokio::fs::metadata(file).await {
        Ok(m) if m.is_file() && !expired(&m, c.expiry_seconds) => m,
        _ => {
            conn.respond(404, &CORS, b"not found\n").await?;
            return Ok(true);
        }
    };
    let len = meta.len().to_string();
    let [a, b, cc] = CORS;
    let mut head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n");
    for (k, v) in [
        a,
        b,
        cc,
        ("Content-Type", "application/octet-stream"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'none'"),
        ("Cache-Control", "private, max-age=86400"),
    ] {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.io.write_all(head.as_bytes()).await?;
    if req.method == "GET" {
        let mut f = tokio::fs::File::open(file).await?;
        tokio::io::copy(&mut f, &mut conn.io).await?;
    }
    conn.io.flush().await?;
    Ok(true)
}

fn expired(meta: &std::fs::Metadata, expiry: u64) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|age| age.as_secs() >= expiry)
}

/// Delete files older than `expiry_seconds`, and emptied directories.
pub(crate) fn cleanup(root: &Path, expiry: u64) -> usize {
    let mut removed = 0;
    let Ok(owners) = std::fs::read_dir(root) else {
        return 0;
    };
    for owner in owners.flatten() {
        let Ok(slots) = std::fs::read_dir(owner.path()) else {
            continue;
        };
        for slot in slots.flatten() {
            let dir: PathBuf = slot.path();
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            let stale = files
                .flatten()
                .filter_map(|f| f.metadata().ok())
                .all(|m| expired(&m, expiry));
            if stale && std::fs::remove_dir_all(&dir).is_ok() {
                removed += 1;
            }
        }
        let _ = std::fs::remove_dir(owner.path()); // only if empty
    }
    removed
}

/// Run [`cleanup`] every minute until the process ends.
pub(crate) async fn cleanup_loop(root: PathBuf, expiry: u64) {
    loop {
        let (r, e) = (root.clone(), expiry);
        if let Ok(n) = tokio::task::spawn_blocking(move || cleanup(&r, e)).await {
            if n > 0 {
                tracing::info!(files = n, "expired uploads deleted");
            }
        }
        tokio::time::sleep(CLEANUP_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "0123456789abcdef01234567";
    const SLOT: &str = "ABCDEFGHIJKLMNOPQRSTUVWX";

    #[test]
    fn upload_paths_are_checked_and_decoded() {
        let p = format!("/upload/{OWNER}/{SLOT}/a%20b.txt");
        assert_eq!(split_path(&p), Some((OWNER, SLOT, "a b.txt".to_owned())));
        assert!(split_path(&format!("/upload/{OWNER}/{SLOT}/..")).is_none());
        assert!(split_path(&format!("/upload/{OWNER}/{SLOT}/%2e%2e")).is_none());
        assert!(split_path(&format!("/upload/{OWNER}/{SLOT}/a%2Fb")).is_none());
        assert!(split_path(&format!("/upload/../{SLOT}/x")).is_none());
    }

    #[test]
    fn token_must_match_size_path_and_time() {
        let path = format!("{OWNER}/{SLOT}/f");
        let q = format!("v={}", put_token(b"k", &path, 10, 1000));
        assert!(token_ok(b"k", &path, Some(&q), 10, 999));
        assert!(!token_ok(b"k", &path, Some(&q), 11, 999), "size");
        assert!(!token_ok(b"k", &path, Some(&q), 10, 1001), "expired");
        assert!(!token_ok(b"x", &path, Some(&q), 10, 999), "secret");
        assert!(
            !token_ok(b"k", &format!("{OWNER}/{SLOT}/g"), Some(&q), 10, 999),
            "path"
        );
        assert!(!token_ok(b"k", &path, None, 10, 999));
    }

    #[test]
    fn cleanup_deletes_only_expired_slots() {
        let dir = tempfile::tempdir().unwrap();
        let slot = dir.path().join(OWNER).join(SLOT);
        std::fs::create_dir_all(&slot).unwrap();
        std::fs::write(slot.join("f"), b"x").unwrap();
        assert_eq!(cleanup(dir.path(), 3600), 0);
        assert!(slot.join("f").exists());
        assert_eq!(cleanup(dir.path(), 0), 1);
        assert!(!dir.path().join(OWNER).exists());
    }
}
