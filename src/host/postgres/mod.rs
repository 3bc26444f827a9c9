//! Postgres: a database handle for queries and catalog reads ([`Database`]), streamed dumps
//! into backup sets ([`dump`]), and restores verified against what the dump recorded
//! ([`restore`]).
//!
//! Queries go through `tokio-postgres`; dumps and restores through the real client tools
//! ([`tools`]), whose output and input stream through the same encrypted pipeline as file
//! backups.

pub mod catalog;
pub mod check;
pub mod conn;
pub mod dump;
pub mod restore;
pub mod roles;
pub mod tools;

use futures::{pin_mut, TryStreamExt};
use tokio_postgres::types::{ToSql, Type};

use crate::context::control::Control;
use crate::error::{Error, Result};
use crate::host::runtime::block_on_controlled;
use catalog::{read_catalog, Catalog, SchemaFilter};
use conn::ConnSpec;
use tools::ToolDirs;

/// Queries returning more rows than this fail; aggregate in SQL instead.
pub const MAX_QUERY_ROWS: usize = 100_000;

/// A database: where it is and where its client tools are.
#[derive(Debug, Clone)]
pub struct Database {
    /// Connection settings.
    pub spec: ConnSpec,
    /// Where `pg_dump` and friends are found.
    pub tools: ToolDirs,
}

/// A query parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (sent as the parameter's integer type).
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
}

/// Turns the script's parameters into values of the types the statement expects.
fn bind(params: &[Param], types: &[Type]) -> Result<Vec<Box<dyn ToSql + Sync + Send>>> {
    if params.len() != types.len() {
        return Err(Error::usage(format!(
            "the query has {} parameters ($1...) but {} values were given",
            types.len(),
            params.len()
        )));
    }
    let mut out: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(params.len());
    for (i, (param, ty)) in params.iter().zip(types).enumerate() {
        let mismatch = || {
            Error::usage(format!(
                "parameter ${} is {} in SQL but the value given is {param:?}",
                i + 1,
                ty.name()
            ))
            .with_hint(format!(
                "pass a matching value, or cast in SQL (e.g. ${}::text::{})",
                i + 1,
                ty.name()
            ))
        };
        let value: Box<dyn ToSql + Sync + Send> = match (param, ty) {
            (Param::Null, _) => Box::new(None::<String>),
            (Param::Bool(b), &Type::BOOL) => Box::new(*b),
            (Param::Int(n), &Type::INT2) => Box::new(i16::try_from(*n).map_err(|_| mismatch())?),
            (Param::Int(n), &Type::INT4) => Box::new(i32::try_from(*n).map_err(|_| mismatch())?),
            (Param::Int(n), &Type::INT8) => Box::new(*n),
            (Param::Int(n), &Type::FLOAT8) => Box::new(*n as f64),
            (Param::Float(f), &Type::FLOAT8) => Box::new(*f),
            (Param::Float(f), &Type::FLOAT4) => Box::new(*f as f32),
            (Param::Text(s), t)
                if [
                    Type::TEXT,
                    Type::VARCHAR,
                    Type::NAME,
                    Type::BPCHAR,
                    Type::UNKNOWN,
                ]
                .contains(t) =>
            {
                Box::new(s.clone())
            }
            _ => return Err(mismatch()),
        };
        out.push(value);
    }
    Ok(out)
}

fn sql_error(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => {
            let mut message = format!("SQL error {}: {}", db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                message.push_str(&format!(" ({detail})"));
            }
            let hint = if db.code().code() == "25006" {
                "db.query runs read-only (it runs in dry-runs too); use db.execute to change data"
                    .to_string()
            } else {
                db.hint()
                    .map(str::to_string)
                    .unwrap_or_else(|| "check the SQL and the user's privileges".into())
            };
            Error::failed(message).with_hint(hint)
        }
        None => Error::failed(format!(
            "the database connection failed: {}",
            crate::error::error_chain(&e)
        ))
        .with_hint("check that the server is up and reachable, then run again"),
    }
}

