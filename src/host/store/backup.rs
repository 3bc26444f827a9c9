//! Writing a backup set: source → tar → compression → encryption → SHA-256 → upload, every
//! stage streaming through bounded buffers; the manifest is written last.
//!
//! The synchronous stages run on a worker thread and hand chunks through a bounded channel to
//! the upload on the async runtime. The upload is committed only when the worker finished
//! cleanly; any failure aborts it, so an interrupted backup leaves no complete set.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::Utc;
use object_store::WriteMultipart;

use super::backend::{Backend, UPLOAD_CONCURRENCY};
use super::bridge::{self, ChannelWriter};
use super::layout::{SetId, MANIFEST};
use super::manifest::{Manifest, ObjectRecord, Timings, MANIFEST_FORMAT};
use super::Store;
use crate::context::control::Control;
use crate::error::{Error, Result};
use crate::host::archive::{write_tar, Selection};
use crate::host::compress::Compression;
use crate::host::crypto::{EncryptingWriter, Key};
use crate::host::digest::HashingWriter;
use crate::host::runtime::block_on;

/// Settings of a backup.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Compression of the archive.
    pub compression: Compression,
    /// The runbook making the backup.
    pub runbook: Option<String>,
    /// The host name recorded in the set id.
    pub host: String,
}

/// An object about to be written into a set.
pub struct NewObject<'a> {
    /// Its name within the set folder.
    pub name: &'a str,
    /// Compression of its plaintext.
    pub compression: Compression,
    /// Plaintext bytes expected, when known (for the progress bar).
    pub plain_total: Option<u64>,
}

/// One encrypted object written into a set, with what its producer returned.
pub struct Written<T> {
    /// The object's manifest record.
    pub record: ObjectRecord,
    /// What the producer returned (e.g. the archive's file list).
    pub output: T,
}

/// Runs the synchronous stages on a worker thread: the producer writes plaintext, which flows
/// through compression → [plain SHA-256] → encryption → [stored SHA-256] → `out`. The plain
/// checksum covers the decrypted object (e.g. the compressed archive): what `runbook decrypt`
/// writes, so it can be checked with `sha256sum` during a manual recovery.
fn produce<T>(
    key: &Key,
    compression: Compression,
    out: ChannelWriter,
    plain_done: &AtomicU64,
    producer: impl FnOnce(&mut dyn Write, &dyn Fn(u64)) -> Result<T>,
) -> Result<(ChannelWriter, T, ObjectSums)> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| Error::io(&what, e)
    };
    let stored = HashingWriter::new(out);
    let encrypted = EncryptingWriter::new(stored, key).map_err(io("starting encryption"))?;
    let plain = HashingWriter::new(encrypted);
    let mut compressed = compression.compressor(plain)?;
    let output = producer(&mut compressed, &|n| {
        plain_done.fetch_add(n, Ordering::Relaxed);
    })?;
    let plain = compressed.finish().map_err(io("finishing compression"))?;
    let (encrypted, plain_sha256, plain_size) = plain.finish();
    let stored = encrypted.finish().map_err(io("finishing encryption"))?;
    let (mut out, stored_sha256, stored_size) = stored.finish();
    out.flush().map_err(io("flushing"))?;
    Ok((
        out,
        output,
        ObjectSums {
            plain_sha256,
            plain_size,
            stored_sha256,
            stored_size,
        },
    ))
}

/// Checksums and sizes of one written object.
struct ObjectSums {
    plain_sha256: String,
    plain_size: u64,
    stored_sha256: String,
    stored_size: u64,
}

/// Uploads chunks from `rx` until the channel closes; returns the unfinished upload.
async fn upload_chunks(
    backend: &Backend,
    relative: &str,
    mut rx: tokio::sync::mpsc::Receiver<bridge::Chunk>,
    control: &Control,
    plain_done: &AtomicU64,
    plain_total: Option<u64>,
) -> Result<WriteMultipart> {
    let mut upload = backend.start_upload(relative).await?;
    let mut transfer = control.transfer(&format!("backup {relative}"), plain_total);
    let mut shown = 0;
    while let Some(chunk) = rx.recv().await {
        let step = async {
            control.check()?;
            let bytes = chunk.map_err(|e| Error::io("reading the source", e))?;
            upload
                .wait_for_capacity(UPLOAD_CONCURRENCY)
                .await
                .map_err(|e| backend.upload_error(relative, e))?;
            upload.put(bytes);
            Ok::<(), Error>(())
        };
        if let Err(e) = step.await {
            let _ = upload.abort().await;
            return Err(e);
        }
        let done = plain_done.load(Ordering::Relaxed);
        transfer.advance(done.saturating_sub(shown));
        shown = done;
    }
    Ok(upload)
}

