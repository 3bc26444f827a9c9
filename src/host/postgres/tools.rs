//! The PostgreSQL client tools (`pg_dump`, `pg_dumpall`, `pg_restore`, `psql`): finding them,
//! checking their version against the server's, and running them with the password in the
//! environment, their stderr kept (bounded) for the error message, and Ctrl-C honoured.
//!
//! Lookup order: the `bin_dir` option, `RUNBOOK_PG_BIN`, `PATH`, then the newest version in the
//! usual install folders (`/usr/lib/postgresql/*/bin`, `C:\Program Files\PostgreSQL\*\bin`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use super::conn::ConnSpec;
use crate::context::control::Control;
use crate::error::{Error, Result};

/// How much of a tool's stderr is kept for the error message.
const STDERR_KEPT: usize = 16 * 1024;

/// Where to look for the client tools.
#[derive(Debug, Clone, Default)]
pub struct ToolDirs {
    /// An explicit folder (`bin_dir` option); when set, only it is searched.
    pub bin_dir: Option<PathBuf>,
}

fn executable(name: &str) -> String {
    if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_string()
    }
}

/// Install folders holding one `bin` per PostgreSQL version, newest version first.
fn versioned_install_dirs() -> Vec<PathBuf> {
    let roots: &[&str] = if cfg!(windows) {
        &[r"C:\Program Files\PostgreSQL"]
    } else {
        &["/usr/lib/postgresql", "/usr/pgsql"]
    };
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let version = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .next()
                .and_then(|v| v.parse::<u32>().ok());
            if let Some(version) = version {
                found.push((version, entry.path().join("bin")));
            }
        }
    }
    found.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    found.into_iter().map(|(_, dir)| dir).collect()
}

impl ToolDirs {
    /// The path of tool `name`, or an error naming the package that provides it.
    pub fn find(&self, name: &str) -> Result<PathBuf> {
        let file = executable(name);
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = &self.bin_dir {
            candidates.push(dir.join(&file));
        } else {
            if let Some(dir) = std::env::var_os("RUNBOOK_PG_BIN") {
                candidates.push(PathBuf::from(dir).join(&file));
            }
            if let Some(path) = std::env::var_os("PATH") {
                candidates.extend(std::env::split_paths(&path).map(|d| d.join(&file)));
            }
            candidates.extend(versioned_install_dirs().into_iter().map(|d| d.join(&file)));
        }
        candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
            let searched = match &self.bin_dir {
                Some(dir) => format!("in {}", dir.display()),
                None => "on PATH, in RUNBOOK_PG_BIN or the usual install folders".into(),
            };
            Error::failed(format!("{name} was not found {searched}")).with_hint(
                "install the PostgreSQL client tools matching the server's major version \
                 (Debian/Ubuntu: apt-get install postgresql-client-<major>; RHEL: postgresql<major>; \
                 Windows: the EDB installer's \"Command Line Tools\"), or give their folder as \
                 bin_dir or RUNBOOK_PG_BIN",
            )
        })
    }

    /// Finds tool `name` and checks it can handle a server of `server_version_num`.
    pub fn find_for_server(&self, name: &str, server_version_num: i32) -> Result<Tool> {
        let path = self.find(name)?;
        let major = tool_major_version(&path)?;
        let server_major = (server_version_num / 10000) as u32;
        if server_major > major {
            return Err(Error::failed(format!(
                "{name} is version {major} but the server runs PostgreSQL {server_major}: \
                 {name} cannot handle a newer server"
            ))
            .with_hint(format!(
                "install postgresql-client-{server_major} (or newer) and point bin_dir or \
                 RUNBOOK_PG_BIN at it; found {}",
                path.display()
            )));
        }
        Ok(Tool {
            name: name.to_string(),
            path,
            major,
        })
    }
}

/// A located client tool.
#[derive(Debug, Clone)]
pub struct Tool {
    /// `pg_dump`, `psql`, ...
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its major version.
    pub major: u32,
}

