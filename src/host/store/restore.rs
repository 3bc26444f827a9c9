//! Reading a backup set back: download → SHA-256 check → decrypt → decompress → tar, either
//! checked without writing anything ([`verify`]) or restored through a staging folder
//! ([`restore_files`]).
//!
//! The download runs on the async runtime; decryption, decompression and the consumer (e.g.
//! extraction) each run on a thread of their own, joined by bounded channels of 1 MiB chunks, so
//! the stages overlap on every core. A stored-checksum mismatch is sent down the channels as an
//! error before the stream ends, and decryption verifies the final segment only at the very
//! end, so extraction fails — and nothing is promoted — unless every byte checked out: every
//! stage reads its input to the end, and a stage cut short fails the read.

use std::io::Read;
use std::path::Path;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::bridge::{self, ChannelReader, ChannelWriter};
use super::layout::SetId;
use super::manifest::{Manifest, ObjectRecord};
use super::Store;
use crate::context::control::Control;
use crate::error::{Error, Result};
use crate::host::archive::{restore_into, FileRecord, RestoreReport};
use crate::host::chunks::read_chunks;
use crate::host::crypto::{DecryptingReader, Key};
use crate::host::digest::HashingReader;
use crate::host::runtime::block_on;

/// What a verification checked.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Objects read back.
    pub objects: usize,
    /// Stored bytes read.
    pub stored_bytes: u64,
    /// Files whose content matched the manifest.
    pub files: usize,
    /// Bytes of those files.
    pub file_bytes: u64,
}

/// Whether a read checks the stream checksums (stored bytes and decrypted object) in addition
/// to what decryption itself authenticates. Verification does; a restore relies on the
/// authenticated encryption plus every file's SHA-256, and saves two passes over the data.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StreamChecks {
    /// Stored and decrypted checksums checked too.
    Full,
    /// Authenticated decryption only.
    Authenticated,
}

