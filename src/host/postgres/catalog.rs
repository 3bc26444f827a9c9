//! What a database holds, as recorded in a backup manifest and compared after a restore:
//! tables with exact row counts and RLS flags, every row-level security policy (`pg_policies`),
//! roles, and the server version.
//!
//! Row counts are taken with `row_security = off`, like `pg_dump`: a role that cannot see every
//! row gets an error instead of a silently smaller count.

use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;

use crate::error::{Error, Result};

/// One table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableInfo {
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Row-level security enabled.
    pub rls: bool,
    /// Row-level security forced on the owner too.
    pub force_rls: bool,
    /// Exact number of rows (`None` for partitioned parents, counted through their partitions).
    pub rows: Option<i64>,
}

impl TableInfo {
    /// `schema.name`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// One row-level security policy, as `pg_policies` shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInfo {
    /// Schema of the table.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Policy name.
    pub name: String,
    /// `PERMISSIVE` or `RESTRICTIVE`.
    pub permissive: String,
    /// Roles it applies to (`public` for everyone).
    pub roles: Vec<String>,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    /// The `USING` expression.
    pub using: Option<String>,
    /// The `WITH CHECK` expression.
    pub with_check: Option<String>,
}

/// One role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleInfo {
    /// Role name.
    pub name: String,
    /// Can log in.
    pub login: bool,
    /// Bypasses row-level security.
    pub bypass_rls: bool,
    /// Roles it is a member of.
    pub member_of: Vec<String>,
}

/// Which schemas a dump or a comparison covers. Patterns may use `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFilter {
    /// Only these schemas (empty: all).
    #[serde(default)]
    pub include: Vec<String>,
    /// Never these.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Tables (`schema.table`) left out, e.g. a platform's own migration tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_tables: Vec<String>,
}

impl SchemaFilter {
    /// Whether `schema` is covered. System schemas never are.
    pub fn covers(&self, schema: &str) -> bool {
        if schema.starts_with("pg_") || schema == "information_schema" {
            return false;
        }
        let included =
            self.include.is_empty() || self.include.iter().any(|p| pattern_matches(p, schema));
        included && !self.exclude.iter().any(|p| pattern_matches(p, schema))
    }

    /// Whether table `schema.name` is covered.
    pub fn covers_table(&self, schema: &str, name: &str) -> bool {
        self.covers(schema)
            && !self
                .exclude_tables
                .iter()
                .any(|t| *t == format!("{schema}.{name}"))
    }
}

/// `*` matches any run of characters; everything else literally.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The recorded state of a database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Database name.
    pub database: String,
    /// `server_version`, e.g. `15.8`.
    pub server_version: String,
    /// `server_version_num`, e.g. `150008`.
    pub server_version_num: i32,
    /// Schemas covered.
    pub filter: SchemaFilter,
    /// Tables in covered schemas, sorted by schema and name.
    pub tables: Vec<TableInfo>,
    /// Policies on those tables, sorted.
    pub policies: Vec<PolicyInfo>,
    /// Roles other than the built-in `pg_*` ones, sorted by name.
    pub roles: Vec<RoleInfo>,
}

impl Catalog {
    /// Total rows over all tables.
    pub fn total_rows(&self) -> i64 {
        self.tables.iter().filter_map(|t| t.rows).sum()
    }
}

/// Double-quotes an identifier for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn query_error(what: &str, e: tokio_postgres::Error) -> Error {
    let detail = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => crate::error::error_chain(&e),
    };
    Error::failed(format!("reading {what} failed: {detail}"))
        .with_hint("check that the database user may read the catalog and every table")
}

/// Reads the server version.
pub async fn server_version(client: &impl GenericClient) -> Result<(String, i32)> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
            &[],
        )
        .await
        .map_err(|e| query_error("the server version", e))?;
    Ok((row.get(0), row.get(1)))
}

