//! Making a `pg_dumpall --roles-only` script safe to replay on a server that may already have
//! some of the roles (a drill restoring beside production, a new Supabase project):
//! `CREATE ROLE` becomes "create unless it exists", and on Supabase the platform's reserved
//! roles are left alone and the attributes only a superuser may set are dropped, as
//! `supabase db dump --role-only` does.

use std::io::{BufRead, Write};

/// Roles the Supabase platform owns (from the Supabase CLI's role dump).
const SUPABASE_RESERVED: &[&str] = &[
    "anon",
    "authenticated",
    "authenticator",
    "dashboard_user",
    "pgbouncer",
    "postgres",
    "service_role",
    "pgtle_admin",
];

/// Reserved name prefixes on Supabase.
const SUPABASE_RESERVED_PREFIXES: &[&str] = &["supabase_", "cli_login_", "pgsodium_key"];

fn reserved_on_supabase(role: &str) -> bool {
    SUPABASE_RESERVED.contains(&role)
        || SUPABASE_RESERVED_PREFIXES
            .iter()
            .any(|prefix| role.starts_with(prefix))
}

/// The role a statement line is about, for `CREATE ROLE x`, `ALTER ROLE x` and
/// `COMMENT ON ROLE x`.
fn role_of(line: &str) -> Option<String> {
    let rest = ["CREATE ROLE ", "ALTER ROLE ", "COMMENT ON ROLE "]
        .iter()
        .find_map(|p| line.strip_prefix(p))?;
    Some(if let Some(quoted) = rest.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    name.push('"');
                } else {
                    break;
                }
            } else {
                name.push(c);
            }
        }
        name
    } else {
        rest.split([' ', ';'])
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

/// Rewrites a roles script line by line. `skip_role` names the role running the restore (its
/// own attributes are never touched).
pub fn filter_roles_script(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    supabase: bool,
    skip_role: &str,
) -> std::io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let text = line.trim_end_matches(['\n', '\r']);
        let role = role_of(text);
        let skip = role
            .as_deref()
            .is_some_and(|r| r == skip_role || (supabase && reserved_on_supabase(r)));
        if skip {
            writeln!(out, "-- skipped by runbook: {text}")?;
        } else if text.starts_with("CREATE ROLE ") {
            let statement = text.trim_end_matches(';');
            writeln!(
                out,
                "DO $runbook$ BEGIN {statement}; EXCEPTION WHEN duplicate_object THEN \
                 RAISE NOTICE 'role exists, kept'; END $runbook$;"
            )?;
        } else if supabase && text.starts_with("ALTER ROLE ") {
            let cleaned = text
                .replace(" NOSUPERUSER", "")
                .replace(" NOREPLICATION", "");
            writeln!(out, "{cleaned}")?;
        } else {
            out.write_all(line.as_bytes())?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(script: &str, supabase: bool) -> String {
        let mut out = Vec::new();
        filter_roles_script(&mut script.as_bytes(), &mut out, supabase, "postgres").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn creates_become_idempotent_and_the_restoring_role_is_left_alone() {
        let script = "CREATE ROLE app_reader;\nALTER ROLE app_reader WITH NOSUPERUSER LOGIN;\n\
                      CREATE ROLE postgres;\nALTER ROLE postgres WITH SUPERUSER;\n\
                      GRANT app_reader TO \"we\"\"ird\" GRANTED BY postgres;\n";
        let out = filter(script, false);
        assert!(out.contains(
            "DO $runbook$ BEGIN CREATE ROLE app_reader; EXCEPTION WHEN duplicate_object"
        ));
        assert!(out.contains("ALTER ROLE app_reader WITH NOSUPERUSER LOGIN;"));
        assert!(out.contains("-- skipped by runbook: CREATE ROLE postgres;"));
        assert!(out.contains("-- skipped by runbook: ALTER ROLE postgres WITH SUPERUSER;"));
        assert!(out.contains("GRANT app_reader TO \"we\"\"ird\" GRANTED BY postgres;"));
    }

    #[test]
    fn supabase_reserved_roles_are_skipped() {
        let script =
            "CREATE ROLE \"anon\";\nCREATE ROLE \"supabase_admin\";\nCREATE ROLE \"mt5\";\n\
                      ALTER ROLE \"mt5\" WITH NOSUPERUSER INHERIT NOREPLICATION LOGIN;\n";
        let out = filter(script, true);
        assert!(out.contains("-- skipped by runbook: CREATE ROLE \"anon\";"));
        assert!(out.contains("-- skipped by runbook: CREATE ROLE \"supabase_admin\";"));
        assert!(out.contains("BEGIN CREATE ROLE \"mt5\"; EXCEPTION"));
        assert!(out.contains("ALTER ROLE \"mt5\" WITH INHERIT LOGIN;"));
    }
}
