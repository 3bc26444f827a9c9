//! The storage namespace: `key`, `archive`, `storage`, and the store methods `backup`, `list`,
//! `latest`, `find`, `verify`, `restore_files`, `prune`, `cleanup_incomplete`, `latest_age`.
//!
//! Backup sets reach scripts as plain maps (`#{ name, id, created, files, bytes, ... }`), so a
//! step that returns one is recorded in the journal and handed back on `--resume`. The value
//! conversions live in `storage_values.rs`.

use rhai::plugin::*;

pub use crate::bindings::storage_values::*;

/// Backup storage and encrypted file backups.
#[export_module]
pub mod storage_api {
    use rhai::{Dynamic, Map, NativeCallContext};

    use super::{context, script_path, set_map, ArchiveSource};
    use crate::bindings::options::Options;
    use crate::bindings::to_rhai;
    use crate::context::gate::Effect;
    use crate::context::output::bytes;
    use crate::context::secrets::Secret;
    use crate::error::Error;
    use crate::host::archive::{select, LogsSpec, SourceSpec};
    use crate::host::compress::Compression;
    use crate::host::store::backup::{backup_files, BackupOptions};
    use crate::host::store::restore::{restore_files, verify};
    use crate::host::store::SetInfo;

    type Res<T> = Result<T, Box<rhai::EvalAltResult>>;

    /// A backup store. Opened with `storage(url)`.
    pub type Store = crate::host::store::Store;

    /// An encryption key (32 bytes). Renders as `Key(id=…)`, never as its value.
    pub type Key = crate::host::crypto::Key;

    /// A lazy description of files to back up.
    pub type Archive = ArchiveSource;

    /// The encryption key held in a secret (base64 or hex of 32 bytes; `runbook keygen` makes
    /// one). A secret that is not a valid key is an error: encryption is never skipped.
    ///
    /// ```rhai
    /// let key = key(secret("BACKUP_ENCRYPTION_KEY"));
    /// ```
    #[rhai_fn(name = "key", return_raw)]
    pub fn key(secret: Secret) -> Res<Key> {
        Key::parse(secret.expose())
            .map_err(|e| to_rhai(e.context(format!("secret {}", secret.name()))))
    }

    /// A new random key, for scratch work such as the quickstart or a drill. Real backups use
    /// `key(secret(...))`: a generated key is gone when the run ends.
    ///
    /// ```rhai
    /// let scratch_key = generate_key();
    /// ```
    #[rhai_fn(name = "generate_key", return_raw)]
    pub fn generate_key() -> Res<Key> {
        Key::generate().map_err(to_rhai)
    }

    /// `Key(id=…)`: the key id, safe to show.
    #[rhai_fn(global, name = "to_string", name = "to_debug", pure)]
    pub fn key_to_string(key: &mut Key) -> String {
        format!("Key(id={})", hex::encode(key.id().as_bytes()))
    }

    /// The key id (hex), safe to show and recorded in each set's manifest.
    #[rhai_fn(global, get = "id", pure)]
    pub fn key_id(key: &mut Key) -> String {
        hex::encode(key.id().as_bytes())
    }