impl Database {
    /// A handle; nothing is contacted until it is used.
    pub fn new(spec: ConnSpec, tools: ToolDirs) -> Database {
        Database { spec, tools }
    }

    /// Runs a query in a read-only transaction and returns each row as a JSON object (every
    /// Postgres type converts, through `to_jsonb`).
    pub fn query(
        &self,
        sql: &str,
        params: &[Param],
        control: &Control,
    ) -> Result<Vec<serde_json::Value>> {
        block_on_controlled(control, self.query_async(sql, params))
    }

    /// [`Database::query`] for async callers.
    pub async fn query_async(&self, sql: &str, params: &[Param]) -> Result<Vec<serde_json::Value>> {
        let sql = sql.trim().trim_end_matches(';');
        let first_word = sql
            .split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if !["SELECT", "WITH", "VALUES", "TABLE"].contains(&first_word.as_str()) {
            return Err(Error::usage(format!(
                "db.query runs read-only queries (SELECT, WITH, VALUES, TABLE), not {first_word}"
            ))
            .with_hint(
                "use db.execute(sql, params) to change data (a Write effect, planned in dry-runs)",
            ));
        }
        {
            let mut client = self.spec.connect().await?;
            let tx = client
                .build_transaction()
                .read_only(true)
                .start()
                .await
                .map_err(sql_error)?;
            let wrapped = format!("SELECT to_jsonb(q) FROM ({sql}\n) AS q");
            let statement = tx.prepare(&wrapped).await.map_err(sql_error)?;
            let values = bind(params, statement.params())?;
            let stream = tx
                .query_raw(&statement, values.iter().map(|v| v.as_ref() as &dyn ToSql))
                .await
                .map_err(sql_error)?;
            pin_mut!(stream);
            let mut rows = Vec::new();
            while let Some(row) = stream.try_next().await.map_err(sql_error)? {
                if rows.len() == MAX_QUERY_ROWS {
                    return Err(Error::failed(format!(
                        "the query returned more than {MAX_QUERY_ROWS} rows"
                    ))
                    .with_hint(
                        "aggregate or LIMIT in SQL; scripts are for checks, not bulk data",
                    ));
                }
                rows.push(row.get::<_, serde_json::Value>(0));
            }
            tx.commit().await.map_err(sql_error)?;
            Ok(rows)
        }
    }

    /// Runs a statement that may change data; returns the number of rows it affected.
    pub fn execute(&self, sql: &str, params: &[Param], control: &Control) -> Result<u64> {
        block_on_controlled(control, async {
            let client = self.spec.connect().await?;
            let statement = client.prepare(sql).await.map_err(sql_error)?;
            let values = bind(params, statement.params())?;
            let refs: Vec<&(dyn ToSql + Sync)> = values
                .iter()
                .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                .collect();
            client.execute(&statement, &refs).await.map_err(sql_error)
        })
    }

    /// Tables, RLS flags, policies and roles of the schemas `filter` covers; exact row counts
    /// when `counts`.
    pub fn catalog(
        &self,
        filter: &SchemaFilter,
        counts: bool,
        control: &Control,
    ) -> Result<Catalog> {
        block_on_controlled(control, async {
            let mut client = self.spec.connect().await?;
            let tx = client
                .build_transaction()
                .read_only(true)
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .start()
                .await
                .map_err(sql_error)?;
            let catalog = read_catalog(&tx, filter, counts).await?;
            tx.commit().await.map_err(sql_error)?;
            Ok(catalog)
        })
    }

    /// `server_version_num` of the server, e.g. `150008`.
    pub fn server_version_num(&self, control: &Control) -> Result<i32> {
        block_on_controlled(control, async {
            let client = self.spec.connect().await?;
            Ok(catalog::server_version(&client).await?.1)
        })
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> Database {
        Database {
            spec: self.spec.with_database(database),
            tools: self.tools.clone(),
        }
    }
}