/// Tables (with exact row counts when `counts`), RLS flags, policies and roles.
pub async fn read_catalog(
    client: &impl GenericClient,
    filter: &SchemaFilter,
    counts: bool,
) -> Result<Catalog> {
    let (server_version, server_version_num) = server_version(client).await?;
    let database: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .map_err(|e| query_error("the database name", e))?
        .get(0);
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text, c.relrowsecurity, c.relforcerowsecurity, \
                    c.relkind = 'p' \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(|e| query_error("the table list", e))?;
    if counts {
        client
            .batch_execute("SET row_security = off")
            .await
            .map_err(|e| query_error("settings", e))?;
    }
    let mut tables = Vec::new();
    for row in rows {
        let schema: String = row.get(0);
        let name: String = row.get(1);
        if !filter.covers_table(&schema, &name) {
            continue;
        }
        let partitioned: bool = row.get(4);
        let rows = if counts && !partitioned {
            let sql = format!(
                "SELECT count(*) FROM ONLY {}.{}",
                quote_ident(&schema),
                quote_ident(&name)
            );
            let count: i64 = client
                .query_one(sql.as_str(), &[])
                .await
                .map_err(|e| query_error(&format!("the rows of {schema}.{name}"), e))?
                .get(0);
            Some(count)
        } else {
            None
        };
        tables.push(TableInfo {
            schema,
            name,
            rls: row.get(2),
            force_rls: row.get(3),
            rows,
        });
    }
    let mut policies = Vec::new();
    for row in client
        .query(
            "SELECT schemaname::text, tablename::text, policyname::text, permissive, \
                    roles::text[], cmd, qual, with_check \
             FROM pg_policies ORDER BY 1, 2, 3",
            &[],
        )
        .await
        .map_err(|e| query_error("the policies (pg_policies)", e))?
    {
        let schema: String = row.get(0);
        let table: String = row.get(1);
        if !filter.covers_table(&schema, &table) {
            continue;
        }
        let mut roles: Vec<String> = row.get(4);
        roles.sort();
        policies.push(PolicyInfo {
            schema,
            table,
            name: row.get(2),
            permissive: row.get(3),
            roles,
            command: row.get(5),
            using: row.get(6),
            with_check: row.get(7),
        });
    }
    let mut roles = Vec::new();
    for row in client
        .query(
            "SELECT r.rolname::text, r.rolcanlogin, r.rolbypassrls, \
                    COALESCE(array_agg(g.rolname::text ORDER BY g.rolname) \
                             FILTER (WHERE g.rolname IS NOT NULL), '{}') \
             FROM pg_roles r \
             LEFT JOIN pg_auth_members m ON m.member = r.oid \
             LEFT JOIN pg_roles g ON g.oid = m.roleid \
             WHERE r.rolname NOT LIKE 'pg\\_%' \
             GROUP BY 1, 2, 3 ORDER BY 1",
            &[],
        )
        .await
        .map_err(|e| query_error("the roles", e))?
    {
        roles.push(RoleInfo {
            name: row.get(0),
            login: row.get(1),
            bypass_rls: row.get(2),
            member_of: row.get(3),
        });
    }
    Ok(Catalog {
        database,
        server_version,
        server_version_num,
        filter: filter.clone(),
        tables,
        policies,
        roles,
    })
}

