//! VPS snapshots (issue 6): one [`Provider`] trait over Hetzner Cloud ([`hetzner`]), Contabo
//! ([`contabo`]) and local qcow2 images ([`qemu`]), plus the provider-independent parts:
//! retention ([`plan_prune`], [`snapshot_and_prune`]) and boot verification ([`boot_verify`]).
//!
//! Rules every provider follows:
//! - **Ours vs foreign.** A snapshot runbook made is marked `ours` (Hetzner: labels
//!   `managed-by=runbook` and `runbook-server=<id>`; Contabo: a name prefix; qemu: a `runbook-`
//!   tag prefix). Retention only ever deletes `ours` snapshots that are `Available`.
//! - **Waiting.** [`Provider::create_snapshot`] returns once the snapshot is usable, reporting
//!   progress through [`Control::note`] and honouring [`Control::check`] (Ctrl-C, step deadline).
//! - **Secrets.** Tokens and passwords are [`crate::context::secrets::Secret`]s and never appear
//!   in a message.

pub mod contabo;
pub mod hetzner;
pub mod qemu;

/// The shared provider HTTP client, which moved to [`crate::host::http`] once Supabase used it
/// too; re-exported so `snapshot::http` paths keep working.
pub use crate::host::http;

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use chrono::{DateTime, Utc};

use crate::context::control::Control;
use crate::error::{Error, Result};

/// Where a snapshot is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotStatus {
    /// Still being written; neither usable nor prunable.
    Creating,
    /// Done and usable.
    Available,
    /// The provider reports it failed.
    Failed,
    /// A status this code does not know (the provider's own word).
    Unknown(String),
}

/// One snapshot of a server or disk image.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The provider's id (Hetzner image id, Contabo `snapshotId`, qemu tag).
    pub id: String,
    /// A human name (Hetzner description, Contabo name, qemu tag).
    pub name: String,
    /// When it was taken.
    pub created: DateTime<Utc>,
    /// Whether it is usable.
    pub status: SnapshotStatus,
    /// Whether runbook made it (and so may prune it).
    pub ours: bool,
    /// Size in GB, where the provider says.
    pub size_gb: Option<f64>,
}

/// A temporary server booted from a snapshot to check that it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootedCopy {
    /// The provider's id of the temporary server.
    pub id: String,
    /// Its public address, where known.
    pub address: Option<String>,
}

/// A place that can take, list, delete and restore snapshots of one server or disk.
pub trait Provider {
    /// What this is, for messages, e.g. `"hetzner server 42"`.
    fn describe(&self) -> String;

    /// All snapshots of the server this provider can see, newest first, with `ours` marked.
    fn list_snapshots(&self, control: &Control) -> Result<Vec<Snapshot>>;

    /// Takes a snapshot and waits until it is available, showing progress through `control`.
    fn create_snapshot(&self, description: &str, control: &Control) -> Result<Snapshot>;

    /// Deletes one snapshot.
    fn delete_snapshot(&self, id: &str, control: &Control) -> Result<()>;

    /// Puts the server (or disk) back to the snapshot: Hetzner rebuilds in place, Contabo rolls
    /// back (which also deletes every newer snapshot), qemu applies the snapshot. Destructive.
    fn restore_snapshot(&self, id: &str, control: &Control) -> Result<()>;

    /// Boots a temporary copy from the snapshot, where the provider allows it (`None` if not).
    /// On failure the implementation removes whatever it had already created.
    fn boot_copy(&self, id: &str, control: &Control) -> Result<Option<BootedCopy>> {
        let _ = (id, control);
        Ok(None)
    }

    /// Whether [`Provider::boot_copy`] can boot copies at all (so a plan can say so up front).
    fn boots_copies(&self) -> bool {
        false
    }

    /// Deletes a copy made by [`Provider::boot_copy`]. A copy that is already gone is no error.
    fn delete_copy(&self, copy: &BootedCopy, control: &Control) -> Result<()> {
        let _ = (copy, control);
        Err(Error::failed(format!(
            "{} cannot boot copies, so there is no copy to delete",
            self.describe()
        )))
    }
}

/// Which snapshots to delete to keep the newest `keep_last` of ours: only `ours` and `Available`
/// snapshots count and only they are ever returned; foreign, `Creating`, `Failed` and unknown
/// ones are never touched and not counted. The result is oldest first.
pub fn plan_prune(snapshots: &[Snapshot], keep_last: usize) -> Vec<Snapshot> {
    let mut ours: Vec<&Snapshot> = snapshots
        .iter()
        .filter(|s| s.ours && s.status == SnapshotStatus::Available)
        .collect();
    // Newest first; ties broken by id so the plan is deterministic.
    ours.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    let mut doomed: Vec<Snapshot> = ours.into_iter().skip(keep_last).cloned().collect();
    doomed.reverse();
    doomed
}

/// What [`snapshot_and_prune`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRun {
    /// The new snapshot.
    pub created: Snapshot,
    /// The snapshots deleted by retention, oldest first.
    pub pruned: Vec<Snapshot>,
}

/// The weekly job: take a snapshot, wait for it, then delete our oldest so that `keep_last` of
/// ours remain. Nothing is pruned unless the new snapshot is available; the new snapshot itself
/// is never pruned. `keep_last` must be at least 1.
pub fn snapshot_and_prune(
    provider: &dyn Provider,
    description: &str,
    keep_last: usize,
    control: &Control,
) -> Result<SnapshotRun> {
    snapshot_and_prune_within(provider, description, keep_last, None, control)
}

