//! Test support: a small builder that sets up a throw-away project folder, runs the `runbook`
//! binary in it, and asserts on exit code, stdout, stderr and files — so tests read like
//! specifications.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `runbook` binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runbook"))
}

/// The repository root (for shipped runbooks and docs).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A throw-away project folder with a `runbook.toml`, and a command to run in it.
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    /// An empty project (with an empty `runbook.toml`).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("runbook.toml"), "").unwrap();
        Test {
            dir,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Writes a file (parents created).
    pub fn file(self, path: &str, contents: &str) -> Self {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
        self
    }

    /// Writes a file into an existing project (parents created), keeping the builder usable.
    pub fn put(&self, path: &str, contents: &str) -> &Self {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
        self
    }

    /// Copies a file from the repository into the project at the same relative path.
    pub fn repo_file(self, path: &str) -> Self {
        let text = std::fs::read_to_string(repo().join(path)).unwrap();
        self.file(path, &text)
    }

    /// The command-line arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    /// An environment variable for the command.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The project folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs the command to completion.
    pub fn run(&self) -> Output {
        self.run_args(&self.args)
    }

    /// Runs the binary with other arguments in the same project.
    pub fn run_args(&self, args: &[String]) -> Output {
        let out = self.command(args).output().expect("runbook runs");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    /// Like [`Test::run_args`] with `&str`s.
    pub fn again(&self, args: &[&str]) -> Output {
        self.run_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// Starts the command without waiting.
    pub fn spawn(&self) -> Child {
        self.command(&self.args).spawn().expect("runbook starts")
    }

    /// Every journal file's text.
    pub fn journals(&self) -> Vec<(PathBuf, String)> {
        let dir = self.dir.path().join(".runbook/runs");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out: Vec<(PathBuf, String)> = entries
            .filter_map(|e| e.ok())
            .map(|e| (e.path(), std::fs::read_to_string(e.path()).unwrap()))
            .collect();
        out.sort();
        out
    }

    /// Waits until some journal contains `needle` (or panics after `timeout`).
    pub fn wait_for_journal(&self, needle: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            for (_, text) in self.journals() {
                if text.contains(needle) {
                    return text;
                }
            }
            assert!(Instant::now() < end, "no journal mentions {needle}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A listing of every file below the project with its contents, to compare trees.
    pub fn tree(&self) -> Vec<(String, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                if path.is_dir() {
                    out.push((format!("{rel}/"), Vec::new()));
                    walk(root, &path, out);
                } else {
                    out.push((rel, std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }
}

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Output {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Asserts the exit code.
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(self.code, expected, "exit code\n{self}");
        self
    }

    /// Asserts stdout contains `text`.
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(self.stdout.contains(text), "stdout lacks {text:?}\n{self}");
        self
    }

    /// Asserts stdout does not contain `text`.
    pub fn stdout_lacks(&self, text: &str) -> &Self {
        assert!(!self.stdout.contains(text), "stdout has {text:?}\n{self}");
        self
    }

    /// Asserts stderr contains `text`.
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}\n{self}");
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Every file and folder below `dir` (absolute paths) with its bytes, sorted: compare two
/// listings to prove nothing below `dir` changed.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let bytes = if e.file_type().is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (e.path().display().to_string(), bytes)
        })
        .collect();
    out.sort();
    out
}

/// A new, empty 16 MiB qcow2 image `vm/disk.qcow2` in the project (made with the real
/// `qemu-img`).
pub fn qemu_image(t: &Test) -> PathBuf {
    std::fs::create_dir_all(t.path().join("vm")).unwrap();
    let disk = t.path().join("vm/disk.qcow2");
    let ok = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&disk)
        .arg("16M")
        .status()
        .expect("qemu-img is installed")
        .success();
    assert!(ok);
    disk
}

/// The ids of the internal snapshots of the qcow2 image `disk` (`qemu-img snapshot -l`).
pub fn qemu_snapshots(disk: &Path) -> Vec<String> {
    let out = Command::new("qemu-img")
        .args(["snapshot", "-l"])
        .arg(disk)
        .output()
        .unwrap();
    runbook::host::snapshot::qemu::parse_list(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .map(|s| s.id)
        .collect()
}
