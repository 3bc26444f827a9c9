//! A store-level lock for maintenance (prune, cleanup) across hosts: the object
//! `<name>/.runbook-lock`, created with a conditional create so only one host can hold it.
//! A lock older than `stale_after` is taken over (its holder crashed). On servers without
//! conditional writes (Supabase Storage ignores `If-None-Match`), the create always "succeeds":
//! the lock is then advisory only, which the README says.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::backend::Backend;
use crate::error::{Error, ErrorKind, Result};
use crate::host::runtime::block_on;

#[derive(Serialize, Deserialize)]
struct LockRecord {
    holder: String,
    created: DateTime<Utc>,
}

/// A held store lock; released on drop.
pub struct StoreLock {
    backend: Backend,
    relative: String,
}

impl StoreLock {
    /// Takes the maintenance lock of set `name`. `holder` says who (host, pid, run id).
    pub fn acquire(
        backend: &Backend,
        name: &str,
        holder: &str,
        stale_after: Duration,
    ) -> Result<StoreLock> {
        let relative = format!("{name}/.runbook-lock");
        let record = LockRecord {
            holder: holder.to_string(),
            created: Utc::now(),
        };
        let bytes = serde_json::to_vec(&record).expect("lock records serialize");
        for _ in 0..2 {
            if block_on(backend.put_if_absent(&relative, bytes.clone()))? {
                return Ok(StoreLock {
                    backend: backend.clone(),
                    relative,
                });
            }
            let existing = block_on(backend.get_bytes(&relative))?
                .and_then(|b| serde_json::from_slice::<LockRecord>(&b).ok());
            match existing {
                Some(other)
                    if Utc::now() - other.created
                        < chrono::Duration::from_std(stale_after)
                            .unwrap_or(chrono::Duration::MAX) =>
                {
                    return Err(Error::new(
                        ErrorKind::LockHeld,
                        format!(
                            "{} is locked by {} since {}",
                            backend.describe(&relative),
                            other.holder,
                            other.created.to_rfc3339()
                        ),
                    )
                    .with_hint(
                        "another host is maintaining this backup set; run again when it is done",
                    ));
                }
                // Stale or unreadable: remove and try once more.
                _ => block_on(backend.delete(&relative))?,
            }
        }
        Err(Error::new(
            ErrorKind::LockHeld,
            format!("could not take {}", backend.describe(&relative)),
        ))
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = block_on(self.backend.delete(&self.relative));
    }
}
