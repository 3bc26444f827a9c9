//! Safe extraction of a tar stream into a staging folder, checked against the manifest.
//!
//! Every entry must be a regular file, folder or symbolic link listed in the manifest with the
//! same kind, size and (for files) SHA-256; its path must be a safe archive path
//! ([`check_archive_path`]). Refused, with an error naming the entry:
//!
//! - absolute paths, `..`, backslashes and Windows drive/prefix tricks;
//! - symbolic links whose target leaves the staging root ([`link_stays_inside`]), and any
//!   entry that would be written through a link or a file extracted before (parent folders are
//!   created here, checked with `symlink_metadata`, and files are created with `create_new`,
//!   so no link is ever followed);
//! - **all hard links** (the writer never produces them), device nodes, FIFOs and any other
//!   special entry;
//! - entries missing from the manifest or appearing twice, and a declared size different from
//!   the manifest's, checked before any data is read (so a huge declared size is refused at
//!   once);
//! - content whose SHA-256 differs from the manifest.
//!
//! After the end of the tar, the rest of the stream is read to its end (a decrypting reader
//! verifies its final segment only there) and must be zero padding. Files in the manifest (within
//! `only`) that the archive lacks are an error. File modes (Unix permission bits, without
//! setuid, setgid and sticky bits) and modification times come from the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::path::Path;

use filetime::FileTime;
use sha2::{Digest, Sha256};
use tar::{Archive, EntryType};

use super::write::{FileRecord, KIND_DIR, KIND_FILE, KIND_SYMLINK};
use super::{check_archive_path, is_selected, join_archive_path, link_stays_inside};
use crate::error::{Error, Result};

/// What [`extract_to_staging`] unpacked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Regular files written.
    pub files: u64,
    /// Folders created.
    pub dirs: u64,
    /// Symbolic links created.
    pub symlinks: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Entries passed over because `only` left them out.
    pub skipped: u64,
}

const DAMAGED_HINT: &str = "the backup is damaged or was tampered with, and nothing from it was \
     restored; restore from another backup set";

fn refuse(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::failed(format!("refusing archive entry \"{path}\": {reason}")).with_hint(DAMAGED_HINT)
}