/// Streams one object of a set into a synchronous consumer. Four stages run at once, joined by
/// bounded channels of 1 MiB chunks: the download (async runtime), decryption, decompression and
/// the consumer (one thread each).
pub fn read_object<T: Send + 'static>(
    store: &Store,
    id: &SetId,
    object: &ObjectRecord,
    keys: &[Key],
    control: &Control,
    checks: StreamChecks,
    consume: impl FnOnce(&mut dyn Read) -> Result<T> + Send + 'static,
) -> Result<T> {
    let backend = store.backend();
    let relative = format!("{}/{}", id.path(), object.name);
    let where_ = backend.describe(&relative);
    let (stored_tx, stored_rx) = bridge::channel();
    let (compressed_tx, compressed_rx) = bridge::channel();
    let (plain_tx, plain_rx) = bridge::channel();
    let decrypter = {
        let keys = keys.to_vec();
        let expected = (checks == StreamChecks::Full).then(|| object.plain_sha256.clone());
        spawn_stage(where_.clone(), compressed_tx, move |out, at| {
            let mut decrypted =
                DecryptingReader::new(ChannelReader::new(stored_rx), &keys).map_err(at)?;
            let mut send = |chunk| out.send_chunk(chunk);
            let Some(want) = expected else {
                return read_chunks(&mut decrypted, bridge::CHUNK, &mut send).map_err(at);
            };
            let mut plain = HashingReader::new(decrypted);
            read_chunks(&mut plain, bridge::CHUNK, &mut send).map_err(at)?;
            if plain.digest().0 != want {
                return Err(at(std::io::Error::other(
                    "the decrypted object does not match the manifest checksum",
                )));
            }
            Ok(())
        })
    };
    let decompressor = {
        let compression = object.compression;
        spawn_stage(where_.clone(), plain_tx, move |out, at| {
            let mut compressed = ChannelReader::new(compressed_rx);
            compression
                .decompress_chunks(&mut compressed, bridge::CHUNK, &mut |chunk| {
                    out.send_chunk(chunk)
                })
                .map_err(at)?;
            // Read to the end, so that decryption checks the final segment.
            std::io::copy(&mut compressed, &mut std::io::sink()).map_err(at)?;
            Ok(())
        })
    };
    let consumer = std::thread::spawn(move || -> Result<T> {
        let mut plain = ChannelReader::new(plain_rx);
        let value = consume(&mut plain)?;
        // Read to the end, so that every earlier stage finishes its checks.
        std::io::copy(&mut plain, &mut std::io::sink())
            .map_err(|e| Error::failed(format!("reading the end of the object: {e}")))?;
        Ok(value)
    });
    let mut transfer = control.transfer(&format!("read {relative}"), Some(object.stored_size));
    // `stored_tx` moves into the download so the channel closes when it ends.
    let downloaded: Result<()> = block_on(async move {
        let mut stream = backend.get_stream(&relative).await?;
        let mut hasher = (checks == StreamChecks::Full).then(Sha256::new);
        let mut size = 0u64;
        // Network reads arrive in pieces of a few KiB; they travel on in whole chunks.
        let mut pending = bytes::BytesMut::new();
        let mut receiver_gone = false;
        while let Some(piece) = stream.next().await {
            control.check()?;
            let piece = piece.map_err(|e| Error::failed(format!("reading {where_}: {e}")))?;
            if let Some(h) = hasher.as_mut() {
                h.update(&piece);
            }
            size += piece.len() as u64;
            transfer.advance(piece.len() as u64);
            let chunk = if pending.is_empty() && piece.len() >= bridge::CHUNK {
                piece
            } else {
                pending.extend_from_slice(&piece);
                if pending.len() < bridge::CHUNK {
                    continue;
                }
                pending.split().freeze()
            };
            if stored_tx.send(Ok(chunk)).await.is_err() {
                receiver_gone = true;
                break;
            }
        }
        if receiver_gone {
            // A later stage stopped early; its error explains why.
            return Ok(());
        }
        let sha_differs = hasher.is_some_and(|h| hex::encode(h.finalize()) != object.stored_sha256);
        if sha_differs || size != object.stored_size {
            let msg = format!(
                "stored object {where_} is corrupted: its SHA-256 or size differs from the manifest"
            );
            let _ = stored_tx
                .send(Err(std::io::Error::other(msg.clone())))
                .await;
            return Err(Error::failed(msg).with_hint(
                "restore from another set (`store.list(name)`), and check the storage for damage",
            ));
        }
        if !pending.is_empty() && stored_tx.send(Ok(pending.freeze())).await.is_err() {
            return Ok(());
        }
        Ok(())
    });
    let decrypted = join_stage(decrypter, "decryption");
    let decompressed = join_stage(decompressor, "decompression");
    let consumed = consumer
        .join()
        .unwrap_or_else(|_| Err(Error::failed("the restore worker crashed")));
    // Report the root cause: the earliest stage that failed for a reason of its own. A stage
    // whose next stage stopped only says so; a failed download never comes from a later stage.
    // The object counts as read only when every stage read its input to the end.
    downloaded?;
    let mut cut_short = None;
    for stage in [decrypted, decompressed] {
        match stage {
            Err(e) if e.message().contains(bridge::RECEIVER_GONE) => {
                cut_short.get_or_insert(e);
            }
            Err(e) => return Err(e),
            Ok(()) => {}
        }
    }
    let value = consumed?;
    match cut_short {
        Some(e) => Err(e),
        None => Ok(value),
    }
}

/// Runs one middle stage of [`read_object`] on its own thread. The stage gets its output and a
/// function that turns an I/O error into one naming the object. On failure the output ends
/// with the error, so the next stage fails instead of finishing.
fn spawn_stage(
    where_: String,
    tx: tokio::sync::mpsc::Sender<bridge::Chunk>,
    run: impl FnOnce(&mut ChannelWriter, &dyn Fn(std::io::Error) -> Error) -> Result<()>
        + Send
        + 'static,
) -> std::thread::JoinHandle<Result<()>> {
    std::thread::spawn(move || {
        let at = |e: std::io::Error| Error::failed(format!("{where_}: {e}"));
        let mut out = ChannelWriter::new(tx);
        match run(&mut out, &at) {
            Ok(()) => out.finish().map_err(at),
            Err(e) => {
                out.fail(std::io::Error::other(e.message().to_string()));
                Err(e)
            }
        }
    })
}

