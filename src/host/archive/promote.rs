//! Swapping staged files into the target folder, one by one, with rollback.
//!
//! The target folder may hold files the backup does not cover; they stay. For each record, in
//! path order (folders before what they hold): whatever is at the target path is moved into the
//! aside folder at the same relative path, then the staged file or link is renamed into place.
//! Folders are created (an existing folder is kept as it is). Staging must be on the same
//! filesystem as the target, so each rename is atomic: [`staging_dir`] gives a sibling.
//!
//! A non-empty folder where the backup has a file or link, and a file or link where the backup
//! needs a parent folder it does not itself record, are errors (the folder may hold files the
//! backup does not cover): promotion stops, everything done so far is undone in reverse
//! order, and the target is exactly as before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use filetime::FileTime;

use super::join_archive_path;
use super::write::{FileRecord, KIND_DIR};
use crate::error::{Error, Result};

/// What [`promote`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromoteReport {
    /// Files and links moved into the target.
    pub placed: u64,
    /// Folders created in the target.
    pub dirs_created: u64,
    /// Archive paths of the previous entries moved into the aside folder.
    pub moved_aside: Vec<String>,
    /// The aside folder, when something was moved there.
    pub aside: Option<PathBuf>,
    /// Things the user should know (e.g. a folder time that could not be set).
    pub warnings: Vec<String>,
}

/// `<target>.restore-staging-<random>`: a fresh staging folder name beside `target`.
pub fn staging_dir(target: &Path) -> PathBuf {
    let mut bytes = [0u8; 6];
    // Only uniqueness matters here; fall back to the time and pid if no randomness is at hand.
    let random = match getrandom::fill(&mut bytes) {
        Ok(()) => hex::encode(bytes),
        Err(_) => format!(
            "{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ),
    };
    sibling(target, &format!(".restore-staging-{random}"))
}

/// `<target>.pre-restore-<YYYYMMDDTHHMMSSZ>`: where replaced files are kept.
pub fn aside_dir(target: &Path, now: SystemTime) -> PathBuf {
    let stamp = chrono::DateTime::<chrono::Utc>::from(now).format("%Y%m%dT%H%M%SZ");
    sibling(target, &format!(".pre-restore-{stamp}"))
}

fn sibling(target: &Path, suffix: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "restore".to_owned());
    let parent = target.parent().unwrap_or(target);
    parent.join(format!("{name}{suffix}"))
}

/// One step done, and how to undo it.
enum Done {
    CreatedDir(PathBuf),
    MovedAside { original: PathBuf, aside: PathBuf },
    Placed { staged: PathBuf, placed: PathBuf },
}

/// Moves the staged entries of `records` from `staging` into `target`, keeping whatever they
/// replace under `aside` (created only if needed; it must not exist yet). On failure everything
/// is undone and the error says what failed (and, if undoing failed too, what is left where).
pub fn promote(
    staging: &Path,
    target: &Path,
    records: &[FileRecord],
    aside: &Path,
) -> Result<PromoteReport> {
    if std::fs::symlink_metadata(aside).is_ok() {
        return Err(Error::failed(format!(
            "the folder for replaced files, {}, already exists",
            aside.display()
        ))
        .with_hint("move it away, or wait a second and restore again"));
    }
    let mut sorted: Vec<&FileRecord> = records.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));

    let mut done = Vec::new();
    let mut report = PromoteReport::default();
    match promote_all(staging, target, &sorted, aside, &mut done, &mut report) {
        Ok(()) => {
            // Folder modes and times last, deepest first, once nothing more goes into them.
            let by_dest: HashMap<PathBuf, &FileRecord> = sorted
                .iter()
                .map(|r| (join_archive_path(target, &r.path), *r))
                .collect();
            for step in done.iter().rev() {
                if let Done::CreatedDir(dir) = step {
                    if let Some(record) = by_dest.get(dir) {
                        if let Err(e) = set_dir_attrs(dir, record) {
                            report.warnings.push(format!(
                                "could not set the mode or time of {}: {e}",
                                dir.display()
                            ));
                        }
                    }
                }
            }
            if !report.moved_aside.is_empty() {
                report.aside = Some(aside.to_path_buf());
            }
            Ok(report)
        }
        Err(err) => {
            let failures = undo(done);
            if failures.is_empty() {
                Err(err.context("restore rolled back, the target is unchanged"))
            } else {
                Err(Error::failed(format!(
                    "{}; undoing the restore also failed: {}",
                    err.message(),
                    failures.join("; ")
                ))
                .with_hint(format!(
                    "the previous files that could not be put back are in {}; move them back by hand",
                    aside.display()
                )))
            }
        }
    }
}