    /// Describes files to back up; nothing is read until a backup runs. Keys: `root` (folder the
    /// archive paths are relative to; default: the common parent of the paths), `paths` (files
    /// or folders), `logs` (`#{ dir, newer_than: "7d", pattern: "*.log" }`: recent log files),
    /// `exclude` (globs on archive paths). Relative paths are relative to the project folder
    /// unless `root` is given.
    ///
    /// ```rhai
    /// let source = archive(#{ root: "/srv/mt5", paths: [".env", "config"],
    ///                         logs: #{ dir: "logs", newer_than: "7d", pattern: "*.log" },
    ///                         exclude: ["*.tmp"] });
    /// ```
    #[rhai_fn(name = "archive", return_raw)]
    pub fn archive(call: NativeCallContext, spec: Map) -> Res<Archive> {
        let context = context(&call)?;
        let options = Options::new(
            "archive",
            spec.clone(),
            &["root", "paths", "logs", "exclude"],
        )
        .map_err(to_rhai)?;
        let root = options
            .string("root")
            .map_err(to_rhai)?
            .map(|r| script_path(&context, &r));
        let paths = options
            .strings("paths")
            .map_err(to_rhai)?
            .unwrap_or_default();
        let exclude = options
            .strings("exclude")
            .map_err(to_rhai)?
            .unwrap_or_default();
        let logs = match spec.get("logs").filter(|v| !v.is_unit()) {
            None => None,
            Some(value) => {
                let Some(map) = value.read_lock::<Map>() else {
                    return Err(to_rhai(Error::usage(
                        "archive: `logs` must be #{ dir, newer_than, pattern }",
                    )));
                };
                let logs = Options::new(
                    "archive logs",
                    map.clone(),
                    &["dir", "newer_than", "pattern"],
                )
                .map_err(to_rhai)?;
                let dir = logs
                    .string("dir")
                    .map_err(to_rhai)?
                    .ok_or_else(|| to_rhai(Error::usage("archive: `logs` needs a `dir`")))?;
                Some(LogsSpec {
                    dir: dir.into(),
                    newer_than: logs.duration("newer_than").map_err(to_rhai)?,
                    pattern: logs.string("pattern").map_err(to_rhai)?,
                })
            }
        };
        if paths.is_empty() && logs.is_none() {
            return Err(to_rhai(Error::usage(
                "archive: give `paths`, `logs`, or both",
            )));
        }
        let base = |p: String| {
            if root.is_some() {
                std::path::PathBuf::from(p)
            } else {
                script_path(&context, &p)
            }
        };
        Ok(ArchiveSource(SourceSpec {
            paths: paths.into_iter().map(base).collect(),
            logs: logs.map(|mut l| {
                l.dir = base(l.dir.display().to_string());
                l
            }),
            exclude,
            root,
        }))
    }

    /// Opens a backup store: `file:///var/backups` (or a plain folder path) or `memory://`.
    /// Opening reads nothing; the folder need not exist until the first backup.
    ///
    /// ```rhai
    /// let store = storage(env("BACKUP_STORE_URL"));
    /// ```
    #[rhai_fn(name = "storage", return_raw)]
    pub fn storage(call: NativeCallContext, url: &str) -> Res<Store> {
        storage_with(call, url, Map::new())
    }

    /// Opens an object-storage backup store `s3://bucket/prefix` (AWS S3, Supabase Storage,
    /// Cloudflare R2, MinIO, Hetzner Object Storage, any S3-compatible service). Options:
    /// `endpoint`, `region`, `access_key`, `secret_key`, `session_token` (credentials only as
    /// `secret(...)` values; without them the standard `AWS_*` environment is used),
    /// `allow_http` (for local servers), `virtual_hosted` (default: path-style),
    /// `retries` (default 6), `retry_timeout` (default `"90s"`), and `supabase_project` (a
    /// project ref: sets the Supabase Storage S3 endpoint; give `region` too). Unknown options
    /// are errors.
    ///
    /// ```rhai
    /// let store = storage("s3://backups/mt5", #{ supabase_project: env("SUPABASE_PROJECT_REF"),
    ///     region: env("SUPABASE_REGION"), access_key: secret("BACKUP_S3_KEY"),
    ///     secret_key: secret("BACKUP_S3_SECRET") });
    /// ```
    #[rhai_fn(name = "storage", return_raw)]
    pub fn storage_with(call: NativeCallContext, url: &str, options: Map) -> Res<Store> {
        let context = context(&call)?;
        let url = if url.contains("://") || std::path::Path::new(url).is_absolute() {
            url.to_string()
        } else {
            script_path(&context, url).display().to_string()
        };
        let options = super::store_options(options).map_err(to_rhai)?;
        // Opening reads nothing, but the handle reaches the world: an offline plan gets an
        // empty in-memory store instead.
        context
            .effect(
                Effect::Read,
                &format!("open store {url}"),
                || Store::open("memory://"),
                || Ok(Store::open_with(&url, &options)),
            )
            .and_then(|store| store)
            .map_err(to_rhai)
    }

