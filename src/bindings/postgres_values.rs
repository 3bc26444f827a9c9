//! Value conversions for the Postgres namespace: script values to query parameters, JSON and
//! catalog records to script maps, the lazy dump source, and opening a handle through the
//! effect gate. The script functions themselves live in `postgres.rs`.

use rhai::{Array, Dynamic, Map};

use crate::error::{Error, Result};
use crate::host::postgres::catalog::{Catalog, PolicyInfo, RoleInfo, TableInfo};
use crate::host::postgres::dump::DumpOptions;
use crate::host::postgres::{Database, Param};

/// A lazy database dump for `store.backup`, from `db.dump(...)`.
#[derive(Clone)]
pub struct DumpSource {
    /// The database to dump.
    pub db: Database,
    /// What to dump.
    pub options: DumpOptions,
}

/// Script values as query parameters.
pub fn params_of(values: &Array) -> Result<Vec<Param>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if v.is_unit() {
                Ok(Param::Null)
            } else if let Some(b) = v.clone().try_cast::<bool>() {
                Ok(Param::Bool(b))
            } else if let Some(n) = v.clone().try_cast::<rhai::INT>() {
                Ok(Param::Int(n))
            } else if let Some(f) = v.clone().try_cast::<rhai::FLOAT>() {
                Ok(Param::Float(f))
            } else if v.is_string() {
                Ok(Param::Text(v.clone().into_string().unwrap_or_default()))
            } else {
                Err(Error::usage(format!(
                    "query parameter ${} is a {}; use (), a bool, a number or a string",
                    i + 1,
                    v.type_name()
                )))
            }
        })
        .collect()
}

/// A JSON value as a script value.
pub fn json_to_dynamic(value: serde_json::Value) -> Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}

fn serialize<T: serde::Serialize>(value: &T) -> Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}

/// Tables as script maps.
pub fn tables_array(tables: &[TableInfo]) -> Array {
    tables.iter().map(serialize).collect()
}

/// Policies as script maps.
pub fn policies_array(policies: &[PolicyInfo]) -> Array {
    policies.iter().map(serialize).collect()
}

/// Roles as script maps.
pub fn roles_array(roles: &[RoleInfo]) -> Array {
    roles.iter().map(serialize).collect()
}

/// A catalog summary: `#{ tables, rows, policies, rls_tables }`.
pub fn catalog_summary(catalog: &Catalog) -> Map {
    let mut m = Map::new();
    m.insert("tables".into(), (catalog.tables.len() as rhai::INT).into());
    m.insert("rows".into(), (catalog.total_rows() as rhai::INT).into());
    m.insert(
        "policies".into(),
        (catalog.policies.len() as rhai::INT).into(),
    );
    m.insert(
        "rls_tables".into(),
        (catalog.tables.iter().filter(|t| t.rls).count() as rhai::INT).into(),
    );
    m
}

/// The catalog of `db` (a Read effect).
pub fn read_catalog(
    call: &rhai::NativeCallContext,
    db: &Database,
    counts: bool,
) -> std::result::Result<Catalog, Box<rhai::EvalAltResult>> {
    let context = crate::bindings::storage::context(call)?;
    let action = format!("read the catalog of {}", db.spec.display());
    context
        .effect(
            crate::context::gate::Effect::Read,
            &action,
            || Catalog {
                database: String::new(),
                server_version: String::new(),
                server_version_num: 0,
                filter: crate::host::postgres::catalog::SchemaFilter::default(),
                tables: Vec::new(),
                policies: Vec::new(),
                roles: Vec::new(),
            },
            || {
                db.catalog(
                    &crate::host::postgres::catalog::SchemaFilter::default(),
                    counts,
                    &context.control(),
                )
            },
        )
        .map_err(crate::bindings::to_rhai)
}

/// Opens a handle; in an offline plan a placeholder stands in for an unparsable URL.
pub fn open_database(
    call: &rhai::NativeCallContext,
    url: &str,
    options: Map,
) -> std::result::Result<Database, Box<rhai::EvalAltResult>> {
    use crate::bindings::options::Options;
    use crate::bindings::to_rhai;
    use crate::host::postgres::conn::ConnSpec;
    use crate::host::postgres::tools::ToolDirs;
    let options = Options::new("postgres options", options, &["bin_dir"]).map_err(to_rhai)?;
    // Opening contacts nothing, but the handle reaches the world: like `storage(...)`, it passes
    // the effect gate, and an offline plan (`runbook doc`, placeholder secrets) gets a
    // placeholder handle, whose every use the gate simulates too.
    let context = crate::bindings::storage::context(call)?;
    let spec = context
        .effect(
            crate::context::gate::Effect::Read,
            "open a database handle",
            || ConnSpec::parse("postgres://plan@offline.invalid/plan?sslmode=disable"),
            || Ok(ConnSpec::parse(url)),
        )
        .and_then(|spec| spec)
        .map_err(to_rhai)?;
    let tools = ToolDirs {
        bin_dir: options
            .string("bin_dir")
            .map_err(to_rhai)?
            .map(std::path::PathBuf::from),
    };
    Ok(Database::new(spec, tools))
}