fn promote_all(
    staging: &Path,
    target: &Path,
    records: &[&FileRecord],
    aside: &Path,
    done: &mut Vec<Done>,
    report: &mut PromoteReport,
) -> Result<()> {
    match std::fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(Error::usage(format!(
                "cannot restore into {}: it is not a folder",
                target.display()
            ))
            .with_hint("name the folder the backup should be restored into"))
        }
        Err(_) => {
            create_dir(target, done)?;
            report.dirs_created += 1;
        }
    }
    for record in records {
        let path = record.path.as_str();
        let dest = join_archive_path(target, path);
        report.dirs_created += ensure_parents(target, path, done)?;
        let existing = std::fs::symlink_metadata(&dest).ok();
        if record.kind == KIND_DIR {
            match existing {
                Some(meta) if meta.is_dir() => {}
                Some(_) => {
                    move_aside(&dest, aside, path, done)?;
                    report.moved_aside.push(path.to_owned());
                    create_dir(&dest, done)?;
                    report.dirs_created += 1;
                }
                None => {
                    create_dir(&dest, done)?;
                    report.dirs_created += 1;
                }
            }
            continue;
        }
        if let Some(meta) = existing {
            if meta.is_dir() {
                let empty = std::fs::read_dir(&dest)
                    .map_err(|e| Error::io(format!("reading {}", dest.display()), e))?
                    .next()
                    .is_none();
                if !empty {
                    return Err(Error::failed(format!(
                        "{} is a folder with files in it, but the backup has a {} there",
                        dest.display(),
                        record.kind
                    ))
                    .with_hint("move that folder elsewhere yourself, then restore again"));
                }
            }
            move_aside(&dest, aside, path, done)?;
            report.moved_aside.push(path.to_owned());
        }
        let staged = join_archive_path(staging, path);
        std::fs::rename(&staged, &dest).map_err(|e| {
            Error::io(
                format!(
                    "moving {} into place at {}",
                    staged.display(),
                    dest.display()
                ),
                e,
            )
        })?;
        done.push(Done::Placed {
            staged,
            placed: dest,
        });
        report.placed += 1;
    }
    Ok(())
}

fn create_dir(dir: &Path, done: &mut Vec<Done>) -> Result<()> {
    std::fs::create_dir(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    done.push(Done::CreatedDir(dir.to_path_buf()));
    Ok(())
}

/// Creates the missing parent folders of `path` under `base`; anything else in the way is an
/// error. Returns how many were created.
fn ensure_parents(base: &Path, path: &str, done: &mut Vec<Done>) -> Result<u64> {
    let comps: Vec<&str> = path.split('/').collect();
    let mut cur = base.to_path_buf();
    let mut created = 0;
    for comp in &comps[..comps.len() - 1] {
        cur.push(comp);
        match std::fs::symlink_metadata(&cur) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::failed(format!(
                    "{} is a file or link, but {path} needs a folder there",
                    cur.display()
                ))
                .with_hint("move it elsewhere yourself, then restore again"))
            }
            Err(_) => {
                create_dir(&cur, done)?;
                created += 1;
            }
        }
    }
    Ok(created)
}

fn move_aside(dest: &Path, aside: &Path, path: &str, done: &mut Vec<Done>) -> Result<()> {
    if std::fs::symlink_metadata(aside).is_err() {
        create_dir(aside, done)?;
    }
    ensure_parents(aside, path, done)?;
    let kept = join_archive_path(aside, path);
    std::fs::rename(dest, &kept).map_err(|e| {
        Error::io(
            format!("moving {} aside to {}", dest.display(), kept.display()),
            e,
        )
    })?;
    done.push(Done::MovedAside {
        original: dest.to_path_buf(),
        aside: kept,
    });
    Ok(())
}

/// Undoes `done` in reverse; returns what could not be undone.
fn undo(done: Vec<Done>) -> Vec<String> {
    let mut failures = Vec::new();
    for step in done.into_iter().rev() {
        let result = match &step {
            Done::Placed { staged, placed } => std::fs::rename(placed, staged),
            Done::MovedAside { original, aside } => std::fs::rename(aside, original),
            Done::CreatedDir(dir) => std::fs::remove_dir(dir),
        };
        if let Err(e) = result {
            failures.push(match step {
                Done::Placed { placed, .. } => format!("removing {}: {e}", placed.display()),
                Done::MovedAside { original, aside } => format!(
                    "moving {} back to {}: {e}",
                    aside.display(),
                    original.display()
                ),
                Done::CreatedDir(dir) => format!("removing folder {}: {e}", dir.display()),
            });
        }
    }
    failures
}

fn set_dir_attrs(dir: &Path, record: &FileRecord) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(record.mode & 0o777))?;
    }
    filetime::set_file_mtime(dir, FileTime::from_unix_time(record.mtime, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sibling_names() {
        let t = Path::new("/srv/app");
        let s = staging_dir(t);
        assert_eq!(s.parent(), Some(Path::new("/srv")));
        assert!(s
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("app.restore-staging-"));
        assert_ne!(staging_dir(t), s);
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(
            aside_dir(t, now),
            PathBuf::from("/srv/app.pre-restore-20231114T221320Z")
        );
    }
}
