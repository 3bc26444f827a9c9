//! Backup stores: sets of encrypted objects plus a manifest, in any object store.
//!
//! A set is `<name>/<timestamp>-<host>/` holding encrypted objects and `manifest.json`, which is
//! written last: a folder without a manifest is an incomplete set (an interrupted backup) and is
//! never `latest`. This module lists and finds sets; [`backup`] writes them and [`restore`]
//! reads them back.

pub mod backend;
pub mod backup;
pub mod bridge;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod restore;
pub mod retention;
pub mod sample;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::host::runtime::block_on;
use backend::Backend;
use layout::{check_set_name, SetId, MANIFEST};
use manifest::Manifest;

/// A set found in a store.
#[derive(Debug, Clone)]
pub struct SetInfo {
    /// Its identity.
    pub id: SetId,
    /// Its manifest; `None` for an incomplete set.
    pub manifest: Option<Manifest>,
}

impl SetInfo {
    /// Whether the set has its manifest.
    pub fn complete(&self) -> bool {
        self.manifest.is_some()
    }
}

/// A backup store.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

impl Store {
    /// Opens a store URL (see [`Backend::open`]).
    pub fn open(url: &str) -> Result<Store> {
        Ok(Store {
            backend: Backend::open(url)?,
        })
    }

    /// Opens a store URL with object-storage options (see [`Backend::open_with`]).
    pub fn open_with(url: &str, options: &backend::StoreOptions) -> Result<Store> {
        Ok(Store {
            backend: Backend::open_with(url, options)?,
        })
    }

    /// The store URL (no credentials).
    pub fn url(&self) -> &str {
        self.backend.url()
    }

    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Every set called `name`, oldest first, complete or not.
    pub fn list(&self, name: &str) -> Result<Vec<SetInfo>> {
        check_set_name(name)?;
        block_on(async {
            let mut ids: Vec<SetId> = self
                .backend
                .list_dirs(name)
                .await?
                .iter()
                .filter_map(|dir| SetId::parse(name, dir))
                .collect();
            ids.sort();
            let mut sets = Vec::with_capacity(ids.len());
            for id in ids {
                let manifest = self.read_manifest(&id).await?;
                sets.push(SetInfo { id, manifest });
            }
            Ok(sets)
        })
    }

    async fn read_manifest(&self, id: &SetId) -> Result<Option<Manifest>> {
        let relative = format!("{}/{MANIFEST}", id.path());
        match self.backend.get_bytes(&relative).await? {
            None => Ok(None),
            Some(bytes) => Manifest::parse(&bytes)
                .map(Some)
                .map_err(|e| e.context(format!("set {}", self.backend.describe(&id.path())))),
        }
    }

    /// The newest complete set called `name`.
    pub fn latest(&self, name: &str) -> Result<Option<SetInfo>> {
        Ok(self.list(name)?.into_iter().rev().find(SetInfo::complete))
    }

    /// A complete set by id (`2026-12-04T020000Z-vps1`) or `latest`.
    pub fn find(&self, name: &str, id: &str) -> Result<SetInfo> {
        let sets = self.list(name)?;
        let found = if id == "latest" {
            sets.iter().rev().find(|s| s.complete()).cloned()
        } else {
            sets.iter().find(|s| s.id.dir() == id).cloned()
        };
        match found {
            Some(set) if set.complete() => Ok(set),
            Some(set) => Err(Error::failed(format!(
                "backup set {} is incomplete (no manifest): its backup did not finish",
                self.backend.describe(&set.id.path())
            ))
            .with_hint("choose another set; `store.list(name)` shows which are complete")),
            None => {
                let complete: Vec<String> = sets
                    .iter()
                    .filter(|s| s.complete())
                    .map(|s| s.id.dir())
                    .collect();
                let hint = if complete.is_empty() {
                    format!(
                        "there are no complete \"{name}\" sets in {}; check the store URL and that backups ran",
                        self.url()
                    )
                } else {
                    format!("complete sets: {}", complete.join(", "))
                };
                Err(Error::failed(format!(
                    "no backup set \"{name}\" with id \"{id}\" in {}",
                    self.url()
                ))
                .with_hint(hint))
            }
        }
    }

    /// A fresh id for a new set made now on `host`; waits a moment rather than reuse the id of
    /// a set made in the same second.
    pub fn new_set_id(&self, name: &str, host: &str) -> Result<SetId> {
        loop {
            let id = SetId::new(name, Utc::now(), host)?;
            let taken = block_on(self.backend.list_objects(&id.path()))?;
            if taken.is_empty() {
                return Ok(id);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Deletes a set: the manifest first, so a deletion cut short leaves an incomplete set (which
    /// `cleanup_incomplete` removes), never a complete-looking set with objects missing.
    pub fn delete_set(&self, id: &SetId) -> Result<usize> {
        block_on(async {
            let manifest = format!("{}/{MANIFEST}", id.path());
            if self.backend.get_bytes(&manifest).await?.is_some() {
                self.backend.delete_prefix(&manifest).await?;
            }
            self.backend.delete_prefix(&id.path()).await
        })
    }

    /// What a retention policy does to the complete sets called `name`: each set with its
    /// verdict (newest first). Nothing is deleted here.
    pub fn retention(
        &self,
        name: &str,
        policy: &retention::Policy,
    ) -> Result<Vec<(SetInfo, retention::Verdict)>> {
        let complete: Vec<SetInfo> = self
            .list(name)?
            .into_iter()
            .filter(SetInfo::complete)
            .collect();
        let created: Vec<DateTime<Utc>> = complete.iter().map(|s| s.id.created).collect();
        let verdicts = policy.apply(&created)?;
        Ok(verdicts
            .into_iter()
            .map(|v| (complete[v.index].clone(), v))
            .collect())
    }

    /// Incomplete sets called `name` started more than `older_than` ago (younger ones may be
    /// backups still running).
    pub fn stale_incomplete(
        &self,
        name: &str,
        older_than: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<SetInfo>> {
        let limit = now - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
        Ok(self
            .list(name)?
            .into_iter()
            .filter(|s| !s.complete() && s.id.created < limit)
            .collect())
    }

    /// Age of the newest complete set, for RPO checks.
    pub fn latest_age(&self, name: &str, now: DateTime<Utc>) -> Result<Option<chrono::Duration>> {
        Ok(self.latest(name)?.map(|s| now - s.id.created))
    }
}