    /// The store URL.
    #[rhai_fn(global, name = "to_string", name = "to_debug", pure)]
    pub fn store_to_string(store: &mut Store) -> String {
        format!("Store({})", store.url())
    }

    /// Backs up `source` as a new set called `name`, encrypted with `key`: tar → zstd →
    /// AES-256-GCM → SHA-256 → store, streaming; the manifest is written last. Returns the set.
    ///
    /// **Effect:** Write. A dry-run selects the files for real and reports their count and size.
    ///
    /// ```rhai
    /// let set = store.backup("app-data", source, key);
    /// ```
    #[rhai_fn(global, name = "backup", return_raw)]
    pub fn backup(
        call: NativeCallContext,
        store: &mut Store,
        name: &str,
        source: Archive,
        key: Key,
    ) -> Res<Map> {
        backup_with(call, store, name, source, key, Map::new())
    }

    /// Like `backup(name, source, key)` with options: `compression` (`"zstd"`, `"zstd:9"`,
    /// `"gzip"`, `"gzip:6"`).
    ///
    /// **Effect:** Write.
    ///
    /// ```rhai
    /// store.backup("app-data", source, key, #{ compression: "gzip" });
    /// ```
    #[rhai_fn(global, name = "backup", return_raw)]
    pub fn backup_with(
        call: NativeCallContext,
        store: &mut Store,
        name: &str,
        source: Archive,
        key: Key,
        options: Map,
    ) -> Res<Map> {
        let context = context(&call)?;
        let options = Options::new("backup options", options, &["compression"]).map_err(to_rhai)?;
        let compression = match options.string("compression").map_err(to_rhai)? {
            Some(text) => Compression::parse(&text).map_err(to_rhai)?,
            None => Compression::default(),
        };
        crate::host::store::layout::check_set_name(name).map_err(to_rhai)?;
        // Selecting files only reads, so it runs in a dry-run too.
        context.checkpoint().map_err(to_rhai)?;
        let selection = select(&source.0, std::time::SystemTime::now()).map_err(to_rhai)?;
        for warning in &selection.warnings {
            context.log("warn", warning);
        }
        let action = format!(
            "back up {} files ({}) from {} to {} as set \"{name}\"",
            selection.files,
            bytes(selection.bytes),
            selection.root.display(),
            store.url()
        );
        let host = gethostname::gethostname().to_string_lossy().to_string();
        let store_ref = &*store;
        context
            .effect(
                Effect::Write,
                &action,
                || {
                    let mut m = Map::new();
                    m.insert("name".into(), name.into());
                    m.insert("id".into(), "(dry-run: not created)".into());
                    m.insert("url".into(), store_ref.url().into());
                    m.insert("complete".into(), false.into());
                    m.insert("files".into(), (selection.files as rhai::INT).into());
                    m.insert("bytes".into(), (selection.bytes as rhai::INT).into());
                    m
                },
                || {
                    let manifest = backup_files(
                        store_ref,
                        name,
                        &selection,
                        &key,
                        &BackupOptions {
                            compression,
                            runbook: None,
                            host: host.clone(),
                        },
                        &context.control(),
                    )?;
                    let id = crate::host::store::layout::SetId::parse(name, &manifest.id)
                        .expect("a set id we just made parses");
                    Ok(set_map(
                        store_ref,
                        &SetInfo {
                            id,
                            manifest: Some(manifest),
                        },
                    ))
                },
            )
            .map_err(to_rhai)
    }

