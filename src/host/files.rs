//! Files inside a confined working directory.
//!
//! Paths are relative to the working directory; absolute paths, `..` and links leading outside
//! are refused, so a script cannot touch the rest of the machine through these primitives.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// A folder that file primitives are confined to.
pub struct Workdir {
    root: PathBuf,
}

impl Workdir {
    /// Confines file access to `root`.
    pub fn new(root: &Path) -> Self {
        Workdir {
            root: root.to_path_buf(),
        }
    }

    /// The absolute path of `relative`, refusing anything that leads outside the folder.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf> {
        let path = Path::new(relative);
        let escapes = relative.is_empty()
            || path.is_absolute()
            || path.components().any(|c| {
                matches!(
                    c,
                    Component::ParentDir | Component::RootDir | Component::Prefix(_)
                )
            });
        if escapes {
            return Err(Error::usage(format!(
                "path \"{relative}\" is outside the working directory {}",
                self.root.display()
            ))
            .with_hint("use a relative path without `..`"));
        }
        let full = self.root.join(path);
        // A link anywhere along the way must not lead out of the folder.
        let mut existing = full.as_path();
        while !existing.exists() {
            match existing.parent() {
                Some(parent) => existing = parent,
                None => break,
            }
        }
        if let (Ok(real), Ok(root)) = (existing.canonicalize(), self.root.canonicalize()) {
            if !real.starts_with(&root) {
                return Err(Error::usage(format!(
                    "path \"{relative}\" leads outside the working directory through a link"
                )));
            }
        }
        Ok(full)
    }

    /// Whether `relative` exists.
    pub fn exists(&self, relative: &str) -> Result<bool> {
        Ok(self.resolve(relative)?.exists())
    }

    /// Writes `text` to `relative`, creating folders as needed; returns the bytes written.
    pub fn write(&self, relative: &str, text: &str) -> Result<u64> {
        let path = self.resolve(relative)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        std::fs::write(&path, text).map_err(|e| Error::io(format!("writing {relative}"), e))?;
        Ok(text.len() as u64)
    }

    /// Reads `relative` as text.
    pub fn read(&self, relative: &str) -> Result<String> {
        let path = self.resolve(relative)?;
        std::fs::read_to_string(&path).map_err(|e| Error::io(format!("reading {relative}"), e))
    }

    /// Removes the file `relative`; `false` when it did not exist.
    pub fn remove(&self, relative: &str) -> Result<bool> {
        let path = self.resolve(relative)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(format!("removing {relative}"), e)),
        }
    }
}

/// Differences between two folder trees: paths missing on either side, different kinds, and
/// files or links whose contents differ. Empty when the trees are identical.
pub fn compare_trees(left: &Path, right: &Path) -> Result<Vec<String>> {
    use std::collections::BTreeMap;
    fn walk(root: &Path) -> Result<BTreeMap<String, (String, Vec<u8>)>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
            for entry in entries {
                let entry =
                    entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
                let path = entry.path();
                let rel: Vec<String> = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().to_string())
                    .collect();
                let rel = rel.join("/");
                let meta = std::fs::symlink_metadata(&path)
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                let value = if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&path)
                        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                    (
                        "link".to_string(),
                        target.to_string_lossy().as_bytes().to_vec(),
                    )
                } else if meta.is_dir() {
                    stack.push(path.clone());
                    ("dir".to_string(), Vec::new())
                } else {
                    let bytes = std::fs::read(&path)
                        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                    (
                        "file".to_string(),
                        crate::host::digest::sha256_hex(&bytes).into_bytes(),
                    )
                };
                out.insert(rel, value);
            }
        }
        Ok(out)
    }
    let (a, b) = (walk(left)?, walk(right)?);
    let mut differences = Vec::new();
    for (path, value) in &a {
        match b.get(path) {
            None => differences.push(format!("{path}: only in {}", left.display())),
            Some(other) if other.0 != value.0 => {
                differences.push(format!("{path}: {} vs {}", value.0, other.0))
            }
            Some(other) if other.1 != value.1 => {
                differences.push(format!("{path}: contents differ"))
            }
            _ => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        differences.push(format!("{path}: only in {}", right.display()));
    }
    Ok(differences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let w = Workdir::new(dir.path());
        for bad in ["../x", "/etc/passwd", "a/../../x", ""] {
            assert!(w.resolve(bad).is_err(), "{bad}");
        }
        assert!(w.resolve("a/b.txt").is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn links_out_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        let w = Workdir::new(dir.path());
        assert!(w.write("out/x.txt", "x").is_err());
        assert!(!outside.path().join("x.txt").exists());
    }

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        let w = Workdir::new(dir.path());
        assert_eq!(w.write("a/b.txt", "hello").unwrap(), 5);
        assert_eq!(w.read("a/b.txt").unwrap(), "hello");
        assert!(w.remove("a/b.txt").unwrap());
        assert!(!w.remove("a/b.txt").unwrap());
    }
}
