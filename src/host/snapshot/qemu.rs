//! Internal snapshots of a local qcow2 disk image, through the real `qemu-img`
//! (`snapshot -c/-l/-a/-d`). For VMs run by hand or by libvirt on a host we control.
//!
//! - A snapshot's id and name are its qcow2 tag; tags starting with `runbook-` are ours
//!   (`runbook-20261204T030000Z[-description]`). qcow2 has no description field, so a short,
//!   sanitised form of the description goes into the tag.
//! - The image must not be in use by a running VM while snapshots are taken or applied
//!   (`qemu-img` refuses to open a locked image, and says so).
//! - There is no boot copy: [`Provider::boot_copy`] returns `None`.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};

use super::{Provider, Snapshot, SnapshotStatus};
use crate::context::control::Control;
use crate::error::{Error, Result};

/// The tag prefix of our snapshots.
pub const TAG_PREFIX: &str = "runbook-";

/// One qcow2 image file.
pub struct QemuImage {
    path: PathBuf,
    binary: String,
}

impl QemuImage {
    /// The image at `path`, handled with `qemu-img` from `PATH`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        QemuImage {
            path: path.into(),
            binary: "qemu-img".into(),
        }
    }

    /// Uses another `qemu-img` (a name on `PATH` or a path).
    pub fn with_binary(mut self, binary: impl Into<String>) -> Self {
        self.binary = binary.into();
        self
    }

    /// The image file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn run(&self, args: &[&str], what: &str, control: &Control) -> Result<String> {
        control.check()?;
        let out = Command::new(&self.binary)
            .args(args)
            .arg(&self.path)
            .output()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::failed(format!(
                        "qemu: {what}: `{}` was not found",
                        self.binary
                    ))
                    .with_hint("install the package `qemu-utils` (Debian/Ubuntu; `qemu-img` on Fedora/Arch), or set the qemu-img path")
                } else {
                    Error::io(format!("qemu: {what}: running `{}`", self.binary), e)
                }
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(Error::failed(format!(
                "qemu: {what} on {}: `{} {}` failed ({}): {}",
                self.path.display(),
                self.binary,
                args.join(" "),
                out.status,
                stderr.trim()
            ))
            .with_hint(
                "check that the image exists, is qcow2, and is not in use by a running VM",
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Parses `qemu-img snapshot -l` output (`ID TAG VM_SIZE DATE VM_CLOCK ICOUNT`; the date is local
/// time).
pub fn parse_list(text: &str) -> Vec<Snapshot> {
    let mut out = Vec::new();
    for line in text.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = (1..tokens.len().saturating_sub(1)).find(|&i| {
            NaiveDateTime::parse_from_str(
                &format!("{} {}", tokens[i], tokens[i + 1]),
                "%Y-%m-%d %H:%M:%S",
            )
            .is_ok()
        }) else {
            continue;
        };
        // ID, TAG (may contain spaces), VM size as "<n> <unit>", then the date.
        if i < 4 {
            continue;
        }
        let naive = NaiveDateTime::parse_from_str(
            &format!("{} {}", tokens[i], tokens[i + 1]),
            "%Y-%m-%d %H:%M:%S",
        )
        .expect("checked above");
        let created: DateTime<Utc> = Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive));
        let tag = tokens[1..i - 2].join(" ");
        out.push(Snapshot {
            id: tag.clone(),
            ours: tag.starts_with(TAG_PREFIX),
            name: tag,
            created,
            status: SnapshotStatus::Available,
            size_gb: None,
        });
    }
    out
}

fn tag_for(description: &str, at: DateTime<Utc>) -> String {
    let mut tag = format!("{TAG_PREFIX}{}", at.format("%Y%m%dT%H%M%SZ"));
    let clean: String = description
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    let clean = clean.trim_matches('-');
    if !clean.is_empty() {
        tag.push('-');
        tag.push_str(clean);
    }
    tag
}

impl Provider for QemuImage {
    fn describe(&self) -> String {
        format!("qemu image {}", self.path.display())
    }

    fn list_snapshots(&self, control: &Control) -> Result<Vec<Snapshot>> {
        let text = self.run(&["snapshot", "-l"], "listing snapshots", control)?;
        let mut v = parse_list(&text);
        v.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok(v)
    }

    fn create_snapshot(&self, description: &str, control: &Control) -> Result<Snapshot> {
        let existing = self.list_snapshots(control)?;
        let mut tag = tag_for(description, Utc::now());
        let mut n = 2;
        let base = tag.clone();
        while existing.iter().any(|s| s.id == tag) {
            tag = format!("{base}-{n}");
            n += 1;
        }
        control.note(&format!(
            "qemu: taking snapshot {tag} of {}",
            self.path.display()
        ));
        self.run(&["snapshot", "-c", &tag], "taking a snapshot", control)?;
        self.list_snapshots(control)?
            .into_iter()
            .find(|s| s.id == tag)
            .ok_or_else(|| {
                Error::failed(format!(
                    "qemu: snapshot {tag} was created but is not in the list of {}",
                    self.path.display()
                ))
            })
    }

    fn delete_snapshot(&self, id: &str, control: &Control) -> Result<()> {
        self.run(
            &["snapshot", "-d", id],
            &format!("deleting snapshot {id}"),
            control,
        )?;
        Ok(())
    }

    /// Applies the snapshot: the image's current contents are replaced by the snapshot's.
    fn restore_snapshot(&self, id: &str, control: &Control) -> Result<()> {
        self.run(
            &["snapshot", "-a", id],
            &format!("applying snapshot {id}"),
            control,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_with_spaces_in_tags() {
        let text = "Snapshot list:\nID      TAG               VM_SIZE                DATE        VM_CLOCK     ICOUNT\n1       runbook-a             0 B 2026-12-04 20:44:37  0000:00:00.000          0\n2       hand made         1.5 MiB 2026-12-04 20:44:38  0000:00:00.000          0\n";
        let v = parse_list(text);
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].id.as_str(), v[0].ours), ("runbook-a", true));
        assert_eq!((v[1].id.as_str(), v[1].ours), ("hand made", false));
        assert!(v[1].created > v[0].created);
    }

    #[test]
    fn tags_are_sanitised() {
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 3, 0, 0).unwrap();
        assert_eq!(
            tag_for("weekly / pre upgrade", at),
            "runbook-20261204T030000Z-weekly---pre-upgrade"
        );
        assert_eq!(tag_for("", at), "runbook-20261204T030000Z");
    }
}
