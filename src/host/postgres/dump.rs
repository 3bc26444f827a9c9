//! Streamed database dumps into a backup set: `pg_dumpall --roles-only` and `pg_dump` write to
//! stdout, which flows through compression → encryption → upload with no temporary file. The
//! tool's exit status decides: a failed dump aborts the upload, removes what the set had so far
//! and never writes a manifest.
//!
//! Consistency: before dumping, one connection opens a repeatable-read transaction, exports its
//! snapshot and records the catalog (tables with exact row counts, RLS flags, policies, roles);
//! every `pg_dump` then runs with `--snapshot`, so the recorded counts are exactly what the dump
//! holds even while the application keeps writing.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::catalog::{read_catalog, Catalog, SchemaFilter};
use super::tools::{pump, Running, Tool};
use super::Database;
use crate::context::control::Control;
use crate::error::{Error, Result};
use crate::host::compress::Compression;
use crate::host::crypto::Key;
use crate::host::runtime::block_on_controlled;
use crate::host::store::backup::{
    finish_timings, new_manifest, write_manifest, write_object, BackupOptions, NewObject,
};
use crate::host::store::manifest::Manifest;
use crate::host::store::Store;

/// Schemas the Supabase platform maintains: left out of schema dumps (`supabase db dump`).
pub const SUPABASE_SCHEMA_EXCLUDES: &[&str] = &[
    "information_schema",
    "pg_*",
    "_analytics",
    "_realtime",
    "_supavisor",
    "auth",
    "etl",
    "extensions",
    "pgbouncer",
    "realtime",
    "storage",
    "supabase_functions",
    "supabase_migrations",
    "cron",
    "dbdev",
    "graphql",
    "graphql_public",
    "net",
    "pgmq",
    "pgsodium",
    "pgsodium_masks",
    "pgtle",
    "repack",
    "tiger",
    "tiger_data",
    "timescaledb_*",
    "_timescaledb_*",
    "topology",
    "vault",
];

/// Schemas left out of Supabase data dumps: `auth` and `storage` data is kept, so users and
/// object metadata come back (`supabase db dump --data-only`).
pub const SUPABASE_DATA_EXCLUDES: &[&str] = &[
    "information_schema",
    "pg_*",
    "graphql*",
    "pgsodium*",
    "pgtle",
    "repack",
    "tiger",
    "tiger_data",
    "timescaledb_*",
    "_timescaledb_*",
    "topology",
    "vault",
    "etl",
    "extensions",
    "pgbouncer",
    "realtime",
    "supabase_migrations",
    "_analytics",
    "_realtime",
    "_supavisor",
];

/// Platform migration tables left out of Supabase data dumps.
const SUPABASE_EXCLUDED_TABLES: &[&str] = &[
    "auth.schema_migrations",
    "storage.migrations",
    "supabase_functions.migrations",
];

/// The archive format of a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// `pg_dump -Fc`: restored with `pg_restore`, in parallel if asked.
    Custom,
    /// Plain SQL: restored with `psql`.
    Plain,
}

impl DumpFormat {
    /// Parses `custom` or `plain`.
    pub fn parse(text: &str) -> Result<DumpFormat> {
        match text {
            "custom" => Ok(DumpFormat::Custom),
            "plain" | "sql" => Ok(DumpFormat::Plain),
            other => Err(Error::usage(format!(
                "dump format \"{other}\" is not one of custom, plain"
            ))),
        }
    }

    fn extension(self) -> &'static str {
        match self {
            DumpFormat::Custom => "pgdump",
            DumpFormat::Plain => "sql",
        }
    }
}