/// The major version from `tool --version` (`pg_dump (PostgreSQL) 15.18 (Debian ...)`).
pub fn tool_major_version(path: &Path) -> Result<u32> {
    let output = Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| Error::io(format!("running {} --version", path.display()), e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|word| {
            let major = word.split('.').next()?;
            (word.contains('.') || major.len() == 2)
                .then(|| major.parse::<u32>().ok())
                .flatten()
        })
        .ok_or_else(|| {
            Error::failed(format!(
                "cannot tell the version of {} from \"{}\"",
                path.display(),
                text.trim()
            ))
        })
}

/// A running tool: stdin and stdout available for streaming, stderr collected on a thread.
pub struct Running {
    name: String,
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    secret: Option<String>,
}

impl Running {
    /// Starts `tool` with `args` against the connection `conn` (password via the environment).
    pub fn start(
        tool: &Tool,
        args: &[String],
        conn: &ConnSpec,
        extra_env: &[(String, String)],
        stdin: bool,
        stdout: bool,
    ) -> Result<Running> {
        let mut command = Command::new(&tool.path);
        command
            .args(args)
            .env_remove("PGPASSWORD")
            .envs(conn.tool_env())
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(if stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| Error::io(format!("starting {}", tool.path.display()), e))?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stderr_reader = child.stderr.take().map(|mut pipe| {
            let kept = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut kept = kept.lock().expect("stderr buffer");
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > STDERR_KEPT {
                        let cut = kept.len() - STDERR_KEPT;
                        kept.drain(..cut);
                    }
                }
            })
        });
        Ok(Running {
            name: tool.name.clone(),
            child,
            stderr,
            stderr_reader,
            secret: conn.password().map(str::to_string),
        })
    }

    /// The tool's stdin, for streaming into it.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// The tool's stdout, for streaming out of it.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Stops the tool (used when the stream feeding it failed or the run was interrupted).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
    }

    /// Waits for the tool; a non-zero exit becomes an error quoting the end of its stderr.
    pub fn finish(mut self, control: &Control) -> Result<()> {
        let status = loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|e| Error::io(format!("waiting for {}", self.name), e))?
            {
                break status;
            }
            if let Err(e) = control.check() {
                self.kill();
                return Err(e);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.check(status)
    }

    fn check(&self, status: ExitStatus) -> Result<()> {
        if status.success() {
            return Ok(());
        }
        let mut stderr = String::from_utf8_lossy(&self.stderr.lock().expect("stderr buffer"))
            .trim()
            .to_string();
        if let Some(secret) = self.secret.as_deref().filter(|s| !s.is_empty()) {
            stderr = stderr.replace(secret, crate::context::secrets::MASK);
        }
        let last: Vec<&str> = stderr.lines().rev().take(6).collect();
        let detail = last.into_iter().rev().collect::<Vec<_>>().join("\n  ");
        let exit = match status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_string(),
        };
        Err(Error::failed(format!(
            "{} failed ({exit}){}",
            self.name,
            if detail.is_empty() {
                String::new()
            } else {
                format!(":\n  {detail}")
            }
        )))
    }
}

/// Copies `from` into `to` in 256 KiB chunks, calling `progress` with each chunk's size and
/// checking the control between chunks.
pub fn pump(
    from: &mut dyn Read,
    to: &mut dyn Write,
    control: &Control,
    progress: &dyn Fn(u64),
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        if control.check().is_err() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "the run was interrupted",
            ));
        }
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
        progress(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_the_package() {
        let dirs = ToolDirs {
            bin_dir: Some(PathBuf::from("/nonexistent/runbook-test")),
        };
        let e = dirs.find("pg_dump").unwrap_err();
        assert!(e.message().contains("pg_dump was not found"));
        assert!(e.hint().unwrap().contains("postgresql-client"));
    }
}
