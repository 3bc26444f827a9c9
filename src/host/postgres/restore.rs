//! Restoring a database set and proving it: each part streams from the store through
//! decryption and decompression into `psql` or `pg_restore` (with `ON_ERROR_STOP` semantics:
//! the first error stops the restore), then the restored database is compared with what the
//! manifest recorded at dump time — tables, exact row counts, RLS flags, policies and roles.
//!
//! Safety: by default the target must be new or empty (in the schemas the set covers); a
//! non-empty target is only restored into with `clean`, which the caller gates as Destructive.
//! A single-job restore runs in one transaction, so a failure leaves the target as it was; a
//! parallel restore (`jobs > 1`) needs a seekable file, written to a temporary file that is
//! removed afterwards.

use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use super::catalog::{compare, quote_ident, read_catalog, Catalog};
use super::dump::{DatabaseRecord, DumpFormat, DumpPart, PartContent};
use super::roles::filter_roles_script;
use super::tools::{pump, Running, Tool};
use super::Database;
use crate::context::control::Control;
use crate::error::{Error, Result};
use crate::host::crypto::Key;
use crate::host::runtime::block_on_controlled;
use crate::host::store::layout::SetId;
use crate::host::store::manifest::Manifest;
use crate::host::store::restore::{read_object, StreamChecks};
use crate::host::store::Store;

/// How to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The database to restore into (on the handle's server).
    pub target_db: String,
    /// Drop the objects the set holds before recreating them (for a non-empty target).
    pub clean: bool,
    /// Parallel `pg_restore` jobs (custom format only).
    pub jobs: u32,
    /// Restore object ownership (`false`: `--no-owner`, everything owned by the restoring user).
    pub owners: bool,
    /// Folder for the temporary file of a parallel restore (default: the system's).
    pub temp_dir: Option<PathBuf>,
}

/// The state of the target before a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetState {
    /// The database does not exist; the restore creates it.
    Missing,
    /// It exists and holds nothing in the schemas the set covers.
    Empty,
    /// It holds `relations` tables, views or sequences there, e.g. `example`.
    NotEmpty {
        /// How many.
        relations: usize,
        /// One of them, `schema.name`.
        example: String,
    },
}

/// What a restore did and found.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// The database restored into.
    pub database: String,
    /// Whether the restore created it.
    pub created: bool,
    /// Parts restored.
    pub parts: usize,
    /// The restored database's catalog.
    pub catalog: Catalog,
    /// Differences from the manifest (empty when the restore is verified).
    pub differences: Vec<String>,
}

fn record(manifest: &Manifest) -> Result<&DatabaseRecord> {
    manifest.database.as_ref().ok_or_else(|| {
        Error::usage(format!(
            "set {} holds a {} backup, not a database",
            manifest.id, manifest.kind
        ))
        .with_hint("pick a set made by db.dump(...)")
    })
}

fn sql_failed(what: &str, e: tokio_postgres::Error) -> Error {
    let detail = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| crate::error::error_chain(&e));
    Error::failed(format!("{what}: {detail}"))
}

/// Looks at the target database without changing it.
pub fn inspect_target(
    server: &Database,
    target_db: &str,
    manifest: &Manifest,
    control: &Control,
) -> Result<TargetState> {
    let filter = &super::dump::created_schemas_filter(record(manifest)?);
    let exists = block_on_controlled(control, async {
        let client = server.spec.connect().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&target_db],
            )
            .await
            .map_err(|e| sql_failed("listing databases", e))?;
        Ok(row.get::<_, i64>(0) > 0)
    })?;
    if !exists {
        return Ok(TargetState::Missing);
    }
    let target = server.with_database(target_db);
    let relations = block_on_controlled(control, async {
        let client = target.spec.connect().await?;
        let rows = client
            .query(
                "SELECT n.nspname::text, c.relname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') ORDER BY 1, 2",
                &[],
            )
            .await
            .map_err(|e| sql_failed("listing the target's tables", e))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .filter(|(schema, _)| filter.covers(schema))
            .collect::<Vec<_>>())
    })?;
    Ok(match relations.first() {
        None => TargetState::Empty,
        Some((schema, name)) => TargetState::NotEmpty {
            relations: relations.len(),
            example: format!("{schema}.{name}"),
        },
    })
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_file(dir: Option<&PathBuf>) -> Result<(TempFile, std::fs::File)> {
    let dir = dir.cloned().unwrap_or_else(std::env::temp_dir);
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| Error::failed(format!("no randomness: {e}")))?;
    let path = dir.join(format!("runbook-restore-{}.pgdump", hex::encode(random)));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            Error::io(format!("creating {}", path.display()), e)
                .with_hint("give a writable folder with enough space as temp_dir")
        })?;
    Ok((TempFile(path), file))
}