/// Writes one encrypted object `object` into the set `id`. `producer` runs on a worker thread
/// and writes the plaintext (reporting plaintext bytes for the progress bar, whose total is
/// `plain_total` when known); the upload is committed only if the producer succeeded, and
/// aborted otherwise, so a failed source never leaves a finished object behind.
pub fn write_object<T: Send + 'static>(
    store: &Store,
    id: &SetId,
    object: &NewObject,
    key: &Key,
    control: &Control,
    producer: impl FnOnce(&mut dyn Write, &dyn Fn(u64)) -> Result<T> + Send + 'static,
) -> Result<Written<T>> {
    let relative = format!("{}/{}", id.path(), object.name);
    let compression = object.compression;
    let backend = store.backend();
    let (tx, rx) = bridge::channel();
    let plain_done = Arc::new(AtomicU64::new(0));
    let worker = {
        let key = key.clone();
        let plain_done = plain_done.clone();
        std::thread::spawn(move || {
            let out = ChannelWriter::new(tx);
            produce(&key, compression, out, &plain_done, producer).map(|(out, output, sums)| {
                let _ = out.finish();
                (output, sums)
            })
        })
    };
    let uploaded = block_on(upload_chunks(
        backend,
        &relative,
        rx,
        control,
        &plain_done,
        object.plain_total,
    ));
    let produced = worker
        .join()
        .unwrap_or_else(|_| Err(Error::failed("the backup worker crashed")));
    let (upload, (output, sums)) = match (uploaded, produced) {
        (Ok(upload), Ok(produced)) => (upload, produced),
        (Ok(upload), Err(e)) => {
            let _ = block_on(upload.abort());
            return Err(e);
        }
        (Err(e), _) => return Err(e),
    };
    block_on(upload.finish()).map_err(|e| backend.upload_error(&relative, e))?;
    Ok(Written {
        record: ObjectRecord {
            name: object.name.to_string(),
            compression,
            stored_size: sums.stored_size,
            stored_sha256: sums.stored_sha256,
            plain_size: sums.plain_size,
            plain_sha256: sums.plain_sha256,
        },
        output,
    })
}

/// Backs up `selection` as a new set called `name`, encrypted with `key`.
pub fn backup_files(
    store: &Store,
    name: &str,
    selection: &Selection,
    key: &Key,
    options: &BackupOptions,
    control: &Control,
) -> Result<Manifest> {
    let started = Utc::now();
    let id = store.new_set_id(name, &options.host)?;
    let object = format!("data.tar.{}.rbk", options.compression.extension());
    let written = {
        let selection = selection.clone();
        write_object(
            store,
            &id,
            &NewObject {
                name: &object,
                compression: options.compression,
                plain_total: Some(selection.bytes),
            },
            key,
            control,
            move |out, progress| {
                let (_, files) = write_tar(&selection, out, &mut |n| progress(n))?;
                Ok(files)
            },
        )
        .map_err(|e| e.context(format!("backup of \"{name}\" stopped")))?
    };
    let mut manifest = new_manifest(&id, "files", key, options, started);
    manifest.objects.push(written.record);
    manifest.files = written.output;
    finish_timings(&mut manifest, started);
    write_manifest(store.backend(), &id, &manifest)?;
    Ok(manifest)
}

/// A manifest for a new set of `kind`, without objects yet.
pub fn new_manifest(
    id: &SetId,
    kind: &str,
    key: &Key,
    options: &BackupOptions,
    started: chrono::DateTime<Utc>,
) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT,
        set: id.name.clone(),
        id: id.dir(),
        kind: kind.into(),
        created: id.created.to_rfc3339(),
        host: id.host.clone(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        runbook: options.runbook.clone(),
        key_id: hex::encode(key.id().as_bytes()),
        objects: Vec::new(),
        files: Vec::new(),
        database: None,
        timings: Timings {
            started: started.to_rfc3339(),
            finished: String::new(),
            duration_ms: 0,
        },
    }
}

/// Stamps the end of the backup into the manifest's timings.
pub fn finish_timings(manifest: &mut Manifest, started: chrono::DateTime<Utc>) {
    let finished = Utc::now();
    manifest.timings.finished = finished.to_rfc3339();
    manifest.timings.duration_ms = (finished - started).num_milliseconds().max(0) as u64;
}

/// Writes the manifest: the last object of a set, which makes it complete. Written with a
/// conditional create where the store supports it, so a manifest is never overwritten.
pub fn write_manifest(backend: &Backend, id: &SetId, manifest: &Manifest) -> Result<()> {
    let relative = format!("{}/{MANIFEST}", id.path());
    if block_on(backend.put_if_absent(&relative, manifest.to_bytes()))? {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "{} already has a manifest: another backup wrote the same set id",
            backend.describe(&id.path())
        ))
        .with_hint("two hosts with the same name backed up at the same second; give each host its own name and run again"))
    }
}
