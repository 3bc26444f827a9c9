//! Throw-away PostgreSQL clusters for tests: `initdb` into a temporary folder, `pg_ctl start`
//! on a free loopback port (run as the `postgres` user when the tests run as root, since the
//! server refuses root), password authentication over TCP, and removal on drop. No test
//! touches a system database.
//!
//! Include with `#[path = "support/postgres.rs"] mod postgres;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The superuser password of every test cluster.
pub const PASSWORD: &str = "pg-test-Secr3t";

/// The folder holding `initdb`, `pg_ctl` and `postgres`: the newest installed version.
pub fn server_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server packages are installed (scripts/test installs them)")
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
        .1
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A running cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
}

impl Cluster {
    /// Creates and starts a new cluster.
    pub fn start() -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("rbpg")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let as_postgres = running_as_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown to postgres");
        }
        let cluster = Cluster {
            port: 0,
            bin: server_bin(),
            as_postgres,
            dir,
        };
        let pwfile = cluster.dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if as_postgres {
            Command::new("chown")
                .arg("postgres")
                .arg(&pwfile)
                .status()
                .unwrap();
        }
        let data = cluster.data();
        let out = cluster.server_tool(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", pwfile.display()),
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cluster = cluster;
        cluster.port = free_port();
        cluster.start_server();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn server_tool(&self, tool: &str, args: &[&str]) -> Output {
        let path = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.args(args).current_dir("/tmp").output().unwrap()
    }

    fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let out = self.server_tool(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-o",
                &options,
                "-l",
                &log.display().to_string(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server at once (like a crash or a pulled plug).
    pub fn stop(&self) {
        self.server_tool(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts the server again after [`Cluster::stop`].
    pub fn restart(&self) {
        self.start_server();
    }

    /// The URL of database `db` with the superuser password.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Runs SQL through `psql` as `role` (the superuser by default) and returns the output
    /// (unaligned, tuples only). Panics on an SQL error.
    pub fn psql_as(&self, db: &str, role: Option<&str>, sql: &str) -> String {
        let sql = match role {
            Some(role) => format!("SET ROLE {role};\n{sql}"),
            None => sql.to_string(),
        };
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(db)
            .arg("-c")
            .arg(&sql)
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs SQL as the superuser.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.psql_as(db, None, sql)
    }

    /// Whether database `db` exists.
    pub fn has_database(&self, db: &str) -> bool {
        self.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
        ) == "1"
    }

    /// Waits until a session runs a statement containing `needle` (e.g. `COPY`).
    pub fn wait_for_query(&self, needle: &str, timeout: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            let found = self.psql(
                "postgres",
                &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%{needle}%' \
                     AND pid <> pg_backend_pid()"
                ),
            );
            if found != "0" {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Turns TLS on with a certificate for `127.0.0.1` and `localhost` signed by a new test
    /// CA (made with the `openssl` command); returns the CA certificate's path.
    pub fn enable_tls(&self) -> PathBuf {
        let dir = self.dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=runbook test CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        let data = self.data();
        for (from, to) in [("server.pem", "server.crt"), ("server.key", "server.key")] {
            std::fs::copy(dir.join(from), data.join(to)).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(data.join(to), std::fs::Permissions::from_mode(0o600))
                    .unwrap();
            }
            if self.as_postgres {
                Command::new("chown")
                    .arg("postgres")
                    .arg(data.join(to))
                    .status()
                    .unwrap();
            }
        }
        self.psql("postgres", "ALTER SYSTEM SET ssl = on");
        self.psql("postgres", "SELECT pg_reload_conf()");
        std::thread::sleep(Duration::from_millis(300));
        dir.join("ca.pem")
    }

    /// The data folder (for tests that need to look at it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A new cluster whose database `app` holds [`FIXTURE`].
pub fn fixture_cluster() -> Cluster {
    let cluster = Cluster::start();
    cluster.psql("postgres", "CREATE DATABASE app");
    cluster.psql("app", FIXTURE);
    cluster
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A trading-service schema: several tables with foreign keys, a view, a function, roles, and
/// row-level security with permissive and restrictive policies for different roles and
/// commands (one table with FORCE ROW LEVEL SECURITY).
pub const FIXTURE: &str = r#"
DO $$ BEGIN
  CREATE ROLE trader LOGIN;
  CREATE ROLE auditor NOLOGIN;
  CREATE ROLE service_app LOGIN BYPASSRLS;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SCHEMA app;
CREATE TABLE app.accounts (
  id bigserial PRIMARY KEY,
  owner name NOT NULL,
  broker text NOT NULL,
  created timestamptz NOT NULL DEFAULT '2026-01-01T00:00:00Z'
);
CREATE TABLE app.trades (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES app.accounts(id),
  symbol text NOT NULL,
  volume numeric(12, 2) NOT NULL,
  archived boolean NOT NULL DEFAULT false
);
CREATE TABLE public.settings (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE public.audit_log (id bigserial PRIMARY KEY, trade_id bigint REFERENCES app.trades(id), note text);
CREATE VIEW app.open_volume AS
  SELECT a.owner, sum(t.volume) AS volume FROM app.trades t JOIN app.accounts a ON a.id = t.account_id
  WHERE NOT t.archived GROUP BY a.owner;
CREATE FUNCTION app.volume_of(who name) RETURNS numeric LANGUAGE sql STABLE AS
  $f$ SELECT coalesce(sum(t.volume), 0) FROM app.trades t JOIN app.accounts a ON a.id = t.account_id WHERE a.owner = who $f$;
INSERT INTO app.accounts (owner, broker) VALUES ('trader', 'ic-markets'), ('someone_else', 'pepperstone'), ('trader', 'exness');
INSERT INTO app.trades (account_id, symbol, volume, archived)
  SELECT 1 + (i % 3), (ARRAY['EURUSD', 'XAUUSD', 'US30'])[1 + i % 3], (i % 17) + 0.25, i % 5 = 0
  FROM generate_series(1, 300) i;
INSERT INTO public.settings VALUES ('mode', '{"live": true}'), ('risk', '{"max_lot": 2.5}');
INSERT INTO public.audit_log (trade_id, note) SELECT i, 'checked' FROM generate_series(1, 40) i;
GRANT USAGE ON SCHEMA app TO trader, auditor;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA app TO trader;
GRANT SELECT ON ALL TABLES IN SCHEMA app TO auditor;
GRANT SELECT ON public.settings TO trader;
ALTER TABLE app.accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.trades ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.trades FORCE ROW LEVEL SECURITY;
CREATE POLICY "own accounts" ON app.accounts FOR SELECT TO trader USING (owner = current_user);
CREATE POLICY "auditors read all" ON app.accounts FOR SELECT TO auditor USING (true);
CREATE POLICY "own trades" ON app.trades FOR SELECT TO trader
  USING (account_id IN (SELECT id FROM app.accounts WHERE owner = current_user));
CREATE POLICY "only open trades" ON app.trades AS RESTRICTIVE FOR SELECT TO trader USING (NOT archived);
CREATE POLICY "insert own trades" ON app.trades FOR INSERT TO trader
  WITH CHECK (account_id IN (SELECT id FROM app.accounts WHERE owner = current_user));
CREATE POLICY "auditors read trades" ON app.trades FOR SELECT TO auditor USING (true);
CREATE POLICY "owner full access" ON app.trades TO postgres USING (true) WITH CHECK (true);
"#;
