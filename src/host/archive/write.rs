//! Streaming tar writer: turns a [`Selection`] into a GNU tar stream, hashing every file with
//! SHA-256 on the way, and returns the [`FileRecord`]s that go into the backup manifest.
//!
//! Files are streamed in bounded chunks, never read whole into memory.
//!
//! **Files changing while being read.** tar writes a file's size in its header before its data,
//! so the data must have exactly that size. If a file's length differs from what the selection
//! saw (it shrank or grew meanwhile), or it stops being a regular file, [`write_tar`] fails
//! with an error naming the file; the output written so far is then incomplete and must be
//! discarded (the backup is not finished, and no manifest is written for it). A file whose
//! content changes without changing size is archived as read, and its recorded SHA-256 is that
//! of the bytes in the archive, so the archive always verifies against its manifest.

use std::fs::File;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tar::{Builder, EntryType, Header};

use super::select::{EntryKind, SelectedEntry, Selection};
use crate::error::{Error, Result};

/// One archived entry, as recorded in the backup manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Archive path: relative, `/`-separated, no leading `/`, no `..`.
    pub path: String,
    /// `"file"`, `"dir"` or `"symlink"`.
    pub kind: String,
    /// Size in bytes (0 for folders and links).
    pub size: u64,
    /// SHA-256 of the content, lowercase hex; files only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    /// The link's target; links only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
}

/// `FileRecord::kind` of a regular file.
pub const KIND_FILE: &str = "file";
/// `FileRecord::kind` of a folder.
pub const KIND_DIR: &str = "dir";
/// `FileRecord::kind` of a symbolic link.
pub const KIND_SYMLINK: &str = "symlink";

