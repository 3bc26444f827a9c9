//! Reading a backup set back: download → SHA-256 check → decrypt → decompress → tar, either
//! checked without writing anything ([`verify`]) or restored through a staging folder
//! ([`restore_files`]).
//!
//! The download runs on the async runtime and feeds a bounded channel; the synchronous stages run
//! on a worker thread. A stored-checksum mismatch is sent down the channel as an error before the
//! stream ends, and decryption verifies the final segment only at the very end, so extraction
//! fails — and nothing is promoted — unless every byte checked out.

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

/// Streams one object of a set into a synchronous consumer. Three stages run at once: the
/// download (async runtime), decryption and decompression (a worker thread), and the consumer
/// (another worker thread), joined by bounded channels.
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
    let (tx, rx) = bridge::channel();
    let (plain_tx, plain_rx) = bridge::channel();
    let decrypter = {
        let keys = keys.to_vec();
        let compression = object.compression;
        let expected_plain = object.plain_sha256.clone();
        let where_ = where_.clone();
        std::thread::spawn(move || -> Result<()> {
            let mut out = ChannelWriter::new(plain_tx);
            let run = |out: &mut ChannelWriter| -> Result<()> {
                let decrypted = DecryptingReader::new(ChannelReader::new(rx), &keys)
                    .map_err(|e| Error::failed(format!("{where_}: {e}")))?;
                let mut plain = HashingReader::new(decrypted);
                {
                    let mut decompressed = compression.decompressor(&mut plain)?;
                    std::io::copy(&mut decompressed, out)
                        .map_err(|e| Error::failed(format!("{where_}: {e}")))?;
                }
                std::io::copy(&mut plain, &mut std::io::sink())
                    .map_err(|e| Error::failed(format!("{where_}: {e}")))?;
                if checks == StreamChecks::Full && plain.digest().0 != expected_plain {
                    return Err(Error::failed(format!(
                        "{where_}: the decrypted object does not match the manifest checksum"
                    )));
                }
                Ok(())
            };
            match run(&mut out) {
                Ok(()) => out
                    .finish()
                    .map_err(|e| Error::failed(format!("{where_}: {e}"))),
                Err(e) => {
                    out.fail(std::io::Error::other(e.message().to_string()));
                    Err(e)
                }
            }
        })
    };
    let consumer = std::thread::spawn(move || -> Result<T> {
        let mut plain = ChannelReader::new(plain_rx);
        consume(&mut plain)
    });
    let mut transfer = control.transfer(&format!("read {relative}"), Some(object.stored_size));
    // `tx` moves into the download so the channel closes when it ends.
    let downloaded: Result<()> = block_on(async move {
        let mut stream = backend.get_stream(&relative).await?;
        let mut hasher = (checks == StreamChecks::Full).then(Sha256::new);
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            control.check()?;
            let chunk = chunk.map_err(|e| Error::failed(format!("reading {where_}: {e}")))?;
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            size += chunk.len() as u64;
            transfer.advance(chunk.len() as u64);
            if tx.send(Ok(chunk)).await.is_err() {
                // A later stage stopped early; its error explains why.
                return Ok(());
            }
        }
        let sha_differs = hasher.is_some_and(|h| hex::encode(h.finalize()) != object.stored_sha256);
        if sha_differs || size != object.stored_size {
            let msg = format!(
                "stored object {where_} is corrupted: its SHA-256 or size differs from the manifest"
            );
            let _ = tx.send(Err(std::io::Error::other(msg.clone()))).await;
            return Err(Error::failed(msg).with_hint(
                "restore from another set (`store.list(name)`), and check the storage for damage",
            ));
        }
        Ok(())
    });
    let decrypted = decrypter
        .join()
        .unwrap_or_else(|_| Err(Error::failed("the decryption worker crashed")));
    let consumed = consumer
        .join()
        .unwrap_or_else(|_| Err(Error::failed("the restore worker crashed")));
    // Report the root cause: a failed download first (it never fails because of a later stage);
    // then a decryption error, unless it only says the consumer stopped (which has the reason).
    match (downloaded, decrypted, consumed) {
        (Err(e), _, _) => Err(e),
        (Ok(()), Err(e), Err(consumer)) if e.message().contains(bridge::RECEIVER_GONE) => {
            Err(consumer)
        }
        (Ok(()), Err(e), _) => Err(e),
        (Ok(()), Ok(()), result) => result,
    }
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