/// Unpacks the tar stream `reader` into the existing folder `staging`, checking each entry
/// against `expected` (the manifest's records); `only` restricts it to those archive paths and
/// what is under them. See the module doc for everything that is refused.
pub fn extract_to_staging<R: Read>(
    reader: R,
    staging: &Path,
    expected: &[FileRecord],
    only: Option<&[String]>,
) -> Result<ExtractStats> {
    let manifest = check_manifest(expected)?;
    if let Some(only) = only {
        for o in only {
            let hit = expected
                .iter()
                .any(|r| is_selected(&r.path, Some(std::slice::from_ref(o))));
            if !hit {
                return Err(
                    Error::usage(format!("nothing in the backup matches \"{o}\""))
                        .with_hint("list the backup's files and name paths as they appear there"),
                );
            }
        }
    }
    let staging_meta = std::fs::symlink_metadata(staging)
        .map_err(|e| Error::io(format!("reading staging folder {}", staging.display()), e))?;
    if !staging_meta.is_dir() {
        return Err(Error::failed(format!(
            "staging folder {} is not a folder",
            staging.display()
        )));
    }

    let writer = super::writer::BackgroundWriter::new(set_mode);
    let mut stats = ExtractStats::default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut dirs: Vec<&FileRecord> = Vec::new();
    let mut archive = Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| Error::io("reading the archive", e).with_hint(DAMAGED_HINT))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| Error::io("reading the archive", e).with_hint(DAMAGED_HINT))?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let path =
            std::str::from_utf8(&raw).map_err(|_| refuse(&shown, "the path is not valid UTF-8"))?;
        let entry_type = entry.header().entry_type();
        // Folders are conventionally stored with a trailing '/'.
        let path = if entry_type == EntryType::Directory {
            path.strip_suffix('/').unwrap_or(path)
        } else {
            path
        };
        if let Some(reason) = check_archive_path(path) {
            return Err(refuse(path, reason));
        }
        let kind = match entry_type {
            EntryType::Regular => KIND_FILE,
            EntryType::Directory => KIND_DIR,
            EntryType::Symlink => KIND_SYMLINK,
            EntryType::Link => return Err(refuse(path, "hard links are not allowed")),
            EntryType::Char | EntryType::Block => {
                return Err(refuse(path, "device nodes are not allowed"))
            }
            EntryType::Fifo => return Err(refuse(path, "FIFOs (named pipes) are not allowed")),
            other => {
                return Err(refuse(
                    path,
                    format!(
                        "special entries (tar type {:?}) are not allowed",
                        other.as_byte() as char
                    ),
                ))
            }
        };
        let record = *manifest
            .get(path)
            .ok_or_else(|| refuse(path, "it is not in the backup's manifest"))?;
        if record.kind != kind {
            return Err(refuse(
                path,
                format!(
                    "it is a {kind} in the archive but a {} in the manifest",
                    record.kind
                ),
            ));
        }
        let declared = entry.size();
        if declared != record.size {
            return Err(refuse(
                path,
                format!(
                    "the archive declares {declared} bytes but the manifest says {}",
                    record.size
                ),
            ));
        }
        if !seen.insert(path.to_owned()) {
            return Err(refuse(path, "it appears twice in the archive"));
        }
        if !is_selected(path, only) {
            stats.skipped += 1;
            continue;
        }

        let dest = join_archive_path(staging, path);
        create_parents(staging, path)?;
        match kind {
            KIND_DIR => {
                match std::fs::symlink_metadata(&dest) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => return Err(refuse(path, "something else is already at its place")),
                    Err(_) => std::fs::create_dir(&dest)
                        .map_err(|e| Error::io(format!("creating {}", dest.display()), e))?,
                }
                dirs.push(record);
                stats.dirs += 1;
            }
            KIND_SYMLINK => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target = String::from_utf8(target)
                    .map_err(|_| refuse(path, "the link target is not valid UTF-8"))?;
                if record.link_target.as_deref() != Some(target.as_str()) {
                    return Err(refuse(
                        path,
                        format!("link target \"{target}\" differs from the manifest's"),
                    ));
                }
                if !link_stays_inside(path, &target) {
                    return Err(refuse(
                        path,
                        format!("link target \"{target}\" leads outside the restored folder"),
                    )
                    .with_hint(
                        "restore the other files with `only`, then recreate this link by hand",
                    ));
                }
                make_symlink(&target, &dest)
                    .map_err(|e| Error::io(format!("creating link {}", dest.display()), e))?;
                set_link_mtime(&dest, record.mtime);
                stats.symlinks += 1;
            }
            _ => {
                let bytes = write_file(&mut entry, &dest, record, &writer)?;
                stats.files += 1;
                stats.bytes += bytes;
            }
        }
    }
    let mut inner = archive.into_inner();
    drain_padding(&mut inner)?;
    writer.close()?;

    let missing: Vec<&str> = expected
        .iter()
        .filter(|r| is_selected(&r.path, only) && !seen.contains(&r.path))
        .map(|r| r.path.as_str())
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).copied().collect();
        let more = if missing.len() > 5 {
            format!(" and {} more", missing.len() - 5)
        } else {
            String::new()
        };
        return Err(Error::failed(format!(
            "{} missing from the archive: {}{more}",
            if missing.len() == 1 {
                "an entry of the manifest is"
            } else {
                "entries of the manifest are"
            },
            shown.join(", ")
        ))
        .with_hint(DAMAGED_HINT));
    }
    // Folder times last, deepest first, once nothing more is written into them.
    for record in dirs.iter().rev() {
        let dest = join_archive_path(staging, &record.path);
        let t = FileTime::from_unix_time(record.mtime, 0);
        let _ = filetime::set_file_mtime(&dest, t);
    }
    Ok(stats)
}

/// The manifest as a map, after checking it is usable.
fn check_manifest(expected: &[FileRecord]) -> Result<BTreeMap<&str, &FileRecord>> {
    let bad = |path: &str, why: &str| {
        Error::failed(format!(
            "the backup's manifest is invalid: entry \"{path}\" {why}"
        ))
        .with_hint(DAMAGED_HINT)
    };
    let mut map = BTreeMap::new();
    for r in expected {
        if let Some(reason) = check_archive_path(&r.path) {
            return Err(bad(&r.path, reason));
        }
        match r.kind.as_str() {
            KIND_FILE if r.sha256.is_none() => return Err(bad(&r.path, "has no SHA-256")),
            KIND_FILE | KIND_DIR | KIND_SYMLINK => {}
            other => return Err(bad(&r.path, &format!("has unknown kind \"{other}\""))),
        }
        if map.insert(r.path.as_str(), r).is_some() {
            return Err(bad(&r.path, "is listed twice"));
        }
    }
    Ok(map)
}