/// Writes `selection` as a GNU tar stream into `out` and returns `out` with the records.
///
/// `progress` is called with the number of file bytes just added, as they are added. Long paths
/// and link targets use GNU long-name entries. Owners are not recorded (uid/gid 0). See the
/// module doc for what happens when a file changes while it is read.
pub fn write_tar<W: Write>(
    selection: &Selection,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<(W, Vec<FileRecord>)> {
    let mut builder = Builder::new(out);
    let mut records = Vec::with_capacity(selection.entries.len());
    for entry in &selection.entries {
        records.push(append_entry(&mut builder, entry, progress)?);
    }
    let out = builder
        .into_inner()
        .map_err(|e| Error::io("finishing the tar stream", e))?;
    Ok((out, records))
}

fn base_header(entry: &SelectedEntry, kind: EntryType, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(entry.mode);
    header.set_mtime(entry.mtime.max(0) as u64);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn append_entry<W: Write>(
    builder: &mut Builder<W>,
    entry: &SelectedEntry,
    progress: &mut dyn FnMut(u64),
) -> Result<FileRecord> {
    let path = entry.archive_path.as_str();
    let writing = |e: io::Error| Error::io(format!("writing {path} to the archive"), e);
    let mut record = FileRecord {
        path: path.to_owned(),
        kind: String::new(),
        size: 0,
        sha256: None,
        mode: entry.mode,
        mtime: entry.mtime,
        link_target: None,
    };
    match &entry.kind {
        EntryKind::Dir => {
            let mut header = base_header(entry, EntryType::Directory, 0);
            builder
                .append_data(&mut header, path, io::empty())
                .map_err(writing)?;
            record.kind = KIND_DIR.into();
        }
        EntryKind::Symlink { target } => {
            let mut header = base_header(entry, EntryType::Symlink, 0);
            builder
                .append_link(&mut header, path, target)
                .map_err(writing)?;
            record.kind = KIND_SYMLINK.into();
            record.link_target = Some(target.clone());
        }
        EntryKind::File { size } => {
            let size = *size;
            let changed = |what: &str| {
                Error::failed(format!(
                    "{} ({path}) {what} while it was being backed up",
                    entry.source.display()
                ))
                .with_hint(
                    "stop whatever writes to it (or snapshot it first) and run the backup again",
                )
            };
            // Checked before opening, so a file replaced by a pipe cannot block the backup.
            let now_is_file = std::fs::symlink_metadata(&entry.source)
                .map_err(|e| Error::io(format!("reading {}", entry.source.display()), e))?
                .is_file();
            if !now_is_file {
                return Err(changed("stopped being a regular file"));
            }
            let file = File::open(&entry.source)
                .map_err(|e| Error::io(format!("opening {}", entry.source.display()), e))?;
            let meta = file
                .metadata()
                .map_err(|e| Error::io(format!("reading {}", entry.source.display()), e))?;
            if !meta.is_file() {
                return Err(changed("stopped being a regular file"));
            }
            if meta.len() != size {
                return Err(changed(&format!(
                    "changed size from {size} to {} bytes",
                    meta.len()
                )));
            }
            let mut reader = HashingReader {
                inner: file,
                remaining: size,
                hasher: Sha256::new(),
                progress,
                short: false,
            };
            let mut header = base_header(entry, EntryType::Regular, size);
            let result = builder.append_data(&mut header, path, &mut reader);
            if reader.short {
                return Err(changed("shrank"));
            }
            result.map_err(writing)?;
            let mut probe = [0u8; 1];
            let extra = reader
                .inner
                .read(&mut probe)
                .map_err(|e| Error::io(format!("reading {}", entry.source.display()), e))?;
            if extra != 0 {
                return Err(changed("grew"));
            }
            record.kind = KIND_FILE.into();
            record.size = size;
            record.sha256 = Some(hex::encode(reader.hasher.finalize()));
        }
    }
    Ok(record)
}

/// Reads exactly `remaining` bytes from `inner`, hashing them and reporting progress; running
/// out early is an error (the tar header already promised the size).
struct HashingReader<'a> {
    inner: File,
    remaining: u64,
    hasher: Sha256,
    progress: &'a mut dyn FnMut(u64),
    short: bool,
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            self.short = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being read",
            ));
        }
        self.remaining -= n as u64;
        self.hasher.update(&buf[..n]);
        (self.progress)(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::{select, SourceSpec};
    use super::*;
    use std::path::PathBuf;
    use std::time::SystemTime;

    #[test]
    fn records_hash_and_progress() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("d/e")).unwrap();
        std::fs::write(r.join("d/f.txt"), "hello").unwrap();
        let long = "x".repeat(150);
        std::fs::write(r.join("d/e").join(&long), vec![7u8; 70_000]).unwrap();
        let spec = SourceSpec {
            root: Some(r.to_path_buf()),
            paths: vec![PathBuf::from("d")],
            ..Default::default()
        };
        let sel = select(&spec, SystemTime::now()).unwrap();
        let mut seen = 0;
        let (out, records) = write_tar(&sel, Vec::new(), &mut |n| seen += n).unwrap();
        assert_eq!(seen, 70_005);
        let kinds: Vec<_> = records.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["dir", "dir", "file", "file"]);
        assert_eq!(
            records[3].sha256.as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        assert_eq!(records[2].path, format!("d/e/{long}"));
        // The tar crate reads it back, long name included.
        let mut ar = tar::Archive::new(out.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&format!("d/e/{long}")), "{names:?}");
    }

    #[test]
    fn a_file_that_changed_size_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::write(r.join("grow.log"), "abc").unwrap();
        let spec = SourceSpec {
            root: Some(r.to_path_buf()),
            paths: vec![PathBuf::from("grow.log")],
            ..Default::default()
        };
        let sel = select(&spec, SystemTime::now()).unwrap();
        std::fs::write(r.join("grow.log"), "abcdef").unwrap();
        let err = write_tar(&sel, Vec::new(), &mut |_| {}).unwrap_err();
        assert!(err.message().contains("grow.log"), "{err}");
        assert!(err.message().contains("changed size"), "{err}");
    }
}
