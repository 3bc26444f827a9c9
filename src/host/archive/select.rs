//! Source selection: a lazy description of what to back up ([`SourceSpec`]), resolved by
//! [`select`] into a sorted, deduplicated list of entries with archive paths.
//!
//! Archive paths are relative to a root folder, `/`-separated, with no leading `/` and no `..`.
//! They are built from [`Path::components`], so Windows paths work as well as Unix ones.
//! Symbolic links are recorded as links and never followed.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::{check_archive_path, link_stays_inside};
use crate::error::{Error, Result};

/// What to back up, before looking at the disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceSpec {
    /// The folder archive paths are relative to. Without it, the root is the deepest common
    /// parent folder of all selected paths (made absolute against the current folder).
    pub root: Option<PathBuf>,
    /// Files or folders (walked recursively), relative to `root` or absolute.
    pub paths: Vec<PathBuf>,
    /// Recent log files.
    pub logs: Option<LogsSpec>,
    /// Globs matched against archive paths; a match is left out (a folder with all it holds).
    /// `*` also matches `/`, so `*.tmp` leaves out such files at any depth.
    pub exclude: Vec<String>,
}

/// Log files to pick from a folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsSpec {
    /// The folder, relative to the root or absolute; walked recursively.
    pub dir: PathBuf,
    /// Only files modified less than this long before `now`.
    pub newer_than: Option<Duration>,
    /// A glob the file *name* must match (default: all files).
    pub pattern: Option<String>,
}

/// What a selected entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file of `size` bytes (at selection time).
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A folder.
    Dir,
    /// A symbolic link, recorded as a link, never followed.
    Symlink {
        /// The link's target as stored in the link.
        target: String,
    },
}

/// One file, folder or link to archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedEntry {
    /// Path inside the archive: relative, `/`-separated, no leading `/`, no `..`.
    pub archive_path: String,
    /// Where it is on disk.
    pub source: PathBuf,
    /// File, folder or link.
    pub kind: EntryKind,
    /// Permission bits (Unix mode; on Windows 0o644/0o755, or 0o444/0o555 when read-only).
    pub mode: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
}

/// The resolved selection: entries sorted by archive path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The folder archive paths are relative to.
    pub root: PathBuf,
    /// Entries, sorted by archive path, each once; folders come before what they hold.
    pub entries: Vec<SelectedEntry>,
    /// Number of regular files.
    pub files: u64,
    /// Total size of the regular files, in bytes.
    pub bytes: u64,
    /// Things the user should know, e.g. links whose target leads outside the root.
    pub warnings: Vec<String>,
}

/// Resolves `spec` against the disk at time `now` (used for the log age filter).
pub fn select(spec: &SourceSpec, now: SystemTime) -> Result<Selection> {
    if spec.paths.is_empty() && spec.logs.is_none() {
        return Err(
            Error::usage("nothing to back up: no paths and no logs were given")
                .with_hint("name at least one file or folder in `paths`, or a `logs` folder"),
        );
    }
    let exclude = build_globs(&spec.exclude)?;
    let cwd_absolute = |p: &Path| -> Result<PathBuf> {
        std::path::absolute(p).map_err(|e| Error::io(format!("resolving {}", p.display()), e))
    };
    let root = match &spec.root {
        Some(root) => cwd_absolute(root)?,
        None => {
            let mut all: Vec<PathBuf> = Vec::new();
            for p in spec.paths.iter().chain(spec.logs.iter().map(|l| &l.dir)) {
                all.push(cwd_absolute(p)?);
            }
            infer_root(&all)?
        }
    };
    let resolve = |p: &Path| -> Result<(PathBuf, Vec<String>)> {
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else if spec.root.is_some() {
            root.join(p)
        } else {
            cwd_absolute(p)?
        };
        let rel = relative_components(&root, &full)?;
        Ok((full, rel))
    };

    let mut found: BTreeMap<String, SelectedEntry> = BTreeMap::new();
    for path in &spec.paths {
        let (full, rel) = resolve(path)?;
        ensure_exists(&full, path)?;
        walk(&full, &rel, &exclude, &mut found, &|_, _| true)?;
    }
    if let Some(logs) = &spec.logs {
        let (full, rel) = resolve(&logs.dir)?;
        ensure_exists(&full, &logs.dir)?;
        let cutoff = logs
            .newer_than
            .map(|d| now.checked_sub(d).unwrap_or(UNIX_EPOCH));
        let name_glob = match &logs.pattern {
            Some(p) => Some(
                Glob::new(p)
                    .map_err(|e| {
                        Error::usage(format!("bad log file pattern \"{p}\": {e}"))
                            .with_hint("use a glob such as \"*.log\" or \"app-*.log.gz\"")
                    })?
                    .compile_matcher(),
            ),
            None => None,
        };
        let wanted = |entry: &walkdir::DirEntry, meta: &std::fs::Metadata| -> bool {
            if !meta.file_type().is_file() {
                return false;
            }
            if let Some(glob) = &name_glob {
                if !glob.is_match(entry.file_name()) {
                    return false;
                }
            }
            match (cutoff, meta.modified()) {
                (Some(cutoff), Ok(mtime)) => mtime > cutoff,
                (Some(_), Err(_)) => false,
                (None, _) => true,
            }
        };
        walk(&full, &rel, &exclude, &mut found, &wanted)?;
    }

    let mut warnings = Vec::new();
    let mut files = 0;
    let mut bytes = 0;
    for entry in found.values() {
        match &entry.kind {
            EntryKind::File { size } => {
                files += 1;
                bytes += size;
            }
            EntryKind::Symlink { target } => {
                if !link_stays_inside(&entry.archive_path, target) {
                    warnings.push(format!(
                        "link {} points to \"{target}\", outside the backed-up folder {}; it is \
                         recorded as a link, but a restore refuses it (restore the rest with \
                         `only`, then recreate the link by hand)",
                        entry.archive_path,
                        root.display()
                    ));
                }
            }
            EntryKind::Dir => {}
        }
    }
    Ok(Selection {
        root,
        entries: found.into_values().collect(),
        files,
        bytes,
        warnings,
    })
}