    /// Every set called `name`, oldest first, including incomplete ones (`complete: false`:
    /// a backup that did not finish).
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// for set in store.list("app-data") { log(`${set.id} complete=${set.complete}`); }
    /// ```
    #[rhai_fn(global, name = "list", return_raw)]
    pub fn list(store: &mut Store, name: &str) -> Res<rhai::Array> {
        let sets = store.list(name).map_err(to_rhai)?;
        Ok(sets
            .iter()
            .map(|s| Dynamic::from_map(set_map(store, s)))
            .collect())
    }

    /// The newest complete set called `name`, or `()` when there is none.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let newest = store.latest("app-data");
    /// ```
    #[rhai_fn(global, name = "latest", return_raw)]
    pub fn latest(store: &mut Store, name: &str) -> Res<Dynamic> {
        Ok(match store.latest(name).map_err(to_rhai)? {
            Some(set) => Dynamic::from_map(set_map(store, &set)),
            None => Dynamic::UNIT,
        })
    }

    /// The complete set called `name` with id `id` (e.g. `2026-12-04T020000Z-vps1`), or the
    /// newest with `"latest"`. Fails, listing what exists, when there is no such set.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let set = store.find("app-data", param("set"));
    /// ```
    #[rhai_fn(global, name = "find", return_raw)]
    pub fn find(store: &mut Store, name: &str, id: &str) -> Res<Map> {
        let set = store.find(name, id).map_err(to_rhai)?;
        Ok(set_map(store, &set))
    }

    /// How old the newest complete set called `name` is, for RPO checks:
    /// `#{ id, created, seconds, hours, text }`, or `()` when there is no complete set.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let age = store.latest_age("app-data");
    /// if age == () || age.hours >= 24 { target_missed("app-data backup older than the 24h RPO"); }
    /// ```
    #[rhai_fn(global, name = "latest_age", return_raw)]
    pub fn latest_age(store: &mut Store, name: &str) -> Res<Dynamic> {
        let Some(set) = store.latest(name).map_err(to_rhai)? else {
            return Ok(Dynamic::UNIT);
        };
        let age = (chrono::Utc::now() - set.id.created).max(chrono::Duration::zero());
        let seconds = age.num_seconds();
        let mut m = Map::new();
        m.insert("id".into(), set.id.dir().into());
        m.insert("created".into(), set.id.created.to_rfc3339().into());
        m.insert("seconds".into(), (seconds as rhai::INT).into());
        m.insert("hours".into(), (seconds as rhai::FLOAT / 3600.0).into());
        m.insert(
            "text".into(),
            crate::context::output::short_duration(std::time::Duration::from_secs(seconds as u64))
                .into(),
        );
        Ok(Dynamic::from_map(m))
    }

