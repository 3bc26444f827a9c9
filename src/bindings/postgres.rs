//! The Postgres namespace: `postgres(url)` handles, read-only queries and catalog reads, lazy
//! `db.dump(...)` sources for `store.backup`, and `db.restore(...)` with verification.
//!
//! Catalog values reach scripts as plain maps (`#{ schema, name, rls, rows }`, policies as
//! `pg_policies` shows them), so a step returning them is journaled and resumable. The value
//! conversions live in `postgres_values.rs`.

use rhai::plugin::*;

pub use crate::bindings::postgres_values::*;

/// Postgres databases.
#[export_module]
pub mod postgres_api {
    use rhai::{Array, Dynamic, Map, NativeCallContext};

    use super::{
        catalog_summary, json_to_dynamic, open_database, params_of, policies_array, read_catalog,
        roles_array, tables_array, DumpSource,
    };
    use crate::bindings::options::Options;
    use crate::bindings::storage::{context, open_set, set_map};
    use crate::bindings::to_rhai;
    use crate::context::gate::Effect;
    use crate::context::secrets::Secret;
    use crate::error::Error;
    use crate::host::compress::Compression;
    use crate::host::crypto::Key;
    use crate::host::postgres::dump::{backup_database, DumpFormat, DumpOptions};
    use crate::host::postgres::restore::{
        inspect_target, restore_database, verify_database, RestoreOptions, TargetState,
    };
    use crate::host::store::backup::BackupOptions;
    use crate::host::store::layout::SetId;
    use crate::host::store::{SetInfo, Store};

    type Res<T> = Result<T, Box<rhai::EvalAltResult>>;

    /// A Postgres database, from `postgres(url)`. Renders as its URL without the password.
    pub type Database = crate::host::postgres::Database;

    /// A lazy dump of a database, from `db.dump(...)`, for `store.backup`.
    pub type DatabaseDump = DumpSource;

    /// A database handle from a connection URL held in a secret, e.g.
    /// `postgres://postgres:PASSWORD@db.<ref>.supabase.co:5432/postgres?sslmode=require`.
    /// `sslmode` works as in libpq (`require` encrypts; `verify-full` also checks the
    /// certificate, against `sslrootcert` when given). Nothing is contacted until it is used.
    ///
    /// ```rhai
    /// let db = postgres(secret("DATABASE_URL"));
    /// ```
    #[rhai_fn(name = "postgres", return_raw)]
    pub fn postgres_secret(call: NativeCallContext, url: Secret) -> Res<Database> {
        open_database(&call, url.expose(), Map::new())
            .map_err(|e| to_rhai(Error::usage(format!("secret {}: {e}", url.name()))))
    }

    /// Like `postgres(url)` with options: `bin_dir` (the folder holding `pg_dump`, `psql`, ...,
    /// when they are not on PATH).
    ///
    /// ```rhai
    /// let db = postgres(secret("DATABASE_URL"), #{ bin_dir: "/usr/lib/postgresql/17/bin" });
    /// ```
    #[rhai_fn(name = "postgres", return_raw)]
    pub fn postgres_secret_with(
        call: NativeCallContext,
        url: Secret,
        options: Map,
    ) -> Res<Database> {
        open_database(&call, url.expose(), options)
            .map_err(|e| to_rhai(Error::usage(format!("secret {}: {e}", url.name()))))
    }

    /// A database handle from a URL written in the script. Only for URLs without a password
    /// (a password belongs in a secret: `postgres(secret("DATABASE_URL"))`).
    ///
    /// ```rhai
    /// let scratch = postgres("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable");
    /// ```
    #[rhai_fn(name = "postgres", return_raw)]
    pub fn postgres_url(call: NativeCallContext, url: &str) -> Res<Database> {
        postgres_url_with(call, url, Map::new())
    }

    /// Like `postgres(url)` with options (`bin_dir`).
    #[rhai_fn(name = "postgres", return_raw)]
    pub fn postgres_url_with(call: NativeCallContext, url: &str, options: Map) -> Res<Database> {
        let db = open_database(&call, url, options)?;
        if db.spec.password().is_some() {
            return Err(to_rhai(
                Error::usage("the database URL in the script contains a password")
                    .with_hint("put the URL in the environment or .env and use postgres(secret(\"DATABASE_URL\"))"),
            ));
        }
        Ok(db)
    }

