//! The manifest of a backup set: what it holds and how to check it. Written last; its presence
//! is what makes a set complete. Parsing is strict (unknown fields, unsafe object names and
//! oversized manifests are refused), because a manifest read from a store is untrusted input.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::host::archive::FileRecord;
use crate::host::compress::Compression;

/// The manifest format this version writes.
pub const MANIFEST_FORMAT: u32 = 1;

/// Manifests larger than this are refused (a sane set of files is far smaller).
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024 * 1024;

/// One stored object of a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRecord {
    /// Object name within the set folder.
    pub name: String,
    /// How its plaintext is compressed.
    pub compression: Compression,
    /// Bytes as stored (encrypted).
    pub stored_size: u64,
    /// SHA-256 of the stored bytes, hex.
    pub stored_sha256: String,
    /// Bytes of the decrypted object (the compressed archive or dump, e.g. `data.tar.zst`).
    pub plain_size: u64,
    /// SHA-256 of the decrypted object, hex: what `runbook decrypt` (or Python tink) produces.
    pub plain_sha256: String,
}

/// Timings of the backup that made the set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    /// RFC 3339 start.
    pub started: String,
    /// RFC 3339 end.
    pub finished: String,
    /// Duration in milliseconds.
    pub duration_ms: u64,
}

/// A backup set's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version.
    pub format: u32,
    /// Set name.
    pub set: String,
    /// Set folder name (`<timestamp>-<host>`).
    pub id: String,
    /// What was backed up: `files` (an archive) or another kind added later.
    pub kind: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Host that made it.
    pub host: String,
    /// `runbook` version that made it.
    pub tool_version: String,
    /// The runbook that made it, if any.
    #[serde(default)]
    pub runbook: Option<String>,
    /// Id of the encryption key (hex); never the key.
    pub key_id: String,
    /// The encrypted objects.
    pub objects: Vec<ObjectRecord>,
    /// Files in the archive, with per-file SHA-256.
    #[serde(default)]
    pub files: Vec<FileRecord>,
    /// For a database set: what the database held at dump time and how it was dumped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<crate::host::postgres::dump::DatabaseRecord>,
    /// Timings.
    pub timings: Timings,
}

impl Manifest {
    /// Parses and checks a manifest read from a store.
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Error::failed(format!(
                "manifest is {} bytes, more than the {MAX_MANIFEST_BYTES} allowed",
                bytes.len()
            )));
        }
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            Error::failed(format!("manifest is not valid: {e}"))
                .with_hint("the set may be damaged or written by a newer runbook; try another set")
        })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(Error::failed(format!(
                "manifest format {} is not supported (this runbook reads format {MANIFEST_FORMAT})",
                manifest.format
            ))
            .with_hint("use the runbook version that wrote the set"));
        }
        for object in &manifest.objects {
            let safe = !object.name.is_empty()
                && object
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !object.name.starts_with('.');
            if !safe || object.name == super::layout::MANIFEST {
                return Err(Error::failed(format!(
                    "manifest names an unsafe object \"{}\"",
                    object.name
                )));
            }
        }
        Ok(manifest)
    }

    /// The manifest as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("manifests serialize")
    }

    /// Total size of the files in the archive.
    pub fn file_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Number of regular files in the archive.
    pub fn file_count(&self) -> usize {
        self.files.iter().filter(|f| f.kind == "file").count()
    }

    /// Total stored bytes.
    pub fn stored_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.stored_size).sum()
    }
}