    /// Deletes whole sets called `name` that no retention rule keeps: `keep_last` (N newest),
    /// `keep_within` (e.g. `"30d"` before the newest set), `keep_daily`, `keep_weekly`,
    /// `keep_monthly` (newest set of each of the last N days/weeks/months). The newest complete
    /// set is never deleted; incomplete sets are left to `cleanup_incomplete`. Returns
    /// `#{ deleted: [ids], kept: [#{ id, reasons }] }`.
    ///
    /// **Effect:** Destructive (the plan names every set that goes and why each kept set stays).
    ///
    /// ```rhai
    /// store.prune("app-data", #{ keep_within: "30d", keep_last: 7 });
    /// ```
    #[rhai_fn(global, name = "prune", return_raw)]
    pub fn prune(call: NativeCallContext, store: &mut Store, name: &str, policy: Map) -> Res<Map> {
        let context = context(&call)?;
        let options = Options::new(
            "prune policy",
            policy,
            &[
                "keep_last",
                "keep_within",
                "keep_daily",
                "keep_weekly",
                "keep_monthly",
            ],
        )
        .map_err(to_rhai)?;
        let count = |key: &str| -> Result<Option<usize>, Box<rhai::EvalAltResult>> {
            match options.int(key).map_err(to_rhai)? {
                Some(n) if n < 0 => Err(to_rhai(Error::usage(format!(
                    "prune policy: `{key}` cannot be negative"
                )))),
                other => Ok(other.map(|n| n as usize)),
            }
        };
        let policy = crate::host::store::retention::Policy {
            keep_last: count("keep_last")?,
            keep_within: options.duration("keep_within").map_err(to_rhai)?,
            keep_daily: count("keep_daily")?,
            keep_weekly: count("keep_weekly")?,
            keep_monthly: count("keep_monthly")?,
        };
        let verdicts = store.retention(name, &policy).map_err(to_rhai)?;
        let mut kept = rhai::Array::new();
        let mut doomed = Vec::new();
        for (set, verdict) in &verdicts {
            if verdict.keep() {
                let mut m = Map::new();
                m.insert("id".into(), set.id.dir().into());
                m.insert(
                    "reasons".into(),
                    verdict
                        .reasons
                        .iter()
                        .cloned()
                        .map(Dynamic::from)
                        .collect::<rhai::Array>()
                        .into(),
                );
                kept.push(m.into());
            } else {
                doomed.push(set.id.clone());
            }
        }
        let result = |deleted: &[crate::host::store::layout::SetId]| {
            let mut m = Map::new();
            m.insert(
                "deleted".into(),
                deleted
                    .iter()
                    .map(|id| Dynamic::from(id.dir()))
                    .collect::<rhai::Array>()
                    .into(),
            );
            m.insert("kept".into(), kept.clone().into());
            m
        };
        if doomed.is_empty() {
            context.log(
                "info",
                &format!(
                    "prune \"{name}\": nothing to delete ({} sets kept)",
                    verdicts.len()
                ),
            );
            return Ok(result(&[]));
        }
        let kept_text: Vec<String> = verdicts
            .iter()
            .filter(|(_, v)| v.keep())
            .map(|(s, v)| format!("{} ({})", s.id.dir(), v.reasons.join(", ")))
            .collect();
        let action = format!(
            "delete {} set(s) of \"{name}\" from {}: {}; keeping {}",
            doomed.len(),
            store.url(),
            doomed
                .iter()
                .map(|id| id.dir())
                .collect::<Vec<_>>()
                .join(", "),
            kept_text.join("; ")
        );
        context
            .effect(
                Effect::Destructive,
                &action,
                || result(&doomed),
                || {
                    let _lock = super::maintenance_lock(store, name, &context)?;
                    for id in &doomed {
                        context.checkpoint()?;
                        store.delete_set(id)?;
                    }
                    Ok(result(&doomed))
                },
            )
            .map_err(to_rhai)
    }

    /// Deletes incomplete sets called `name` (backups that never finished, so no manifest)
    /// started more than `older_than` ago (e.g. `"1d"`; younger ones may still be running).
    /// Returns the deleted ids.
    ///
    /// **Effect:** Destructive.
    ///
    /// ```rhai
    /// store.cleanup_incomplete("app-data", "1d");
    /// ```
    #[rhai_fn(global, name = "cleanup_incomplete", return_raw)]
    pub fn cleanup_incomplete(
        call: NativeCallContext,
        store: &mut Store,
        name: &str,
        older_than: &str,
    ) -> Res<rhai::Array> {
        let context = context(&call)?;
        let older_than = crate::engine::metadata::parse_duration("cleanup_incomplete", older_than)
            .map_err(to_rhai)?;
        let stale = store
            .stale_incomplete(name, older_than, chrono::Utc::now())
            .map_err(to_rhai)?;
        let ids: rhai::Array = stale.iter().map(|s| Dynamic::from(s.id.dir())).collect();
        if stale.is_empty() {
            return Ok(ids);
        }
        let action = format!(
            "delete {} incomplete set(s) of \"{name}\" from {}: {}",
            stale.len(),
            store.url(),
            stale
                .iter()
                .map(|s| s.id.dir())
                .collect::<Vec<_>>()
                .join(", ")
        );
        context
            .effect(
                Effect::Destructive,
                &action,
                || ids.clone(),
                || {
                    let _lock = super::maintenance_lock(store, name, &context)?;
                    for set in &stale {
                        store.delete_set(&set.id)?;
                    }
                    Ok(ids.clone())
                },
            )
            .map_err(to_rhai)
    }