    /// The URL without the password.
    #[rhai_fn(global, name = "to_string")]
    pub fn database_to_string(db: &mut Database) -> String {
        db.spec.display()
    }

    /// The database name.
    #[rhai_fn(global, get = "name", return_raw)]
    pub fn database_name(db: &mut Database) -> Res<String> {
        db.spec.database().map_err(to_rhai)
    }

    /// A handle on another database of the same server, with the same credentials (e.g. a
    /// scratch database a drill restored into). Nothing is contacted until it is used.
    ///
    /// ```rhai
    /// let scratch = db.database("drill_20261204");
    /// let check = scratch.compare_with(store, set);
    /// ```
    #[rhai_fn(global, name = "database", return_raw)]
    pub fn other_database(db: &mut Database, name: &str) -> Res<Database> {
        if name.trim().is_empty() {
            return Err(to_rhai(Error::usage("database(name): the name is empty")));
        }
        Ok(db.with_database(name))
    }

    /// Runs a read-only query and returns its rows as maps (column name → value). It runs in a
    /// read-only transaction, so it cannot change data, and runs in dry-runs too. At most
    /// 100,000 rows.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let rows = db.query("SELECT count(*) AS n FROM trades");
    /// log(`trades: ${rows[0].n}`);
    /// ```
    #[rhai_fn(global, name = "query", return_raw)]
    pub fn query(call: NativeCallContext, db: &mut Database, sql: &str) -> Res<Array> {
        query_with(call, db, sql, Array::new())
    }

    /// Like `query(sql)` with parameters `$1`, `$2`, ... (`()`, bools, numbers, strings).
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let rows = db.query("SELECT id FROM accounts WHERE login = $1", ["demo"]);
    /// ```
    #[rhai_fn(global, name = "query", return_raw)]
    pub fn query_with(
        call: NativeCallContext,
        db: &mut Database,
        sql: &str,
        params: Array,
    ) -> Res<Array> {
        let context = context(&call)?;
        let params = params_of(&params).map_err(to_rhai)?;
        let action = format!("query {}", db.spec.display());
        context
            .effect(Effect::Read, &action, Array::new, || {
                Ok(db
                    .query(sql, &params, &context.control())?
                    .into_iter()
                    .map(json_to_dynamic)
                    .collect())
            })
            .map_err(to_rhai)
    }

    /// Runs a statement that changes data and returns the number of rows affected.
    ///
    /// **Effect:** Write.
    ///
    /// ```rhai
    /// db.execute("UPDATE settings SET value = $1 WHERE key = 'maintenance'", ["on"]);
    /// ```
    #[rhai_fn(global, name = "execute", return_raw)]
    pub fn execute(
        call: NativeCallContext,
        db: &mut Database,
        sql: &str,
        params: Array,
    ) -> Res<rhai::INT> {
        let context = context(&call)?;
        let params = params_of(&params).map_err(to_rhai)?;
        let first_line = sql.trim().lines().next().unwrap_or_default();
        let action = format!("execute on {}: {first_line}", db.spec.display());
        context
            .effect(
                Effect::Write,
                &action,
                || 0,
                || Ok(db.execute(sql, &params, &context.control())? as rhai::INT),
            )
            .map_err(to_rhai)
    }

    /// Like `execute(sql, params)` without parameters.
    ///
    /// **Effect:** Write.
    #[rhai_fn(global, name = "execute", return_raw)]
    pub fn execute_plain(call: NativeCallContext, db: &mut Database, sql: &str) -> Res<rhai::INT> {
        execute(call, db, sql, Array::new())
    }

    /// The tables outside the system schemas: `#{ schema, name, rls, force_rls, rows }`, with
    /// exact row counts.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// for t in db.tables() { if !t.rls { warn(`${t.schema}.${t.name} has RLS off`); } }
    /// ```
    #[rhai_fn(global, name = "tables", return_raw)]
    pub fn tables(call: NativeCallContext, db: &mut Database) -> Res<Array> {
        Ok(tables_array(&read_catalog(&call, db, true)?.tables))
    }

    /// Exact row counts: a map from `"schema.table"` to its number of rows.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let counts = db.row_counts();
    /// log(`trades: ${counts["public.trades"]}`);
    /// ```
    #[rhai_fn(global, name = "row_counts", return_raw)]
    pub fn row_counts(call: NativeCallContext, db: &mut Database) -> Res<Map> {
        let catalog = read_catalog(&call, db, true)?;
        Ok(catalog
            .tables
            .iter()
            .filter_map(|t| {
                t.rows
                    .map(|n| (t.qualified().into(), Dynamic::from(n as rhai::INT)))
            })
            .collect())
    }