/// What a dump covers.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// Cluster roles (`pg_dumpall --roles-only`, without passwords).
    pub roles: bool,
    /// Schema: tables, views, functions, RLS and policies.
    pub schema: bool,
    /// Table data.
    pub data: bool,
    /// Only these schemas (empty: all but the excluded).
    pub schemas: Vec<String>,
    /// Schemas left out.
    pub exclude_schemas: Vec<String>,
    /// Archive format.
    pub format: DumpFormat,
    /// Dump the way `supabase db dump` does: platform schemas left out of the schema, roles
    /// and data as separate parts.
    pub supabase: bool,
    /// Compression of the stored objects.
    pub compression: Compression,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions {
            roles: true,
            schema: true,
            data: true,
            schemas: Vec::new(),
            exclude_schemas: Vec::new(),
            format: DumpFormat::Custom,
            supabase: false,
            compression: Compression::default(),
        }
    }
}

/// What one part of a database set holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartContent {
    /// Roles (plain SQL from `pg_dumpall --roles-only`).
    Roles,
    /// Schema only.
    Schema,
    /// Data only.
    Data,
    /// Schema and data.
    SchemaAndData,
}

/// One part (stored object) of a database set, in restore order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DumpPart {
    /// Object name within the set.
    pub object: String,
    /// What it holds.
    pub content: PartContent,
    /// Archive format (roles are always plain).
    pub format: DumpFormat,
    /// Restored with `session_replication_role = replica` (triggers off), as Supabase's data
    /// dumps expect.
    pub replica: bool,
    /// The schemas the part covers.
    pub filter: SchemaFilter,
    /// Tables left out.
    #[serde(default)]
    pub exclude_tables: Vec<String>,
}

/// The database half of a manifest: what the source held at dump time and how it was dumped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseRecord {
    /// The source URL without password.
    pub source: String,
    /// Tables, row counts, RLS, policies and roles at the dump's snapshot.
    pub catalog: Catalog,
    /// Parts in restore order.
    pub parts: Vec<DumpPart>,
    /// Major version of `pg_dump`.
    pub pg_dump_major: u32,
    /// Dumped the Supabase way.
    pub supabase: bool,
    /// Whether every part and the catalog read the same exported snapshot.
    pub consistent_snapshot: bool,
}

/// The parts a dump consists of, in restore order.
pub fn plan_parts(options: &DumpOptions) -> Result<Vec<DumpPart>> {
    if !options.roles && !options.schema && !options.data {
        return Err(Error::usage(
            "the dump covers nothing: roles, schema and data are all false",
        ));
    }
    let ext = options.compression.extension();
    let user_filter = SchemaFilter {
        include: options.schemas.clone(),
        exclude: options.exclude_schemas.clone(),
        exclude_tables: Vec::new(),
    };
    let mut parts = Vec::new();
    if options.roles {
        parts.push(DumpPart {
            object: format!("roles.sql.{ext}.rbk"),
            content: PartContent::Roles,
            format: DumpFormat::Plain,
            replica: false,
            filter: SchemaFilter::default(),
            exclude_tables: Vec::new(),
        });
    }
    let db_ext = options.format.extension();
    if options.supabase {
        let with = |base: &[&str]| SchemaFilter {
            include: options.schemas.clone(),
            exclude: base
                .iter()
                .map(|s| s.to_string())
                .chain(options.exclude_schemas.iter().cloned())
                .collect(),
            exclude_tables: Vec::new(),
        };
        if options.schema {
            parts.push(DumpPart {
                object: format!("schema.{db_ext}.{ext}.rbk"),
                content: PartContent::Schema,
                format: options.format,
                replica: false,
                filter: with(SUPABASE_SCHEMA_EXCLUDES),
                exclude_tables: Vec::new(),
            });
        }
        if options.data {
            parts.push(DumpPart {
                object: format!("data.{db_ext}.{ext}.rbk"),
                content: PartContent::Data,
                format: options.format,
                replica: true,
                filter: with(SUPABASE_DATA_EXCLUDES),
                exclude_tables: SUPABASE_EXCLUDED_TABLES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            });
        }
    } else if options.schema || options.data {
        let content = match (options.schema, options.data) {
            (true, true) => PartContent::SchemaAndData,
            (true, false) => PartContent::Schema,
            _ => PartContent::Data,
        };
        parts.push(DumpPart {
            object: format!("database.{db_ext}.{ext}.rbk"),
            content,
            format: options.format,
            replica: false,
            filter: user_filter,
            exclude_tables: Vec::new(),
        });
    }
    Ok(parts)
}

