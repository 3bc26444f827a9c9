//! File archives for backup and restore: pure Rust host primitives, with no Rhai types, no
//! encryption and no compression (those wrap the byte streams these functions read and write).
//!
//! - [`select`](select::select): a [`SourceSpec`] resolved into a sorted list of entries.
//! - [`write_tar`]: entries streamed into a GNU tar, hashed on the way; gives [`FileRecord`]s
//!   for the manifest.
//! - [`extract_to_staging`]: a tar stream checked entry by entry against the manifest and
//!   unpacked into a staging folder, refusing anything unsafe.
//! - [`promote`]: staged files swapped into the target one by one, the previous ones kept
//!   aside, everything rolled back on failure.
//! - [`restore_into`]: staging → extract → promote → cleanup in one call, leaving the target
//!   unchanged and no staging folder behind on any error.
//!
//! Archive paths are relative, `/`-separated, without a leading `/`, `.` or `..` components,
//! backslashes or empty components; [`check_archive_path`] enforces this on both sides.

pub mod extract;
pub mod promote;
pub mod select;
pub mod write;
pub mod writer;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use extract::{extract_to_staging, ExtractStats};
pub use promote::{aside_dir, promote, staging_dir, PromoteReport};
pub use select::{select, EntryKind, LogsSpec, SelectedEntry, Selection, SourceSpec};
pub use write::{write_tar, FileRecord};

use crate::error::{Error, Result};

/// Why `path` is not a safe archive path, or `None` when it is one.
///
/// Refused: empty paths, a leading `/`, empty, `.` or `..` components, backslashes (a separator
/// on Windows), NUL bytes, and anything the platform reads as a drive or prefix (`C:`, `\\?\`),
/// so that joining the path onto a folder can never leave that folder.
pub fn check_archive_path(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("the path is empty");
    }
    if path.starts_with('/') {
        return Some("the path is absolute");
    }
    if path.contains('\\') {
        return Some("the path contains a backslash (a path separator on Windows)");
    }
    if path.contains('\0') {
        return Some("the path contains a NUL byte");
    }
    for comp in path.split('/') {
        match comp {
            "" => return Some("the path has an empty component"),
            "." => return Some("the path has a `.` component"),
            ".." => return Some("the path has a `..` component"),
            _ => {}
        }
        if cfg!(windows) && comp.contains(':') {
            return Some("the path contains `:` (a drive or stream on Windows)");
        }
        let mut parts = Path::new(comp).components();
        let normal = matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        );
        if !normal {
            return Some("the path has a component the system reads as a root or prefix");
        }
    }
    None
}

/// `base` joined with the components of a checked archive path.
pub(crate) fn join_archive_path(base: &Path, archive_path: &str) -> PathBuf {
    let mut out = base.to_path_buf();
    for comp in archive_path.split('/') {
        out.push(comp);
    }
    out
}

/// Whether a link at `link_path` (an archive path) with `target` stays inside the archive root.
///
/// Accepted targets are relative, `/`-separated, and have all their `..` components first
/// (`../../x/y`), climbing no higher than the link's own folder is deep. A `..` after a name is
/// refused even when it would stay inside lexically, because that name may itself be a link,
/// and `..` through a link climbs from wherever the link points.
pub fn link_stays_inside(link_path: &str, target: &str) -> bool {
    if target.is_empty()
        || target.starts_with('/')
        || target.contains('\\')
        || target.contains('\0')
        || (cfg!(windows) && target.contains(':'))
    {
        return false;
    }
    let depth = link_path.split('/').count() - 1;
    let mut climbs = 0;
    let mut seen_name = false;
    for comp in target.split('/') {
        match comp {
            "" | "." => {}
            ".." if seen_name => return false,
            ".." => climbs += 1,
            _ => seen_name = true,
        }
    }
    climbs <= depth
}

/// Whether `path` is selected by `only` (`None` selects everything): equal to an entry of
/// `only`, or inside a folder it names.
pub(crate) fn is_selected(path: &str, only: Option<&[String]>) -> bool {
    match only {
        None => true,
        Some(only) => only.iter().any(|o| {
            let o = o.trim_end_matches('/');
            path == o || (path.starts_with(o) && path.as_bytes().get(o.len()) == Some(&b'/'))
        }),
    }
}

/// What [`restore_into`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// What was unpacked into the staging folder.
    pub extracted: ExtractStats,
    /// What was swapped into the target.
    pub promoted: PromoteReport,
    /// Things the user should know (e.g. a staging folder that could not be removed).
    pub warnings: Vec<String>,
}