    /// Every row-level security policy (from `pg_policies`): `#{ schema, table, name,
    /// permissive, roles, command, using, with_check }`.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let policies = db.policies();
    /// ```
    #[rhai_fn(global, name = "policies", return_raw)]
    pub fn policies(call: NativeCallContext, db: &mut Database) -> Res<Array> {
        Ok(policies_array(&read_catalog(&call, db, false)?.policies))
    }

    /// The cluster's roles (without the built-in `pg_*` ones): `#{ name, login, bypass_rls,
    /// member_of }`.
    ///
    /// **Effect:** Read.
    #[rhai_fn(global, name = "roles", return_raw)]
    pub fn roles(call: NativeCallContext, db: &mut Database) -> Res<Array> {
        Ok(roles_array(&read_catalog(&call, db, false)?.roles))
    }

    /// The server version, e.g. `"15.8"`.
    ///
    /// **Effect:** Read.
    #[rhai_fn(global, name = "server_version", return_raw)]
    pub fn server_version(call: NativeCallContext, db: &mut Database) -> Res<String> {
        Ok(read_catalog(&call, db, false)?.server_version)
    }

    /// A lazy dump of the whole database (roles, schema with RLS policies, data) for
    /// `store.backup(name, dump, key)`. Nothing runs until the backup.
    ///
    /// ```rhai
    /// store.backup("database", db.dump(), key);
    /// ```
    #[rhai_fn(global, name = "dump", return_raw)]
    pub fn dump(db: &mut Database) -> Res<DatabaseDump> {
        dump_with(db, Map::new())
    }

    /// A lazy dump with options: `roles`, `schema`, `data` (bools, default true), `schemas`
    /// (only these), `exclude_schemas`, `format` (`"custom"`, default, restorable in parallel;
    /// or `"plain"` SQL), `supabase` (true: dump the way `supabase db dump` does — platform
    /// schemas left out of the schema, `auth`/`storage` data kept, roles without passwords),
    /// `compression` (`"zstd"`, `"zstd:9"`, `"gzip"`).
    ///
    /// ```rhai
    /// store.backup("database", db.dump(#{ supabase: true }), key);
    /// ```
    #[rhai_fn(global, name = "dump", return_raw)]
    pub fn dump_with(db: &mut Database, options: Map) -> Res<DatabaseDump> {
        let options = Options::new(
            "dump options",
            options,
            &[
                "roles",
                "schema",
                "data",
                "schemas",
                "exclude_schemas",
                "format",
                "supabase",
                "compression",
            ],
        )
        .map_err(to_rhai)?;
        let defaults = DumpOptions::default();
        let dump = DumpOptions {
            roles: options.bool("roles").map_err(to_rhai)?.unwrap_or(true),
            schema: options.bool("schema").map_err(to_rhai)?.unwrap_or(true),
            data: options.bool("data").map_err(to_rhai)?.unwrap_or(true),
            schemas: options
                .strings("schemas")
                .map_err(to_rhai)?
                .unwrap_or_default(),
            exclude_schemas: options
                .strings("exclude_schemas")
                .map_err(to_rhai)?
                .unwrap_or_default(),
            format: match options.string("format").map_err(to_rhai)? {
                Some(text) => DumpFormat::parse(&text).map_err(to_rhai)?,
                None => defaults.format,
            },
            supabase: options.bool("supabase").map_err(to_rhai)?.unwrap_or(false),
            compression: match options.string("compression").map_err(to_rhai)? {
                Some(text) => Compression::parse(&text).map_err(to_rhai)?,
                None => defaults.compression,
            },
        };
        crate::host::postgres::dump::plan_parts(&dump).map_err(to_rhai)?;
        Ok(DumpSource {
            db: db.clone(),
            options: dump,
        })
    }