    /// Reads a set back and checks everything — stored checksums, every encrypted segment,
    /// every file's SHA-256 against the manifest — without extracting. `key` may be one key or an
    /// array of keys (rotation). Returns `#{ objects, stored_bytes, files, file_bytes }`.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// store.verify(set, key);
    /// ```
    #[rhai_fn(global, name = "verify", return_raw)]
    pub fn verify_set(
        call: NativeCallContext,
        store: &mut Store,
        set: Dynamic,
        key: Dynamic,
    ) -> Res<Map> {
        let context = context(&call)?;
        let (id, keys, manifest) = super::open_set(store, &set, &key).map_err(to_rhai)?;
        let report = verify(store, &id, &manifest, &keys, &context.control()).map_err(to_rhai)?;
        let mut m = Map::new();
        m.insert("objects".into(), (report.objects as rhai::INT).into());
        m.insert(
            "stored_bytes".into(),
            (report.stored_bytes as rhai::INT).into(),
        );
        m.insert("files".into(), (report.files as rhai::INT).into());
        m.insert("file_bytes".into(), (report.file_bytes as rhai::INT).into());
        Ok(m)
    }

    /// Like `verify(set, key)` with options: `sample` (e.g. `"10%"`) authenticates that share
    /// of each object's encrypted segments — always the first and the last — with ranged reads,
    /// instead of reading everything back; it does not check per-file checksums. Returns
    /// `#{ objects, checked_segments, total_segments, bytes_read }`.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// store.verify(set, key, #{ sample: "10%" });
    /// ```
    #[rhai_fn(global, name = "verify", return_raw)]
    pub fn verify_sampled(
        call: NativeCallContext,
        store: &mut Store,
        set: Dynamic,
        key: Dynamic,
        options: Map,
    ) -> Res<Map> {
        let context = context(&call)?;
        let options = Options::new("verify options", options, &["sample"]).map_err(to_rhai)?;
        let Some(sample) = options.string("sample").map_err(to_rhai)? else {
            return verify_set(call, store, set, key);
        };
        let fraction = crate::host::store::sample::parse_fraction(&sample).map_err(to_rhai)?;
        let (id, keys, manifest) = super::open_set(store, &set, &key).map_err(to_rhai)?;
        let (mut checked, mut total, mut bytes_read) = (0usize, 0usize, 0u64);
        for object in &manifest.objects {
            let report = crate::host::store::sample::sample_object(
                store.backend(),
                &format!("{}/{}", id.path(), object.name),
                object,
                &keys,
                fraction,
                &context.control(),
            )
            .map_err(to_rhai)?;
            checked += report.checked;
            total += report.total;
            bytes_read += report.bytes_read;
        }
        let mut m = Map::new();
        m.insert(
            "objects".into(),
            (manifest.objects.len() as rhai::INT).into(),
        );
        m.insert("checked_segments".into(), (checked as rhai::INT).into());
        m.insert("total_segments".into(), (total as rhai::INT).into());
        m.insert("bytes_read".into(), (bytes_read as rhai::INT).into());
        Ok(m)
    }