/// Every difference between what a backup recorded and what a restored database holds, each
/// naming the table, policy or role. Extra tables in the target are differences too; roles are
/// compared only when `roles` (the set carried them), and only for presence.
pub fn compare(expected: &Catalog, actual: &Catalog, roles: bool) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut differences = Vec::new();
    let want: BTreeMap<String, &TableInfo> =
        expected.tables.iter().map(|t| (t.qualified(), t)).collect();
    let have: BTreeMap<String, &TableInfo> =
        actual.tables.iter().map(|t| (t.qualified(), t)).collect();
    for (name, table) in &want {
        let Some(got) = have.get(name) else {
            differences.push(format!("table {name} is missing"));
            continue;
        };
        if table.rows != got.rows {
            differences.push(format!(
                "table {name} has {} rows, the backup had {}",
                count_text(got.rows),
                count_text(table.rows)
            ));
        }
        if table.rls != got.rls {
            differences.push(format!(
                "table {name}: row-level security is {}, the backup had it {}",
                on_off(got.rls),
                on_off(table.rls)
            ));
        }
        if table.force_rls != got.force_rls {
            differences.push(format!(
                "table {name}: FORCE ROW LEVEL SECURITY is {}, the backup had it {}",
                on_off(got.force_rls),
                on_off(table.force_rls)
            ));
        }
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        differences.push(format!("table {name} is not in the backup"));
    }
    let key = |p: &PolicyInfo| format!("policy \"{}\" on {}.{}", p.name, p.schema, p.table);
    let want: BTreeMap<String, &PolicyInfo> =
        expected.policies.iter().map(|p| (key(p), p)).collect();
    let have: BTreeMap<String, &PolicyInfo> = actual.policies.iter().map(|p| (key(p), p)).collect();
    for (name, policy) in &want {
        match have.get(name) {
            None => differences.push(format!("{name} is missing")),
            Some(got) if got != policy => differences.push(format!(
                "{name} differs: {} {} to {} using {} check {}, the backup had {} {} to {} using {} check {}",
                got.permissive, got.command, got.roles.join(","),
                got.using.as_deref().unwrap_or("-"), got.with_check.as_deref().unwrap_or("-"),
                policy.permissive, policy.command, policy.roles.join(","),
                policy.using.as_deref().unwrap_or("-"), policy.with_check.as_deref().unwrap_or("-"),
            )),
            Some(_) => {}
        }
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        differences.push(format!("{name} is not in the backup"));
    }
    if roles {
        for role in &expected.roles {
            if !actual.roles.iter().any(|r| r.name == role.name) {
                differences.push(format!("role {} is missing", role.name));
            }
        }
    }
    differences
}

fn count_text(rows: Option<i64>) -> String {
    rows.map_or("uncounted".into(), |n| n.to_string())
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_patterns() {
        let filter = SchemaFilter {
            include: vec![],
            exclude: vec!["auth".into(), "timescaledb_*".into(), "_*_x".into()],
            exclude_tables: vec!["public.skip".into()],
        };
        assert!(filter.covers("public"));
        assert!(!filter.covers("auth"));
        assert!(!filter.covers("timescaledb_information"));
        assert!(!filter.covers("_a_x"));
        assert!(filter.covers("_a_y"));
        assert!(!filter.covers_table("public", "skip") && filter.covers_table("public", "keep"));
        assert!(!filter.covers("pg_catalog"));
        let only = SchemaFilter {
            include: vec!["app".into()],
            exclude: vec![],
            exclude_tables: vec![],
        };
        assert!(only.covers("app") && !only.covers("public"));
    }

    fn table(name: &str, rows: i64, rls: bool) -> TableInfo {
        TableInfo {
            schema: "public".into(),
            name: name.into(),
            rls,
            force_rls: false,
            rows: Some(rows),
        }
    }

    #[test]
    fn differences_name_what_differs() {
        let policy = PolicyInfo {
            schema: "public".into(),
            table: "a".into(),
            name: "own rows".into(),
            permissive: "PERMISSIVE".into(),
            roles: vec!["app".into()],
            command: "SELECT".into(),
            using: Some("(owner = CURRENT_USER)".into()),
            with_check: None,
        };
        let expected = Catalog {
            database: "d".into(),
            server_version: "15".into(),
            server_version_num: 150000,
            filter: SchemaFilter::default(),
            tables: vec![table("a", 3, true), table("b", 1, false)],
            policies: vec![policy.clone()],
            roles: vec![RoleInfo {
                name: "app".into(),
                login: true,
                bypass_rls: false,
                member_of: vec![],
            }],
        };
        assert!(compare(&expected, &expected, true).is_empty());
        let mut actual = expected.clone();
        actual.tables = vec![table("a", 2, false), table("c", 0, false)];
        actual.policies[0].permissive = "RESTRICTIVE".into();
        actual.roles.clear();
        let found = compare(&expected, &actual, true).join("\n");
        for says in [
            "table public.a has 2 rows, the backup had 3",
            "table public.a: row-level security is off, the backup had it on",
            "table public.b is missing",
            "table public.c is not in the backup",
            "policy \"own rows\" on public.a differs: RESTRICTIVE",
            "role app is missing",
        ] {
            assert!(found.contains(says), "{says} not in:\n{found}");
        }
    }
}