/// The command line of the tool dumping `part`.
fn dump_args(part: &DumpPart, url: &str, snapshot: Option<&str>) -> Vec<String> {
    let mut args = vec![format!("--dbname={url}"), "--no-password".into()];
    if part.content == PartContent::Roles {
        args.extend(
            [
                "--roles-only",
                "--no-role-passwords",
                "--quote-all-identifiers",
            ]
            .map(String::from),
        );
        return args;
    }
    args.push(match part.format {
        DumpFormat::Custom => "--format=custom".into(),
        DumpFormat::Plain => "--format=plain".into(),
    });
    // Compression happens in our pipeline (zstd, multi-threaded), not in pg_dump.
    if part.format == DumpFormat::Custom {
        args.push("--compress=0".into());
    }
    args.push("--quote-all-identifiers".into());
    match part.content {
        PartContent::Schema => args.push("--schema-only".into()),
        PartContent::Data => args.push("--data-only".into()),
        _ => {}
    }
    if let Some(snapshot) = snapshot {
        args.push(format!("--snapshot={snapshot}"));
    }
    args.extend(part.filter.include.iter().map(|s| format!("--schema={s}")));
    args.extend(
        part.filter
            .exclude
            .iter()
            .map(|s| format!("--exclude-schema={s}")),
    );
    args.extend(
        part.exclude_tables
            .iter()
            .map(|t| format!("--exclude-table={t}")),
    );
    args
}

/// The filter the recorded catalog uses: the schemas whose tables the dump carries.
fn catalog_filter(parts: &[DumpPart]) -> SchemaFilter {
    parts
        .iter()
        .rev()
        .find(|p| p.content != PartContent::Roles)
        .map(|p| SchemaFilter {
            exclude_tables: p.exclude_tables.clone(),
            ..p.filter.clone()
        })
        .unwrap_or_default()
}

/// The filter of the schemas whose objects a restore creates: a target holding something there
/// is not empty. (On Supabase that leaves out `auth` and `storage`, which every new project
/// already has and whose data a Supabase-style set restores into.)
pub fn created_schemas_filter(record: &DatabaseRecord) -> SchemaFilter {
    record
        .parts
        .iter()
        .find(|p| matches!(p.content, PartContent::Schema | PartContent::SchemaAndData))
        .map(|p| p.filter.clone())
        .unwrap_or_else(|| record.catalog.filter.clone())
}