    /// Backs up a database dump as a new set: `pg_dumpall --roles-only` and `pg_dump` stream
    /// through compression and encryption into the store, with no temporary file. The manifest
    /// (written last) records every table with its exact row count, RLS flags, every policy
    /// and role, read in the same snapshot as the dump. A failed dump leaves no set behind.
    /// In a dry-run the database is read (catalog, versions) and nothing is written.
    ///
    /// **Effect:** Write.
    ///
    /// ```rhai
    /// let set = store.backup("database", db.dump(), key);
    /// log(`${set.tables} tables, ${set.rows} rows`);
    /// ```
    #[rhai_fn(global, name = "backup", return_raw)]
    pub fn backup_dump(
        call: NativeCallContext,
        store: &mut Store,
        name: &str,
        source: DatabaseDump,
        key: Key,
    ) -> Res<Map> {
        let context = context(&call)?;
        crate::host::store::layout::check_set_name(name).map_err(to_rhai)?;
        let db = &source.db;
        // Read the catalog first (also in a dry-run): it proves the connection and the
        // credentials before the incident, and gives the plan real numbers.
        let catalog = read_catalog(&call, db, false)?;
        let parts: Vec<String> = crate::host::postgres::dump::plan_parts(&source.options)
            .map_err(to_rhai)?
            .iter()
            .map(|p| p.object.clone())
            .collect();
        let action = format!(
            "dump {} (PostgreSQL {}, {} tables, {} policies) to {} as set \"{name}\": {}",
            db.spec.display(),
            catalog.server_version,
            catalog.tables.len(),
            catalog.policies.len(),
            store.url(),
            parts.join(", ")
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
                    m.insert("kind".into(), "postgres".into());
                    m.insert("tables".into(), (catalog.tables.len() as rhai::INT).into());
                    m
                },
                || {
                    let manifest = backup_database(
                        db,
                        store_ref,
                        name,
                        &source.options,
                        &key,
                        &BackupOptions {
                            compression: source.options.compression,
                            runbook: None,
                            host: host.clone(),
                        },
                        &context.control(),
                    )?;
                    let id =
                        SetId::parse(name, &manifest.id).expect("a set id we just made parses");
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

    /// Restores a database set into the database named by `target_db` on this handle's server
    /// (default: the handle's own database), then verifies it against the manifest: every
    /// table, exact row count, RLS flag, policy and role. Differences are reported by name and
    /// fail the step. The target must be new (it is created) or empty; see the options form.
    ///
    /// **Effect:** Write (new or empty target); Destructive with `clean` on a non-empty one.
    ///
    /// ```rhai
    /// let report = db.restore(store, set, key);
    /// ```
    #[rhai_fn(global, name = "restore", return_raw)]
    pub fn restore(
        call: NativeCallContext,
        db: &mut Database,
        store: Store,
        set: Dynamic,
        key: Dynamic,
    ) -> Res<Map> {
        restore_with(call, db, store, set, key, Map::new())
    }

    /// Like `restore(store, set, key)` with options: `target_db` (database name; created when
    /// missing), `clean` (true: drop and recreate the set's objects in a non-empty target —
    /// Destructive, confirmed), `jobs` (parallel `pg_restore` jobs; above 1 the object is
    /// first written to a temporary file, removed afterwards), `owners` (false:
    /// `--no-owner --no-acl`), `temp_dir`. With `jobs` 1 (default) each part restores in one
    /// transaction, so a failure leaves nothing half-restored.
    ///
    /// **Effect:** Write (new or empty target); Destructive with `clean` on a non-empty one.
    ///
    /// ```rhai
    /// db.restore(store, set, key, #{ target_db: "drill_restore", jobs: 2 });
    /// ```
    #[rhai_fn(global, name = "restore", return_raw)]
    pub fn restore_with(
        call: NativeCallContext,
        db: &mut Database,
        store: Store,
        set: Dynamic,
        key: Dynamic,
        options: Map,
    ) -> Res<Map> {
        let context = context(&call)?;
        let options = Options::new(
            "restore options",
            options,
            &["target_db", "clean", "jobs", "owners", "temp_dir"],
        )
        .map_err(to_rhai)?;
        let restore_options = RestoreOptions {
            target_db: match options.string("target_db").map_err(to_rhai)? {
                Some(name) => name,
                None => db.spec.database().map_err(to_rhai)?,
            },
            clean: options.bool("clean").map_err(to_rhai)?.unwrap_or(false),
            jobs: options
                .int("jobs")
                .map_err(to_rhai)?
                .unwrap_or(1)
                .clamp(1, 64) as u32,
            owners: options.bool("owners").map_err(to_rhai)?.unwrap_or(true),
            temp_dir: options
                .string("temp_dir")
                .map_err(to_rhai)?
                .map(std::path::PathBuf::from),
        };
        // The key is checked against the set before anything else: a wrong key restores
        // nothing and touches no database.
        let (id, keys, manifest) = open_set(&store, &set, &key).map_err(to_rhai)?;
        let set_url = store.backend().describe(&id.path());
        let Some(record) = manifest.database.as_ref() else {
            return Err(to_rhai(
                Error::usage(format!(
                    "set {set_url} holds a {} backup, not a database",
                    manifest.kind
                ))
                .with_hint("pick a set made by store.backup(name, db.dump(), key)"),
            ));
        };
        let target = restore_options.target_db.clone();
        let state = context
            .effect(
                Effect::Read,
                &format!("inspect database {target}"),
                || TargetState::Missing,
                || inspect_target(db, &target, &manifest, &context.control()),
            )
            .map_err(to_rhai)?;
        let summary = format!(
            "{} tables, {} rows, {} policies",
            record.catalog.tables.len(),
            record.catalog.total_rows(),
            record.catalog.policies.len()
        );
        let (effect, action) = match &state {
            TargetState::Missing => (
                Effect::Write,
                format!("create database {target} and restore set {set_url} into it ({summary})"),
            ),
            TargetState::Empty => (
                Effect::Write,
                format!("restore set {set_url} into the empty database {target} ({summary})"),
            ),
            TargetState::NotEmpty { relations, example } => {
                if !restore_options.clean {
                    return Err(to_rhai(
                        Error::usage(format!(
                            "database {target} is not empty ({relations} tables, views or sequences, e.g. {example}); nothing was restored"
                        ))
                        .with_hint("restore into a new database with target_db, or pass clean: true to replace the set's objects (Destructive)"),
                    ));
                }
                (
                    Effect::Destructive,
                    format!(
                        "replace the objects of set {set_url} in database {target}, which holds {relations} tables, views or sequences ({summary})"
                    ),
                )
            }
        };
        context
            .effect(
                effect,
                &action,
                || {
                    let mut m = Map::new();
                    m.insert("database".into(), target.clone().into());
                    m.insert("verified".into(), false.into());
                    m
                },
                || {
                    let report = restore_database(
                        db,
                        &store,
                        &id,
                        &manifest,
                        &keys,
                        &restore_options,
                        &state,
                        &context.control(),
                    )?;
                    if !report.differences.is_empty() {
                        return Err(Error::failed(format!(
                            "database {} was restored but does not match set {set_url}:\n  {}",
                            report.database,
                            report.differences.join("\n  ")
                        ))
                        .with_hint("investigate before switching over; the restored database is kept for inspection"));
                    }
                    let mut m = catalog_summary(&report.catalog);
                    m.insert("database".into(), report.database.into());
                    m.insert("created".into(), report.created.into());
                    m.insert("parts".into(), (report.parts as rhai::INT).into());
                    m.insert("verified".into(), true.into());
                    Ok(m)
                },
            )
            .map_err(to_rhai)
    }

    /// Compares this database with what a set recorded at dump time (tables, exact row counts,
    /// RLS flags, policies) without changing anything. Returns `#{ ok, differences, tables,
    /// rows, policies }`.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let check = db.compare_with(store, set);
    /// if !check.ok { warn(check.differences); }
    /// ```
    #[rhai_fn(global, name = "compare_with", return_raw)]
    pub fn compare_with(
        call: NativeCallContext,
        db: &mut Database,
        store: Store,
        set: Dynamic,
    ) -> Res<Map> {
        let context = context(&call)?;
        let id = crate::bindings::storage::set_id_of(&set).map_err(to_rhai)?;
        let info = store.find(&id.name, &id.dir()).map_err(to_rhai)?;
        let manifest = info.manifest.expect("find returns complete sets");
        let Some(record) = manifest.database.as_ref() else {
            return Err(to_rhai(Error::usage(format!(
                "set {} holds a {} backup, not a database",
                id.dir(),
                manifest.kind
            ))));
        };
        let action = format!("compare {} with set {}", db.spec.display(), id.dir());
        context
            .effect(Effect::Read, &action, Map::new, || {
                let (catalog, differences) =
                    verify_database(db, record, false, &context.control())?;
                let mut m = catalog_summary(&catalog);
                m.insert("ok".into(), differences.is_empty().into());
                m.insert(
                    "differences".into(),
                    differences
                        .into_iter()
                        .map(Dynamic::from)
                        .collect::<Array>()
                        .into(),
                );
                Ok(m)
            })
            .map_err(to_rhai)
    }
}
