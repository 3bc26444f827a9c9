//! Values the storage namespace passes in and out: set maps, set references, keys (with the
//! check that they open a set), store options, the archive description, and the store-level
//! maintenance lock. Kept apart from `storage.rs`, which holds only the script functions.

use std::path::PathBuf;
use std::rc::Rc;

use rhai::{Array, Dynamic, EvalAltResult, Map, NativeCallContext};

use crate::context::RunContext;
use crate::error::{Error, Result};
use crate::host::archive::SourceSpec;
use crate::host::crypto::Key;
use crate::host::store::layout::SetId;
use crate::host::store::manifest::Manifest;
use crate::host::store::{SetInfo, Store};

/// A lazy description of files to back up, from `archive(#{...})`.
#[derive(Clone)]
pub struct ArchiveSource(pub SourceSpec);

/// A set as the script sees it.
pub fn set_map(store: &Store, info: &SetInfo) -> Map {
    let mut m = Map::new();
    m.insert("name".into(), info.id.name.clone().into());
    m.insert("id".into(), info.id.dir().into());
    m.insert(
        "url".into(),
        store.backend().describe(&info.id.path()).into(),
    );
    m.insert("created".into(), info.id.created.to_rfc3339().into());
    m.insert("host".into(), info.id.host.clone().into());
    m.insert("complete".into(), info.complete().into());
    if let Some(manifest) = &info.manifest {
        add_manifest_fields(&mut m, manifest);
    }
    m
}

fn add_manifest_fields(m: &mut Map, manifest: &Manifest) {
    m.insert("kind".into(), manifest.kind.clone().into());
    m.insert("files".into(), (manifest.file_count() as rhai::INT).into());
    m.insert("bytes".into(), (manifest.file_bytes() as rhai::INT).into());
    m.insert(
        "stored_bytes".into(),
        (manifest.stored_bytes() as rhai::INT).into(),
    );
    m.insert("key_id".into(), manifest.key_id.clone().into());
    if let Some(database) = &manifest.database {
        let summary = crate::bindings::postgres_values::catalog_summary(&database.catalog);
        m.extend(summary);
        m.insert(
            "server_version".into(),
            database.catalog.server_version.clone().into(),
        );
    }
}

/// The set a script refers to: a set map (from `find`, `latest`, `backup`) or an id string
/// together with a set name.
pub fn set_id_of(set: &Dynamic) -> Result<SetId> {
    let bad = || {
        Error::usage(
            "expected a backup set (the map returned by store.find / store.latest / store.backup)",
        )
    };
    let map = set.read_lock::<Map>().ok_or_else(bad)?;
    let name = map.get("name").map(|v| v.to_string()).ok_or_else(bad)?;
    let id = map.get("id").map(|v| v.to_string()).ok_or_else(bad)?;
    SetId::parse(&name, &id).ok_or_else(|| {
        Error::usage(format!(
            "\"{id}\" is not a backup set id (sets are named like 2026-12-04T020000Z-host)"
        ))
    })
}

/// One key or an array of keys (rotation: the set's key id picks the right one).
pub fn keys_of(value: &Dynamic) -> Result<Vec<Key>> {
    if let Some(key) = value.read_lock::<Key>() {
        return Ok(vec![key.clone()]);
    }
    if let Some(items) = value.read_lock::<Array>() {
        let keys: Option<Vec<Key>> = items
            .iter()
            .map(|k| k.read_lock::<Key>().map(|k| k.clone()))
            .collect();
        if let Some(keys) = keys.filter(|k| !k.is_empty()) {
            return Ok(keys);
        }
    }
    Err(Error::usage(
        "expected an encryption key from key(secret(\"NAME\")), or an array of them",
    ))
}

/// Fails early (also in a dry-run) when none of `keys` can open `manifest`.
pub fn check_key_matches(keys: &[Key], manifest: &Manifest, set: &str) -> Result<()> {
    if keys
        .iter()
        .any(|k| hex::encode(k.id().as_bytes()) == manifest.key_id)
    {
        return Ok(());
    }
    let ids: Vec<String> = keys
        .iter()
        .map(|k| hex::encode(k.id().as_bytes()))
        .collect();
    Err(Error::failed(format!(
        "wrong key for set {set}: it was encrypted with key id {}, and the keys given have ids {}",
        manifest.key_id,
        ids.join(", ")
    ))
    .with_hint("supply the key that made this backup (an older key, if keys were rotated)"))
}

/// Decodes `storage(url, #{...})` options; credentials must be `Secret` values.
pub fn store_options(map: Map) -> Result<crate::host::store::backend::StoreOptions> {
    use crate::bindings::options::Options;
    use crate::context::secrets::Secret;
    const KEYS: &[&str] = &[
        "endpoint",
        "region",
        "access_key",
        "secret_key",
        "session_token",
        "allow_http",
        "virtual_hosted",
        "retries",
        "retry_timeout",
        "supabase_project",
    ];
    let secret = |key: &str| -> Result<Option<Secret>> {
        match map.get(key).filter(|v| !v.is_unit()) {
            None => Ok(None),
            Some(v) => v.read_lock::<Secret>().map(|s| Some(s.clone())).ok_or_else(|| {
                Error::usage(format!(
                    "storage option `{key}` must come from secret(\"NAME\"), not from the script text"
                ))
                .with_hint("put the value in .env or the environment and write secret(\"NAME\")")
            }),
        }
    };
    let access_key = secret("access_key")?;
    let secret_key = secret("secret_key")?;
    let session_token = secret("session_token")?;
    let options = Options::new("storage options", map, KEYS)?;
    Ok(crate::host::store::backend::StoreOptions {
        endpoint: options.string("endpoint")?,
        region: options.string("region")?,
        access_key,
        secret_key,
        session_token,
        allow_http: options.bool("allow_http")?.unwrap_or(false),
        virtual_hosted: options.bool("virtual_hosted")?.unwrap_or(false),
        retries: options.int("retries")?.map(|n| n.max(0) as usize),
        retry_timeout: options.duration("retry_timeout")?,
        supabase_project: options.string("supabase_project")?,
    })
}

/// The set a script names, its manifest, and the keys given — checked to open it (also in a
/// dry-run, so a wrong key shows up before the incident, not during it).
pub fn open_set(
    store: &Store,
    set: &Dynamic,
    key: &Dynamic,
) -> Result<(SetId, Vec<Key>, Manifest)> {
    let id = set_id_of(set)?;
    let keys = keys_of(key)?;
    let info = store.find(&id.name, &id.dir())?;
    let manifest = info.manifest.expect("find returns complete sets");
    check_key_matches(&keys, &manifest, &store.backend().describe(&id.path()))?;
    Ok((id, keys, manifest))
}

/// Takes the store-level maintenance lock of set `name` for this run.
pub fn maintenance_lock(
    store: &Store,
    name: &str,
    context: &RunContext,
) -> Result<crate::host::store::lock::StoreLock> {
    let holder = format!(
        "{} (pid {}, run {})",
        gethostname::gethostname().to_string_lossy(),
        std::process::id(),
        context.run_id()
    );
    crate::host::store::lock::StoreLock::acquire(
        store.backend(),
        name,
        &holder,
        std::time::Duration::from_secs(3600),
    )
}

/// The run's context for a binding.
pub fn context(
    call: &NativeCallContext,
) -> std::result::Result<Rc<RunContext>, Box<EvalAltResult>> {
    crate::bindings::run_context(call)
}

/// Resolves a script path: relative paths are relative to the project folder.
pub fn script_path(context: &RunContext, path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        p
    } else {
        context.workdir().join(p)
    }
}