    /// Restores a files set into `target`: extracts into a staging folder beside it, verifies
    /// every file against the manifest, then swaps the files into place, keeping replaced files
    /// in `<target>.pre-restore-<timestamp>`. Files in `target` that the set does not hold are
    /// left alone. On any failure the target is left exactly as it was. Returns
    /// `#{ files, bytes, replaced, aside }`.
    ///
    /// **Effect:** Destructive when it replaces existing files, else Write. A dry-run reads the
    /// manifest and checks the key, and reports what would be restored and replaced.
    ///
    /// ```rhai
    /// store.restore_files(set, key, "/srv/mt5");
    /// ```
    #[rhai_fn(global, name = "restore_files", return_raw)]
    pub fn restore_files_into(
        call: NativeCallContext,
        store: &mut Store,
        set: Dynamic,
        key: Dynamic,
        target: &str,
    ) -> Res<Map> {
        restore_files_with(call, store, set, key, target, Map::new())
    }

    /// Like `restore_files(set, key, target)` with options: `only` (archive paths or folders to
    /// restore, e.g. `[".env", "config"]`).
    ///
    /// **Effect:** Destructive when it replaces existing files, else Write.
    ///
    /// ```rhai
    /// store.restore_files(set, key, "/srv/mt5", #{ only: [".env"] });
    /// ```
    #[rhai_fn(global, name = "restore_files", return_raw)]
    pub fn restore_files_with(
        call: NativeCallContext,
        store: &mut Store,
        set: Dynamic,
        key: Dynamic,
        target: &str,
        options: Map,
    ) -> Res<Map> {
        let context = context(&call)?;
        let options = Options::new("restore options", options, &["only"]).map_err(to_rhai)?;
        let only = options.strings("only").map_err(to_rhai)?;
        let (id, keys, manifest) = super::open_set(store, &set, &key).map_err(to_rhai)?;
        let set_url = store.backend().describe(&id.path());
        let target_path = script_path(&context, target);
        let selected: Vec<&crate::host::archive::FileRecord> = manifest
            .files
            .iter()
            .filter(|f| match &only {
                None => true,
                Some(only) => only
                    .iter()
                    .any(|o| f.path == *o || f.path.starts_with(&format!("{o}/"))),
            })
            .collect();
        let files = selected.iter().filter(|f| f.kind == "file").count();
        let size: u64 = selected.iter().map(|f| f.size).sum();
        let replaced = selected
            .iter()
            .filter(|f| f.kind != "dir" && target_path.join(&f.path).symlink_metadata().is_ok())
            .count();
        let (effect, action) = if replaced > 0 {
            (
                Effect::Destructive,
                format!(
                    "restore {files} files ({}) from set {set_url} into {}, replacing {replaced} existing (kept aside)",
                    bytes(size),
                    target_path.display()
                ),
            )
        } else {
            (
                Effect::Write,
                format!(
                    "restore {files} files ({}) from set {set_url} into {}",
                    bytes(size),
                    target_path.display()
                ),
            )
        };
        context
            .effect(
                effect,
                &action,
                || {
                    let mut m = Map::new();
                    m.insert("files".into(), (files as rhai::INT).into());
                    m.insert("bytes".into(), (size as rhai::INT).into());
                    m.insert("replaced".into(), (replaced as rhai::INT).into());
                    m.insert("aside".into(), Dynamic::UNIT);
                    m
                },
                || {
                    let report = restore_files(
                        store,
                        &id,
                        &manifest,
                        &keys,
                        &target_path,
                        only.clone(),
                        &context.control(),
                    )?;
                    for w in report.warnings.iter().chain(&report.promoted.warnings) {
                        context.log("warn", w);
                    }
                    let mut m = Map::new();
                    m.insert("files".into(), (report.extracted.files as rhai::INT).into());
                    m.insert("bytes".into(), (report.extracted.bytes as rhai::INT).into());
                    m.insert(
                        "replaced".into(),
                        (report.promoted.moved_aside.len() as rhai::INT).into(),
                    );
                    m.insert(
                        "aside".into(),
                        match &report.promoted.aside {
                            Some(p) => p.display().to_string().into(),
                            None => Dynamic::UNIT,
                        },
                    );
                    Ok(m)
                },
            )
            .map_err(to_rhai)
    }
}