/// Like [`snapshot_and_prune`], but when `allowed` is given only snapshots whose id is in it are
/// deleted: `allowed` is the plan a user confirmed before the snapshot was taken, so whatever
/// changed in between (a snapshot added or removed meanwhile) never makes it delete more than
/// that plan said, nor leave fewer than `keep_last` of ours.
pub fn snapshot_and_prune_within(
    provider: &dyn Provider,
    description: &str,
    keep_last: usize,
    allowed: Option<&[String]>,
    control: &Control,
) -> Result<SnapshotRun> {
    if keep_last == 0 {
        return Err(Error::usage("keep_last must be at least 1")
            .with_hint("keeping 0 snapshots would delete the one just taken"));
    }
    let created = provider.create_snapshot(description, control)?;
    if created.status != SnapshotStatus::Available {
        return Err(Error::failed(format!(
            "{}: the new snapshot {} is {:?}, not available; nothing was pruned",
            provider.describe(),
            created.id,
            created.status
        )));
    }
    let all = provider.list_snapshots(control)?;
    let doomed: Vec<Snapshot> = plan_prune(&all, keep_last)
        .into_iter()
        .filter(|s| s.id != created.id)
        .filter(|s| allowed.is_none_or(|ids| ids.contains(&s.id)))
        .collect();
    let mut pruned = Vec::new();
    let mut failures = Vec::new();
    for s in doomed {
        control.check()?;
        match provider.delete_snapshot(&s.id, control) {
            Ok(()) => {
                control.note(&format!("pruned snapshot {} ({})", s.id, s.name));
                pruned.push(s);
            }
            Err(e) => failures.push(format!("{}: {}", s.id, e.message())),
        }
    }
    if !failures.is_empty() {
        return Err(Error::failed(format!(
            "{}: snapshot {} was taken, but pruning failed for {}",
            provider.describe(),
            created.id,
            failures.join("; ")
        ))
        .with_hint("the new snapshot is fine; the old ones will be pruned on the next run, or delete them by hand"));
    }
    Ok(SnapshotRun { created, pruned })
}

/// Boots a copy of `snapshot_id`, runs `check` against it and returns its verdict. The copy is
/// ALWAYS deleted afterwards: when the check passes, fails, errors, panics (the panic is resumed
/// after the cleanup), or the run is interrupted. The cleanup itself ignores Ctrl-C and the step
/// deadline (it is bounded by the HTTP retry policy), so a stop never leaves a paid server behind.
pub fn boot_verify(
    provider: &dyn Provider,
    snapshot_id: &str,
    check: impl FnOnce(&BootedCopy) -> Result<bool>,
    control: &Control,
) -> Result<bool> {
    let copy = provider.boot_copy(snapshot_id, control)?.ok_or_else(|| {
        Error::usage(format!(
            "{} cannot boot a copy of a snapshot",
            provider.describe()
        ))
        .with_hint("boot verification needs a cloud provider (Hetzner); verify this snapshot by restoring it instead")
    })?;
    control.note(&format!(
        "booted copy {} of snapshot {snapshot_id}{}",
        copy.id,
        copy.address
            .as_deref()
            .map(|a| format!(" at {a}"))
            .unwrap_or_default()
    ));
    let outcome = match control.check() {
        Err(e) => Ok(Err(e)),
        Ok(()) => catch_unwind(AssertUnwindSafe(|| check(&copy))),
    };
    // A stop requested while the check ran also counts as an interruption.
    let outcome = match outcome {
        Ok(Ok(v)) => Ok(control.check().map(|()| v)),
        other => other,
    };
    let cleanup = provider.delete_copy(&copy, &Control::detached());
    match &cleanup {
        Ok(()) => control.note(&format!("deleted copy {}", copy.id)),
        Err(e) => control.note(&format!(
            "could not delete copy {}: {}",
            copy.id,
            e.message()
        )),
    }
    let leftover = |e: &Error| {
        Error::failed(format!(
            "{}: the boot-verify copy {} of snapshot {snapshot_id} could not be deleted: {}",
            provider.describe(),
            copy.id,
            e.message()
        ))
        .with_hint(format!(
            "delete server {} by hand (it is labelled runbook-role=boot-verify); it is billed while it exists",
            copy.id
        ))
    };
    match outcome {
        Err(panic) => resume_unwind(panic),
        Ok(Ok(verdict)) => match cleanup {
            Ok(()) => Ok(verdict),
            Err(e) => Err(leftover(&e)),
        },
        Ok(Err(check_err)) => match cleanup {
            Ok(()) => Err(check_err),
            Err(e) => {
                let l = leftover(&e);
                Err(Error::new(
                    check_err.kind(),
                    format!("{}; also: {}", check_err.message(), l.message()),
                )
                .with_hint(l.hint().unwrap_or_default().to_string()))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn snap(id: &str, day: u32, ours: bool, status: SnapshotStatus) -> Snapshot {
        Snapshot {
            id: id.into(),
            name: id.into(),
            created: Utc.with_ymd_and_hms(2026, 1, day, 3, 0, 0).unwrap(),
            status,
            ours,
            size_gb: None,
        }
    }

    #[test]
    fn prune_keeps_newest_ours_only() {
        let mut v = vec![
            snap("f1", 1, false, SnapshotStatus::Available),
            snap("c", 20, true, SnapshotStatus::Creating),
            snap("x", 2, true, SnapshotStatus::Failed),
        ];
        for d in 3..9 {
            v.push(snap(&format!("o{d}"), d, true, SnapshotStatus::Available));
        }
        let ids: Vec<String> = plan_prune(&v, 4).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["o3", "o4"]);
        assert!(plan_prune(&v, 10).is_empty());
    }
}
