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
use crate::host::archive::{write_tar, FileRecord, Selection};
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

/// What the worker thread produced.
struct Produced {
    files: Vec<FileRecord>,
    plain_sha256: String,
    plain_size: u64,
    stored_sha256: String,
    stored_size: u64,
}

/// Runs the synchronous stages, writing into `out`.
fn produce(
    selection: &Selection,
    key: &Key,
    compression: Compression,
    out: ChannelWriter,
    plain_done: &AtomicU64,
) -> Result<(ChannelWriter, Produced)> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| Error::io(&what, e)
    };
    // tar → compression → [plain SHA-256] → encryption → [stored SHA-256] → channel. The plain
    // checksum covers the decrypted object (the compressed archive): what `runbook decrypt`
    // writes, so it can be checked with `sha256sum` during a manual recovery.
    let stored = HashingWriter::new(out);
    let encrypted = EncryptingWriter::new(stored, key).map_err(io("starting encryption"))?;
    let plain = HashingWriter::new(encrypted);
    let compressed = compression.compressor(plain)?;
    let (compressed, files) = write_tar(selection, compressed, &mut |n| {
        plain_done.fetch_add(n, Ordering::Relaxed);
    })?;
    let plain = compressed.finish().map_err(io("finishing compression"))?;
    let (encrypted, plain_sha256, plain_size) = plain.finish();
    let stored = encrypted.finish().map_err(io("finishing encryption"))?;
    let (mut out, stored_sha256, stored_size) = stored.finish();
    out.flush().map_err(io("flushing"))?;
    Ok((
        out,
        Produced {
            files,
            plain_sha256,
            plain_size,
            stored_sha256,
            stored_size,
        },
    ))
}

/// Uploads chunks from `rx` until the channel closes; returns the unfinished upload.
async fn upload_chunks(
    backend: &Backend,
    relative: &str,
    mut rx: tokio::sync::mpsc::Receiver<bridge::Chunk>,
    control: &Control,
    plain_done: &AtomicU64,
    plain_total: u64,
) -> Result<WriteMultipart> {
    let mut upload = backend.start_upload(relative).await?;
    let mut transfer = control.transfer(&format!("backup {relative}"), Some(plain_total));
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
    let relative = format!("{}/{object}", id.path());
    let backend = store.backend();

    let (tx, rx) = bridge::channel();
    let plain_done = Arc::new(AtomicU64::new(0));
    let worker = {
        let selection = selection.clone();
        let key = key.clone();
        let compression = options.compression;
        let plain_done = plain_done.clone();
        std::thread::spawn(move || {
            let out = ChannelWriter::new(tx);
            produce(&selection, &key, compression, out, &plain_done).map(|(out, produced)| {
                let _ = out.finish();
                produced
            })
        })
    };
    let uploaded = block_on(upload_chunks(
        backend,
        &relative,
        rx,
        control,
        &plain_done,
        selection.bytes,
    ));
    let produced = worker
        .join()
        .unwrap_or_else(|_| Err(Error::failed("the backup worker crashed")));
    let upload = match (uploaded, produced) {
        (Ok(upload), Ok(produced)) => (upload, produced),
        (Ok(upload), Err(e)) => {
            let _ = block_on(upload.abort());
            return Err(e.context(format!("backup of \"{name}\" stopped")));
        }
        (Err(e), _) => return Err(e.context(format!("backup of \"{name}\" stopped"))),
    };
    let (upload, produced) = upload;
    block_on(upload.finish()).map_err(|e| {
        backend
            .upload_error(&relative, e)
            .context(format!("backup of \"{name}\" stopped"))
    })?;

    let finished = Utc::now();
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        set: name.to_string(),
        id: id.dir(),
        kind: "files".into(),
        created: id.created.to_rfc3339(),
        host: id.host.clone(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        runbook: options.runbook.clone(),
        key_id: hex::encode(key.id().as_bytes()),
        objects: vec![ObjectRecord {
            name: object,
            compression: options.compression,
            stored_size: produced.stored_size,
            stored_sha256: produced.stored_sha256,
            plain_size: produced.plain_size,
            plain_sha256: produced.plain_sha256,
        }],
        files: produced.files,
        timings: Timings {
            started: started.to_rfc3339(),
            finished: finished.to_rfc3339(),
            duration_ms: (finished - started).num_milliseconds().max(0) as u64,
        },
    };
    write_manifest(backend, &id, &manifest)?;
    Ok(manifest)
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