/// Dumps `db` into a new set called `name`. Returns the manifest written last.
pub fn backup_database(
    db: &Database,
    store: &Store,
    name: &str,
    options: &DumpOptions,
    key: &Key,
    backup: &BackupOptions,
    control: &Control,
) -> Result<Manifest> {
    let started = Utc::now();
    let parts = plan_parts(options)?;
    let filter = catalog_filter(&parts);
    let dumps_tables = parts.iter().any(|p| p.content != PartContent::Roles);

    // One connection holds the snapshot every pg_dump reads, and records the catalog in it.
    let (client, snapshot, catalog) = block_on_controlled(control, async {
        let client = db.spec.connect().await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(|e| Error::failed(format!("starting the dump transaction: {e}")))?;
        let snapshot = match client.query_one("SELECT pg_export_snapshot()", &[]).await {
            Ok(row) => Some(row.get::<_, String>(0)),
            Err(_) => None,
        };
        let catalog = read_catalog(&client, &filter, dumps_tables).await?;
        Ok((client, snapshot, catalog))
    })?;
    if snapshot.is_none() {
        control.note("the server could not export a snapshot: row counts are read just before the dump, not in the same snapshot");
    }

    let pg_dump = db
        .tools
        .find_for_server("pg_dump", catalog.server_version_num)?;
    let pg_dumpall = if options.roles {
        Some(
            db.tools
                .find_for_server("pg_dumpall", catalog.server_version_num)?,
        )
    } else {
        None
    };

    let id = store.new_set_id(name, &backup.host)?;
    let mut manifest = new_manifest(&id, "postgres", key, backup, started);
    let url = db.spec.display();
    for part in &parts {
        let tool: Tool = if part.content == PartContent::Roles {
            pg_dumpall.clone().expect("found above")
        } else {
            pg_dump.clone()
        };
        let args = dump_args(
            part,
            &url,
            if part.content == PartContent::Roles {
                None
            } else {
                snapshot.as_deref()
            },
        );
        let spec = db.spec.clone();
        let worker_control = control.clone();
        let written = write_object(
            store,
            &id,
            &NewObject {
                name: &part.object,
                compression: options.compression,
                plain_total: None,
            },
            key,
            control,
            move |out, progress| {
                let mut running = Running::start(&tool, &args, &spec, &[], false, true)?;
                let mut stdout = running.take_stdout().expect("stdout is piped");
                match pump(&mut stdout, out, &worker_control, progress) {
                    Ok(_) => running.finish(&worker_control),
                    Err(e) => {
                        running.kill();
                        Err(Error::io(format!("streaming {} output", tool.name), e))
                    }
                }
            },
        );
        match written {
            Ok(written) => manifest.objects.push(written.record),
            Err(e) => {
                // Nothing of a failed dump stays behind: the set has no manifest yet, so this
                // only removes objects of this run.
                let _ = store.delete_set(&id);
                drop(client);
                return Err(e.context(format!("database backup \"{name}\" stopped")).with_hint(
                    "no set was written and the previous backups are unchanged; fix the cause and run again",
                ));
            }
        }
    }
    let _ = crate::host::runtime::block_on(client.batch_execute("COMMIT"));
    manifest.database = Some(DatabaseRecord {
        source: url,
        catalog,
        parts,
        pg_dump_major: pg_dump.major,
        supabase: options.supabase,
        consistent_snapshot: snapshot.is_some(),
    });
    finish_timings(&mut manifest, started);
    write_manifest(store.backend(), &id, &manifest)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supabase_dumps_split_roles_schema_and_data() {
        let parts = plan_parts(&DumpOptions {
            supabase: true,
            ..DumpOptions::default()
        })
        .unwrap();
        let contents: Vec<_> = parts.iter().map(|p| p.content).collect();
        assert_eq!(
            contents,
            [PartContent::Roles, PartContent::Schema, PartContent::Data]
        );
        assert!(parts[1].filter.exclude.contains(&"auth".to_string()));
        assert!(!parts[2].filter.exclude.contains(&"auth".to_string()));
        assert!(parts[2].replica);
        let args = dump_args(&parts[2], "postgres://u@h/db", Some("00000003-1"));
        assert!(args.contains(&"--data-only".to_string()));
        assert!(args.contains(&"--exclude-table=auth.schema_migrations".to_string()));
        assert!(args.contains(&"--snapshot=00000003-1".to_string()));
    }

    #[test]
    fn a_plain_dump_is_one_part_and_roles_carry_no_passwords() {
        let parts = plan_parts(&DumpOptions::default()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].content, PartContent::SchemaAndData);
        let roles = dump_args(&parts[0], "postgres://u@h/db", None);
        assert!(roles.contains(&"--no-role-passwords".to_string()));
        let nothing = DumpOptions {
            roles: false,
            schema: false,
            data: false,
            ..DumpOptions::default()
        };
        assert!(plan_parts(&nothing).is_err());
    }
}