/// Creates the missing parent folders of `path` inside `staging`, refusing to pass through
/// anything that is not a real folder (a link or a file extracted earlier).
fn create_parents(staging: &Path, path: &str) -> Result<()> {
    let comps: Vec<&str> = path.split('/').collect();
    let mut cur = staging.to_path_buf();
    for (i, comp) in comps[..comps.len() - 1].iter().enumerate() {
        cur.push(comp);
        match std::fs::symlink_metadata(&cur) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) => {
                let what = if meta.file_type().is_symlink() {
                    "a link"
                } else {
                    "a file"
                };
                return Err(refuse(
                    path,
                    format!(
                        "it would be written through {}, which is {what}",
                        comps[..=i].join("/")
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&cur)
                .map_err(|e| Error::io(format!("creating {}", cur.display()), e))?,
            Err(e) => return Err(Error::io(format!("reading {}", cur.display()), e)),
        }
    }
    Ok(())
}

/// Streams one file entry into `dest` (which must not exist), checking size and SHA-256.
/// The file is created here; its bytes are written by `writer` on another thread.
fn write_file(
    entry: &mut impl Read,
    dest: &Path,
    record: &FileRecord,
    writer: &super::writer::BackgroundWriter,
) -> Result<u64> {
    let path = record.path.as_str();
    let file = match OpenOptions::new().write(true).create_new(true).open(dest) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(refuse(
                path,
                "something is already at its place (a link or a folder)",
            ))
        }
        Err(e) => return Err(Error::io(format!("creating {}", dest.display()), e)),
    };
    writer.start(file, dest.to_path_buf())?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        let mut buf = writer.buffer();
        let mut filled = 0;
        while filled < buf.len() {
            let n = entry.read(&mut buf[filled..]).map_err(|e| {
                Error::io(format!("reading {path} from the archive"), e).with_hint(DAMAGED_HINT)
            })?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        buf.truncate(filled);
        hasher.update(&buf);
        total += filled as u64;
        writer.data(buf)?;
    }
    if total != record.size {
        return Err(refuse(
            path,
            format!(
                "the archive ends after {total} of its {} bytes",
                record.size
            ),
        ));
    }
    let actual = hex::encode(hasher.finalize());
    let wanted = record.sha256.as_deref().unwrap_or_default();
    if !actual.eq_ignore_ascii_case(wanted) {
        return Err(refuse(
            path,
            format!("its content differs from the manifest (SHA-256 {actual}, expected {wanted})"),
        ));
    }
    // No fsync per file: it made restores several times slower for no gain — a crash before
    // promotion leaves only staging to throw away, and the restore is simply run again.
    writer.finish(record.mode, record.mtime)?;
    Ok(total)
}

/// Reads what follows the end of the tar to its end; it must be zero padding.
fn drain_padding(reader: &mut impl Read) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| Error::io("reading the end of the archive", e).with_hint(DAMAGED_HINT))?;
        if n == 0 {
            return Ok(());
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(
                Error::failed("unexpected data after the end of the archive")
                    .with_hint(DAMAGED_HINT),
            );
        }
    }
}

#[cfg(unix)]
fn set_mode(dest: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode & 0o777))
        .map_err(|e| Error::io(format!("setting the mode of {}", dest.display()), e))
}

#[cfg(not(unix))]
fn set_mode(dest: &Path, mode: u32) -> Result<()> {
    if mode & 0o200 == 0 {
        let mut perms = std::fs::metadata(dest)
            .map_err(|e| Error::io(format!("reading {}", dest.display()), e))?
            .permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(dest, perms)
            .map_err(|e| Error::io(format!("setting the mode of {}", dest.display()), e))?;
    }
    Ok(())
}

#[cfg(unix)]
fn make_symlink(target: &str, dest: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, dest)
}

#[cfg(windows)]
fn make_symlink(target: &str, dest: &Path) -> io::Result<()> {
    let resolved = dest.parent().unwrap_or(Path::new(".")).join(target);
    if resolved.is_dir() {
        std::os::windows::fs::symlink_dir(target, dest)
    } else {
        std::os::windows::fs::symlink_file(target, dest)
    }
}

#[cfg(not(any(unix, windows)))]
fn make_symlink(_target: &str, _dest: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "symbolic links are not supported on this system",
    ))
}

fn set_link_mtime(dest: &Path, mtime: i64) {
    let t = FileTime::from_unix_time(mtime, 0);
    let _ = filetime::set_symlink_file_times(dest, t, t);
}