/// The command line restoring `part` (read from stdin, or from `file`).
fn restore_command(
    part: &DumpPart,
    url: &str,
    options: &RestoreOptions,
    file: Option<&PathBuf>,
) -> Vec<String> {
    let mut args = vec![format!("--dbname={url}"), "--no-password".into()];
    match (part.content, part.format) {
        (PartContent::Roles, _) | (_, DumpFormat::Plain) => {
            args.extend(
                [
                    "--no-psqlrc",
                    "--quiet",
                    "--set=ON_ERROR_STOP=1",
                    "--single-transaction",
                    "--file=-",
                ]
                .map(String::from),
            );
        }
        (_, DumpFormat::Custom) => {
            args.push("--exit-on-error".into());
            match file {
                Some(path) => {
                    args.push(format!("--jobs={}", options.jobs.max(1)));
                    args.push(path.display().to_string());
                }
                None => args.push("--single-transaction".into()),
            }
            if options.clean && part.content != PartContent::Data {
                args.extend(["--clean", "--if-exists"].map(String::from));
            }
            if !options.owners {
                args.extend(["--no-owner", "--no-acl"].map(String::from));
            }
        }
    }
    args
}

/// Restores one part from the store into `target`.
#[allow(clippy::too_many_arguments)]
fn restore_part(
    store: &Store,
    id: &SetId,
    manifest: &Manifest,
    part: &DumpPart,
    keys: &[Key],
    target: &Database,
    tool: &Tool,
    options: &RestoreOptions,
    supabase: bool,
    control: &Control,
) -> Result<()> {
    let object = manifest
        .objects
        .iter()
        .find(|o| o.name == part.object)
        .ok_or_else(|| {
            Error::failed(format!(
                "set {} names part {} but holds no such object",
                manifest.id, part.object
            ))
        })?;
    let url = target.spec.display();
    let mut env = Vec::new();
    if part.replica {
        env.push((
            "PGOPTIONS".to_string(),
            "-c session_replication_role=replica".to_string(),
        ));
    }
    let parallel =
        part.format == DumpFormat::Custom && part.content != PartContent::Roles && options.jobs > 1;
    if parallel {
        let (guard, file) = temp_file(options.temp_dir.as_ref())?;
        let worker_control = control.clone();
        read_object(
            store,
            id,
            object,
            keys,
            control,
            StreamChecks::Full,
            move |plain| {
                let mut out = BufWriter::with_capacity(1 << 20, file);
                pump(plain, &mut out, &worker_control, &|_| {})
                    .and_then(|_| out.flush())
                    .map_err(|e| Error::io("writing the temporary restore file", e))
            },
        )?;
        let args = restore_command(part, &url, options, Some(&guard.0));
        let running = Running::start(tool, &args, &target.spec, &env, false, false)?;
        return running.finish(control);
    }
    let args = restore_command(part, &url, options, None);
    let tool = tool.clone();
    let spec = target.spec.clone();
    let roles = part.content == PartContent::Roles;
    let skip_role = spec.user()?;
    let worker_control = control.clone();
    read_object(
        store,
        id,
        object,
        keys,
        control,
        StreamChecks::Full,
        move |plain| {
            let mut running = Running::start(&tool, &args, &spec, &env, true, false)?;
            let mut stdin =
                BufWriter::with_capacity(256 * 1024, running.take_stdin().expect("piped"));
            let fed = if roles {
                filter_roles_script(&mut BufReader::new(plain), &mut stdin, supabase, &skip_role)
            } else {
                pump(plain, &mut stdin, &worker_control, &|_| {}).map(|_| ())
            }
            .and_then(|_| stdin.flush());
            drop(stdin);
            match fed {
                Ok(()) => running.finish(&worker_control),
                // The tool stopped reading: its own error says why.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    running.finish(&worker_control)?;
                    Err(Error::io(format!("feeding {}", tool.name), e))
                }
                Err(e) => {
                    running.kill();
                    Err(Error::failed(format!(
                        "the restore stream failed, {} was stopped: {e}",
                        tool.name
                    )))
                }
            }
        },
    )
}