fn build_globs(patterns: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = Glob::new(p).map_err(|e| {
            Error::usage(format!("bad exclude pattern \"{p}\": {e}"))
                .with_hint("use globs such as \"*.tmp\", \"cache/**\" or \"**/node_modules\"")
        })?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| Error::usage(format!("bad exclude patterns: {e}")))
}

/// The deepest folder holding all `paths` (the common ancestor of their parents).
fn infer_root(paths: &[PathBuf]) -> Result<PathBuf> {
    let mut common: Option<Vec<Component<'_>>> = None;
    for p in paths {
        let parent = p.parent().ok_or_else(|| {
            Error::usage(format!(
                "cannot back up {} without a root folder: it has no parent folder",
                p.display()
            ))
            .with_hint("give `root` explicitly and name paths inside it")
        })?;
        let comps: Vec<Component<'_>> = parent.components().collect();
        common = Some(match common {
            None => comps,
            Some(prev) => prev
                .iter()
                .zip(comps.iter())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| *a)
                .collect(),
        });
    }
    let comps = common.unwrap_or_default();
    if comps.is_empty() {
        return Err(
            Error::usage("the selected paths share no common folder (different drives?)")
                .with_hint("give `root` explicitly, or back them up in separate sets"),
        );
    }
    Ok(comps.iter().collect())
}

/// The archive-path components of `full` relative to `root`, refusing `..` and paths outside.
fn relative_components(root: &Path, full: &Path) -> Result<Vec<String>> {
    let mut comps = Vec::new();
    let rest = full.strip_prefix(root).map_err(|_| {
        Error::usage(format!(
            "{} is outside the backup root {}",
            full.display(),
            root.display()
        ))
        .with_hint("name paths inside the root, or choose a root that holds them all")
    })?;
    for c in rest.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(name) => comps.push(component_str(name, full)?),
            _ => {
                return Err(Error::usage(format!(
                    "path {} contains `..` or a root inside it",
                    full.display()
                ))
                .with_hint("name the file or folder without `..`"))
            }
        }
    }
    Ok(comps)
}

fn component_str(name: &std::ffi::OsStr, whole: &Path) -> Result<String> {
    name.to_str().map(str::to_owned).ok_or_else(|| {
        Error::failed(format!(
            "the name of {} is not valid UTF-8, which archive paths require",
            whole.display()
        ))
        .with_hint("rename it, or leave it out with an `exclude` pattern")
    })
}

fn ensure_exists(full: &Path, given: &Path) -> Result<()> {
    match std::fs::symlink_metadata(full) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::failed(format!(
            "cannot back up {}: {} does not exist",
            given.display(),
            full.display()
        ))
        .with_hint("check the path and the root folder, or remove it from the backup's paths")),
        Err(e) => Err(Error::io(format!("reading {}", full.display()), e)),
    }
}