/// Restores the tar stream `reader` into `target`: unpacks into a fresh staging folder beside
/// the target, checks everything against `records` (the manifest), then swaps the files into
/// place, keeping replaced ones in [`aside_dir`]`(target, now)`.
///
/// `only` restricts the restore to those archive paths and what is under them. On any error the
/// target tree is left as it was and the staging folder is removed. The reader is read to its
/// end before anything is promoted.
pub fn restore_into<R: Read>(
    reader: R,
    target: &Path,
    records: &[FileRecord],
    only: Option<&[String]>,
    now: SystemTime,
) -> Result<RestoreReport> {
    let target = resolve_target(target)?;
    let parent = target.parent().ok_or_else(|| {
        Error::usage(format!(
            "cannot restore into {}: it has no parent folder for staging",
            target.display()
        ))
        .with_hint("restore into a folder below the filesystem root")
    })?;
    let created_parents = create_missing_dirs(parent)?;
    let staging = staging_dir(&target);
    if let Err(e) = std::fs::create_dir(&staging) {
        remove_created(&created_parents);
        return Err(Error::io(
            format!("creating the staging folder {}", staging.display()),
            e,
        )
        .with_hint("check that the target's parent folder is writable and has free space"));
    }
    let mut aside = aside_dir(&target, now);
    let mut n = 2;
    while std::fs::symlink_metadata(&aside).is_ok() {
        aside = PathBuf::from(format!("{}-{n}", aside_dir(&target, now).display()));
        n += 1;
    }

    let result = (|| {
        let extracted = extract_to_staging(reader, &staging, records, only)?;
        let selected: Vec<FileRecord> = records
            .iter()
            .filter(|r| is_selected(&r.path, only))
            .cloned()
            .collect();
        let promoted = promote(&staging, &target, &selected, &aside)?;
        Ok((extracted, promoted))
    })();

    let cleanup = match std::fs::remove_dir_all(&staging) {
        Ok(()) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(format!(
            "the staging folder {} could not be removed ({e}); delete it by hand",
            staging.display()
        )),
    };
    match result {
        Ok((extracted, promoted)) => Ok(RestoreReport {
            extracted,
            promoted,
            warnings: cleanup.into_iter().collect(),
        }),
        Err(err) => {
            remove_created(&created_parents);
            match cleanup {
                None => Err(err),
                Some(c) => Err(err.context(c)),
            }
        }
    }
}

/// `target` made absolute, following a link at the target itself (so staging is beside the
/// real folder, on the same filesystem).
fn resolve_target(target: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(target)
        .map_err(|e| Error::io(format!("resolving {}", target.display()), e))?;
    match std::fs::symlink_metadata(&abs) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(abs),
        Err(e) => Err(Error::io(format!("reading {}", abs.display()), e)),
        Ok(meta) => {
            let real = if meta.file_type().is_symlink() {
                abs.canonicalize()
                    .map_err(|e| Error::io(format!("following link {}", abs.display()), e))?
            } else {
                abs
            };
            if !real.is_dir() {
                return Err(Error::usage(format!(
                    "cannot restore into {}: it is not a folder",
                    real.display()
                ))
                .with_hint("name the folder the backup should be restored into"));
            }
            Ok(real)
        }
    }
}

/// Creates `dir` and its missing ancestors; returns those created, outermost first.
fn create_missing_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if std::fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    missing.reverse();
    let mut created = Vec::new();
    for d in missing {
        if let Err(e) = std::fs::create_dir(&d) {
            remove_created(&created);
            return Err(Error::io(format!("creating {}", d.display()), e));
        }
        created.push(d);
    }
    Ok(created)
}

fn remove_created(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_are_checked() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a//b",
            "./a",
            "a/",
            "a\\..\\b",
            "a\0b",
        ] {
            assert!(check_archive_path(bad).is_some(), "{bad:?}");
        }
        for good in ["a", "a/b.txt", "..a/b..", "x y/z"] {
            assert_eq!(check_archive_path(good), None, "{good:?}");
        }
    }

    #[test]
    fn link_targets_are_checked() {
        assert!(link_stays_inside("a/b/l", "../../x"));
        assert!(link_stays_inside("a/l", "b/c"));
        assert!(link_stays_inside("l", "./x"));
        assert!(!link_stays_inside("a/l", "../../x"));
        assert!(!link_stays_inside("l", "/etc"));
        assert!(!link_stays_inside("a/b/l", "c/../../x"));
        assert!(!link_stays_inside("l", ""));
    }

    #[test]
    fn only_selects_paths_and_what_is_under_them() {
        let only = vec!["a".to_string(), "c/d/".to_string()];
        let only = Some(only.as_slice());
        assert!(is_selected("a", only));
        assert!(is_selected("a/x", only));
        assert!(!is_selected("ab", only));
        assert!(is_selected("c/d/e", only));
        assert!(!is_selected("c", only));
        assert!(is_selected("anything", None));
    }
}
