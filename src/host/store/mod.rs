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
pub mod manifest;
pub mod restore;

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

    /// Age of the newest complete set, for RPO checks.
    pub fn latest_age(&self, name: &str, now: DateTime<Utc>) -> Result<Option<chrono::Duration>> {
        Ok(self.latest(name)?.map(|s| now - s.id.created))
    }
}