/// Walks `start` (archive components `rel`), adding entries that pass `exclude` and whose
/// files pass `wanted`. Folders are added when `wanted` accepts them (it does for `paths`).
fn walk(
    start: &Path,
    rel: &[String],
    exclude: &GlobSet,
    found: &mut BTreeMap<String, SelectedEntry>,
    wanted: &dyn Fn(&walkdir::DirEntry, &std::fs::Metadata) -> bool,
) -> Result<()> {
    let base = rel.join("/");
    let archive_path_of = |entry: &walkdir::DirEntry| -> Result<String> {
        let mut path = base.clone();
        let sub = entry.path().strip_prefix(start).unwrap_or(Path::new(""));
        for c in sub.components() {
            if let Component::Normal(name) = c {
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(&component_str(name, entry.path())?);
            }
        }
        Ok(path)
    };
    let walker = walkdir::WalkDir::new(start)
        .follow_links(false)
        .follow_root_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| match archive_path_of(entry) {
            Ok(p) => p.is_empty() || !exclude.is_match(&p),
            Err(_) => true, // reported below
        });
    for entry in walker {
        let entry = entry.map_err(|e| {
            let what = e
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| start.display().to_string());
            Error::failed(format!("reading {what}: {e}"))
                .with_hint("check that the folder is readable by this user")
        })?;
        let archive_path = archive_path_of(&entry)?;
        if archive_path.is_empty() {
            continue; // the root itself
        }
        if let Some(reason) = check_archive_path(&archive_path) {
            return Err(Error::failed(format!(
                "cannot back up {}: {reason}, which a restore would refuse",
                entry.path().display()
            ))
            .with_hint("rename it, or leave it out with an `exclude` pattern"));
        }
        let meta = std::fs::symlink_metadata(entry.path())
            .map_err(|e| Error::io(format!("reading {}", entry.path().display()), e))?;
        if !wanted(&entry, &meta) {
            continue;
        }
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            let target = std::fs::read_link(entry.path())
                .map_err(|e| Error::io(format!("reading link {}", entry.path().display()), e))?;
            let target = target.to_str().map(str::to_owned).ok_or_else(|| {
                Error::failed(format!(
                    "the target of link {} is not valid UTF-8",
                    entry.path().display()
                ))
                .with_hint("leave it out with an `exclude` pattern")
            })?;
            EntryKind::Symlink { target }
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File { size: meta.len() }
        } else {
            return Err(Error::failed(format!(
                "{} is a device, socket or pipe, which cannot be backed up",
                entry.path().display()
            ))
            .with_hint("leave it out with an `exclude` pattern"));
        };
        let mtime = match meta.modified() {
            Ok(t) => match t.duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_secs() as i64,
                Err(e) => -(e.duration().as_secs() as i64),
            },
            Err(_) => 0,
        };
        found.insert(
            archive_path.clone(),
            SelectedEntry {
                archive_path,
                source: entry.path().to_path_buf(),
                mode: mode_of(&meta),
                kind,
                mtime,
            },
        );
    }
    Ok(())
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::MetadataExt;
    meta.mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    let ro = meta.permissions().readonly();
    match (meta.is_dir(), ro) {
        (true, false) => 0o755,
        (true, true) => 0o555,
        (false, false) => 0o644,
        (false, true) => 0o444,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use filetime::FileTime;

    fn paths(sel: &Selection) -> Vec<&str> {
        sel.entries
            .iter()
            .map(|e| e.archive_path.as_str())
            .collect()
    }

    fn spec(root: &Path, paths: &[&str]) -> SourceSpec {
        SourceSpec {
            root: Some(root.to_path_buf()),
            paths: paths.iter().map(PathBuf::from).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn folders_are_walked_sorted_with_empty_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("app/empty")).unwrap();
        std::fs::create_dir_all(r.join("app/sub")).unwrap();
        std::fs::write(r.join("app/sub/b.txt"), "bb").unwrap();
        std::fs::write(r.join("app/a.txt"), "a").unwrap();
        std::fs::write(r.join("other.txt"), "not selected").unwrap();
        let sel = select(&spec(r, &["app"]), SystemTime::now()).unwrap();
        assert_eq!(
            paths(&sel),
            ["app", "app/a.txt", "app/empty", "app/sub", "app/sub/b.txt"]
        );
        assert_eq!(sel.files, 2);
        assert_eq!(sel.bytes, 3);
        assert_eq!(sel.entries[2].kind, EntryKind::Dir);
        assert!(sel.warnings.is_empty());
    }

    #[test]
    fn exclude_globs_prune_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("app/cache/deep")).unwrap();
        std::fs::write(r.join("app/cache/deep/x"), "x").unwrap();
        std::fs::write(r.join("app/keep.txt"), "k").unwrap();
        std::fs::write(r.join("app/skip.tmp"), "t").unwrap();
        let mut s = spec(r, &["app"]);
        s.exclude = vec!["*.tmp".into(), "app/cache".into()];
        let sel = select(&s, SystemTime::now()).unwrap();
        assert_eq!(paths(&sel), ["app", "app/keep.txt"]);
        s.exclude = vec!["[".into()];
        assert!(select(&s, SystemTime::now())
            .unwrap_err()
            .message()
            .contains("bad exclude pattern"));
    }

    #[test]
    fn logs_filter_by_age_and_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("logs/old")).unwrap();
        let now = SystemTime::now();
        let set = |name: &str, age_secs: u64| {
            let p = r.join("logs").join(name);
            std::fs::write(&p, name).unwrap();
            let t = FileTime::from_system_time(now - Duration::from_secs(age_secs));
            filetime::set_file_mtime(&p, t).unwrap();
        };
        set("new.log", 60);
        set("old/recent.log", 3600);
        set("ancient.log", 10 * 86400);
        set("new.txt", 60);
        let s = SourceSpec {
            root: Some(r.to_path_buf()),
            logs: Some(LogsSpec {
                dir: "logs".into(),
                newer_than: Some(Duration::from_secs(86400)),
                pattern: Some("*.log".into()),
            }),
            ..Default::default()
        };
        let sel = select(&s, now).unwrap();
        assert_eq!(paths(&sel), ["logs/new.log", "logs/old/recent.log"]);
        // Without filters every file is taken.
        let s = SourceSpec {
            logs: Some(LogsSpec {
                dir: r.join("logs"),
                ..Default::default()
            }),
            ..s
        };
        assert_eq!(select(&s, now).unwrap().files, 4);
    }

    #[test]
    fn root_is_inferred_from_absolute_paths() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("srv/a")).unwrap();
        std::fs::create_dir_all(r.join("srv/b")).unwrap();
        std::fs::write(r.join("srv/a/one"), "1").unwrap();
        std::fs::write(r.join("srv/b/two"), "2").unwrap();
        let s = SourceSpec {
            paths: vec![r.join("srv/a/one"), r.join("srv/b")],
            ..Default::default()
        };
        let sel = select(&s, SystemTime::now()).unwrap();
        assert_eq!(sel.root, r.join("srv"));
        assert_eq!(paths(&sel), ["a/one", "b", "b/two"]);
        // A single file: its folder is the root.
        let s = SourceSpec {
            paths: vec![r.join("srv/a/one")],
            ..Default::default()
        };
        let sel = select(&s, SystemTime::now()).unwrap();
        assert_eq!(sel.root, r.join("srv/a"));
        assert_eq!(paths(&sel), ["one"]);
    }

    #[test]
    fn missing_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = select(&spec(dir.path(), &["nope/x.db"]), SystemTime::now()).unwrap_err();
        assert!(err.message().contains("nope/x.db"), "{err}");
        assert!(err.hint().is_some());
        let err = select(&spec(dir.path(), &["../x"]), SystemTime::now()).unwrap_err();
        assert!(err.message().contains(".."), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_recorded_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("app/real")).unwrap();
        std::fs::write(r.join("app/real/f"), "f").unwrap();
        std::os::unix::fs::symlink("real", r.join("app/inside")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("app/outside")).unwrap();
        let sel = select(&spec(r, &["app"]), SystemTime::now()).unwrap();
        assert_eq!(
            paths(&sel),
            ["app", "app/inside", "app/outside", "app/real", "app/real/f"]
        );
        assert_eq!(
            sel.entries[1].kind,
            EntryKind::Symlink {
                target: "real".into()
            }
        );
        assert_eq!(sel.warnings.len(), 1);
        assert!(sel.warnings[0].contains("app/outside"));
        // A link named directly is recorded as a link too, not walked into.
        let sel = select(&spec(r, &["app/inside"]), SystemTime::now()).unwrap();
        assert_eq!(paths(&sel), ["app/inside"]);
        assert!(matches!(sel.entries[0].kind, EntryKind::Symlink { .. }));
    }
}