/// Restores the set into `options.target_db` on `server`'s cluster, then verifies it. The
/// caller has inspected the target (`state`) and passed the effect gate.
#[allow(clippy::too_many_arguments)]
pub fn restore_database(
    server: &Database,
    store: &Store,
    id: &SetId,
    manifest: &Manifest,
    keys: &[Key],
    options: &RestoreOptions,
    state: &TargetState,
    control: &Control,
) -> Result<RestoreReport> {
    let record = record(manifest)?;
    let server_version = server.server_version_num(control)?;
    let needs_psql = record
        .parts
        .iter()
        .any(|p| p.content == PartContent::Roles || p.format == DumpFormat::Plain);
    let needs_pg_restore = record.parts.iter().any(|p| p.format == DumpFormat::Custom);
    let psql = needs_psql
        .then(|| server.tools.find_for_server("psql", server_version))
        .transpose()?;
    let pg_restore = needs_pg_restore
        .then(|| server.tools.find_for_server("pg_restore", server_version))
        .transpose()?;
    if options.clean
        && record
            .parts
            .iter()
            .any(|p| p.format == DumpFormat::Plain && p.content != PartContent::Roles)
    {
        return Err(Error::usage(
            "clean needs a custom-format set; this set is plain SQL",
        )
        .with_hint("restore into a new database (target_db) and switch over, or drop the old objects first"));
    }

    let created = *state == TargetState::Missing;
    if created {
        block_on_controlled(control, async {
            let client = server.spec.connect().await?;
            client
                .batch_execute(&format!(
                    "CREATE DATABASE {} TEMPLATE template0",
                    quote_ident(&options.target_db)
                ))
                .await
                .map_err(|e| sql_failed(&format!("creating database {}", options.target_db), e))
        })?;
    }
    let target = server.with_database(&options.target_db);
    for part in &record.parts {
        let tool = if part.content == PartContent::Roles || part.format == DumpFormat::Plain {
            psql.as_ref()
        } else {
            pg_restore.as_ref()
        }
        .expect("found above");
        restore_part(
            store,
            id,
            manifest,
            part,
            keys,
            &target,
            tool,
            options,
            record.supabase,
            control,
        )
        .map_err(|e| {
            e.context(format!(
                "restoring {} into database {}",
                part.object, options.target_db
            ))
            .with_hint(if created {
                "the restore stopped; the database it created holds no half-restored data when \
                 jobs is 1 (one transaction). Fix the cause and run again"
            } else {
                "the restore stopped; fix the cause and run again (with clean: true if the \
                 target now holds part of the set)"
            })
        })?;
    }
    let roles = record.parts.iter().any(|p| p.content == PartContent::Roles);
    let (catalog, differences) = verify_database(&target, record, roles, control)?;
    Ok(RestoreReport {
        database: options.target_db.clone(),
        created,
        parts: record.parts.len(),
        catalog,
        differences,
    })
}

/// Compares a database with what a set recorded; returns its catalog and the differences.
pub fn verify_database(
    target: &Database,
    record: &DatabaseRecord,
    roles: bool,
    control: &Control,
) -> Result<(Catalog, Vec<String>)> {
    let counts = record.catalog.tables.iter().any(|t| t.rows.is_some());
    let catalog = block_on_controlled(control, async {
        let client = target.spec.connect().await?;
        read_catalog(&client, &record.catalog.filter, counts).await
    })?;
    let differences = compare(&record.catalog, &catalog, roles);
    Ok((catalog, differences))
}