fn join_stage(handle: std::thread::JoinHandle<Result<()>>, stage: &str) -> Result<()> {
    handle
        .join()
        .unwrap_or_else(|_| Err(Error::failed(format!("the {stage} worker crashed"))))
}

fn corrupted_file(set: &str, path: &str) -> Error {
    Error::failed(format!(
        "set {set}: file {path} does not match its checksum in the manifest"
    ))
    .with_hint("restore from another set and check the storage for damage")
}

/// Reads every object of a set back, decrypting and checking every file against the manifest,
/// without writing anything.
pub fn verify(
    store: &Store,
    id: &SetId,
    manifest: &Manifest,
    keys: &[Key],
    control: &Control,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let set_name = store.backend().describe(&id.path());
    for object in &manifest.objects {
        let files = manifest.files.clone();
        let set = set_name.clone();
        let kind = manifest.kind.clone();
        let (count, bytes) = read_object(
            store,
            id,
            object,
            keys,
            control,
            StreamChecks::Full,
            move |plain| {
                if kind == "files" {
                    check_archive(plain, &files, &set)
                } else {
                    std::io::copy(plain, &mut std::io::sink())
                        .map_err(|e| Error::failed(format!("set {set}: {e}")))?;
                    Ok((0, 0))
                }
            },
        )?;
        report.objects += 1;
        report.stored_bytes += object.stored_size;
        report.files += count;
        report.file_bytes += bytes;
    }
    Ok(report)
}

/// Walks a tar stream and checks each file's content against the manifest.
fn check_archive(plain: &mut dyn Read, files: &[FileRecord], set: &str) -> Result<(usize, u64)> {
    let expected: std::collections::HashMap<&str, &FileRecord> =
        files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut seen = std::collections::HashSet::new();
    let mut archive = tar::Archive::new(plain);
    let entries = archive
        .entries()
        .map_err(|e| Error::failed(format!("set {set}: archive unreadable: {e}")))?;
    let (mut count, mut bytes) = (0usize, 0u64);
    for entry in entries {
        let mut entry =
            entry.map_err(|e| Error::failed(format!("set {set}: archive unreadable: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| Error::failed(format!("set {set}: bad entry name: {e}")))?
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let Some(record) = expected.get(path.as_str()) else {
            return Err(Error::failed(format!(
                "set {set}: the archive holds {path}, which the manifest does not list"
            )));
        };
        seen.insert(path.clone());
        if let Some(want) = &record.sha256 {
            let mut hasher = Sha256::new();
            let n = std::io::copy(&mut entry, &mut HashSink(&mut hasher))
                .map_err(|e| Error::failed(format!("set {set}: reading {path}: {e}")))?;
            if hex::encode(hasher.finalize()) != *want || n != record.size {
                return Err(corrupted_file(set, &path));
            }
            count += 1;
            bytes += n;
        }
    }
    if let Some(missing) = files.iter().find(|f| !seen.contains(&f.path)) {
        return Err(Error::failed(format!(
            "set {set}: {} is listed in the manifest but missing from the archive",
            missing.path
        )));
    }
    Ok((count, bytes))
}

struct HashSink<'a>(&'a mut Sha256);

impl std::io::Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Restores a files set into `target` through a staging folder; on any failure the target is
/// left exactly as it was.
pub fn restore_files(
    store: &Store,
    id: &SetId,
    manifest: &Manifest,
    keys: &[Key],
    target: &Path,
    only: Option<Vec<String>>,
    control: &Control,
) -> Result<RestoreReport> {
    if manifest.kind != "files" {
        return Err(Error::usage(format!(
            "set {} holds a {} backup, not files",
            id.path(),
            manifest.kind
        )));
    }
    let Some(object) = manifest.objects.first() else {
        return Err(Error::failed(format!("set {} has no objects", id.path())));
    };
    let files = manifest.files.clone();
    let target = target.to_path_buf();
    read_object(
        store,
        id,
        object,
        keys,
        control,
        StreamChecks::Authenticated,
        move |plain| {
            restore_into(
                plain,
                &target,
                &files,
                only.as_deref(),
                std::time::SystemTime::now(),
            )
        },
    )
}
