//! The command line: argument definitions (clap) and dispatch to one module per command.
//! Every command returns an exit code; errors are printed here, once, through the redactor.

mod api;
mod check;
mod doc;
mod drill;
mod init;
mod list;
mod recover;
mod run;
mod schedule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};

const EXIT_CODES: &str = "Exit codes: 0 ok, 1 a step failed, 2 usage or script error, \
3 target missed (RPO/RTO), 4 another run holds the lock, 130 interrupted.";

/// Executable disaster-recovery runbooks.
#[derive(Debug, Parser)]
#[command(name = "runbook", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a runbook (live, or with --dry-run to see the plan).
    #[command(after_help = "Examples:
  runbook run runbooks/restore-full.rhai --dry-run
  runbook run runbooks/restore-app-data.rhai --param set=latest --yes
  runbook run runbooks/backup-database.rhai --json --env-file /etc/runbook/.env
  runbook run runbooks/restore-full.rhai --resume 20261204T021500Z-restore-full-3f2a")]
    Run(RunArgs),
    /// Rehearse a runbook: a live run that also records a drill (timings, RTO verdict, notes)
    /// in the drill log and an evidence folder.
    #[command(after_help = "Examples:
  runbook drill runbooks/restore-full.rhai --yes --note \"key fetched by hand\"
  runbook drill runbooks/restore-app-data.rhai --param target=/tmp/drill --operator ana
  sha256sum -c docs/operations/evidence/2026-12-04-restore-full/checksums.sha256

A drill whose run succeeded but took longer than the runbook's `rto` exits 3.
The drill log is `[drills] log` in runbook.toml (default docs/operations/drills.jsonl);
evidence goes to docs/operations/evidence/<date>-<runbook>/.")]
    Drill(DrillArgs),
    /// Write the disaster-recovery playbook (Markdown) from the runbooks and the drill log.
    #[command(after_help = "Examples:
  runbook doc                                   # runbooks/ -> docs/operations/dr-playbook.md
  runbook doc runbooks/ -o docs/operations/dr-playbook.md
  runbook doc --check                           # in CI: exit 1 when the committed file is stale

Steps come from the scripts in an offline plan mode: step bodies are not run, env()/secret()
give placeholders, param() gives defaults, and the effect gate lets nothing touch the world.")]
    Doc(DocArgs),
    /// Print operating-system schedules (crontab, systemd timers, Windows Task Scheduler) for
    /// the runbooks that declare a `schedule`.
    #[command(after_help = "Examples:
  runbook schedule --format cron --workdir /srv/ops > runbook.crontab
  runbook schedule runbooks/ --format systemd --workdir /srv/ops --out-dir /etc/systemd/system
  runbook schedule --format windows --workdir C:\\ops --out-dir tasks

Schedules are UTC. Expressions a format cannot express exactly are refused, never approximated.")]
    Schedule(ScheduleArgs),
    /// Compile runbooks and validate their metadata and parameters, without running them.
    #[command(after_help = "Examples:
  runbook check runbooks/*.rhai
  runbook check runbooks/restore-app-data.rhai --param target=/srv/mt5")]
    Check(CheckArgs),
    /// Start a project: write runbook.toml, .env.example and the shipped runbooks into DIR
    /// (never overwriting a file).
    #[command(after_help = "Examples:
  runbook init                 # into the current folder
  runbook init /srv/runbook    # then: cp .env.example .env, edit it, runbook check runbooks/*.rhai")]
    Init(InitArgs),
    /// List the runbooks in a folder with title, RTO/RPO and schedule.
    #[command(after_help = "Examples:
  runbook list
  runbook list runbooks/ --json")]
    List(ListArgs),
    /// Print a new random encryption key (base64) for BACKUP_ENCRYPTION_KEY.
    #[command(after_help = "Examples:
  runbook keygen > /etc/runbook/backup.key && chmod 600 /etc/runbook/backup.key")]
    Keygen(KeygenArgs),
    /// Encrypt a file into the runbook object format (no runbook needed).
    #[command(after_help = "Examples:
  runbook encrypt dump.sql --key-file /etc/runbook/backup.key      # writes dump.sql.rbk")]
    Encrypt(EncryptArgs),
    /// Decrypt an object (e.g. data.tar.zst.rbk from a backup set), verifying every segment.
    #[command(after_help = "Examples:
  runbook decrypt data.tar.zst.rbk --key-file backup.key          # writes data.tar.zst
  runbook decrypt data.tar.zst.rbk --key-file new.key --key-file old.key -o /tmp/data.tar.zst
  zstd -d < /tmp/data.tar.zst | tar x -C /tmp/restored")]
    Decrypt(DecryptArgs),
    /// Check a backup set: stored checksums, every encrypted segment, every file's checksum.
    #[command(after_help = "Examples:
  runbook verify /var/backups/app-data/2026-12-04T020000Z-vps1 --key-file backup.key")]
    Verify(VerifyArgs),
    /// Restore a files set into a folder safely (staging, verification, swap; replaced files
    /// kept aside), without writing a runbook.
    #[command(after_help = "Examples:
  runbook restore-files /var/backups/app-data/2026-12-04T020000Z-vps1 /srv/mt5 --key-file backup.key
  runbook restore-files file:///var/backups/app-data/2026-12-04T020000Z-vps1 /srv/mt5 --key-file backup.key --only .env --yes")]
    RestoreFiles(RestoreFilesArgs),
    /// Print the script API reference (generated from the functions' documentation).
    #[command(after_help = "Examples:
  runbook api > docs/api.md
  runbook api --format json")]
    Api(ApiArgs),
}

/// Arguments of `runbook run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The runbook script.
    pub file: PathBuf,
    /// Run reads for real, but only plan writes and destructive actions.
    #[arg(long)]
    pub dry_run: bool,
    /// A parameter value, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Confirm destructive actions without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print NDJSON events on stdout instead of human lines.
    #[arg(long)]
    pub json: bool,
    /// Read env()/secret() values from this file (default: .env in the project folder).
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
    /// Continue an interrupted run: finished steps are skipped.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// With --resume: continue even though the script changed since that run.
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// Wait this long for another run of the same runbook to finish (e.g. 10m).
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub lock_wait: Option<std::time::Duration>,
}

/// Arguments of `runbook drill`.
#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    /// The runbook script.
    pub file: PathBuf,
    /// A gap or improvement noticed in this drill (repeatable). Without any, a terminal is
    /// asked for them; without a terminal, none are recorded.
    #[arg(long = "note", value_name = "TEXT")]
    pub notes: Vec<String>,
    /// Who runs the drill (default: $USER or %USERNAME%).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// A parameter value, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Confirm destructive actions without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print NDJSON events on stdout instead of human lines.
    #[arg(long)]
    pub json: bool,
    /// Read env()/secret() values from this file (default: .env in the project folder).
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
    /// Wait this long for another run of the same runbook to finish (e.g. 10m).
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub lock_wait: Option<std::time::Duration>,
}

/// Arguments of `runbook doc`.
#[derive(Debug, clap::Args)]
pub struct DocArgs {
    /// Folder of runbooks (default: runbooks/).
    pub dir: Option<PathBuf>,
    /// Where to write the playbook (default: docs/operations/dr-playbook.md in the project).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write nothing; exit 1 when the file differs from what would be written.
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `runbook schedule`.
#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    /// Folder of runbooks (default: runbooks/).
    pub dir: Option<PathBuf>,
    /// What to produce.
    #[arg(long, value_enum)]
    pub format: ScheduleFormat,
    /// The runbook binary the scheduler runs (default: this binary's path, or runbook.exe for
    /// windows).
    #[arg(long, value_name = "PATH")]
    pub runbook_bin: Option<String>,
    /// The folder runs start in: the project root on the scheduling machine (default: this
    /// project's root).
    #[arg(long, value_name = "PATH")]
    pub workdir: Option<String>,
    /// Folder for one log file per runbook (default: .runbook/logs in the work folder for cron
    /// and windows; the systemd journal for systemd).
    #[arg(long, value_name = "PATH")]
    pub log_dir: Option<String>,
    /// Write the unit or task files into this folder instead of printing them.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Formats of `runbook schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleFormat {
    /// crontab lines (CRON_TZ=UTC).
    Cron,
    /// systemd .service + .timer pairs (OnCalendar in UTC).
    Systemd,
    /// Windows Task Scheduler task XML (UTC triggers) and schtasks commands.
    Windows,
}

/// Arguments of `runbook check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Runbook scripts to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Parameter values to validate, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
}

/// Arguments of `runbook init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The project folder (default: the current folder; created when missing).
    pub dir: Option<PathBuf>,
}

/// Arguments of `runbook list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Folder to list (default: runbooks/ if present, else the current folder).
    pub dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `runbook api`.
#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: ApiFormat,
}

/// Arguments of `runbook keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {}

/// Arguments of `runbook encrypt`.
#[derive(Debug, clap::Args)]
pub struct EncryptArgs {
    /// The file to encrypt.
    pub file: PathBuf,
    /// File holding the key (base64 or hex).
    #[arg(long, value_name = "FILE")]
    pub key_file: PathBuf,
    /// Output (default: FILE.rbk).
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// Arguments of `runbook decrypt`.
#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// The encrypted object.
    pub file: PathBuf,
    /// File holding a key (repeatable: the object's key id picks the right one).
    #[arg(long = "key-file", value_name = "FILE", required = true)]
    pub key_files: Vec<PathBuf>,
    /// Output (default: FILE without .rbk).
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// Arguments of `runbook verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The set's folder or URL.
    pub set: String,
    /// File holding a key (repeatable).
    #[arg(long = "key-file", value_name = "FILE")]
    pub key_files: Vec<PathBuf>,
}

/// Arguments of `runbook restore-files`.
#[derive(Debug, clap::Args)]
pub struct RestoreFilesArgs {
    /// The set's folder or URL.
    pub set: String,
    /// The folder to restore into.
    pub target: PathBuf,
    /// File holding a key (repeatable).
    #[arg(long = "key-file", value_name = "FILE", required = true)]
    pub key_files: Vec<PathBuf>,
    /// Restore only these archive paths or folders (repeatable).
    #[arg(long, value_name = "PATH")]
    pub only: Vec<String>,
    /// Replace existing files without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Formats of `runbook api`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ApiFormat {
    /// Markdown, as in docs/api.md.
    Markdown,
    /// JSON function metadata.
    Json,
}

fn parse_param(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected NAME=VALUE, got \"{text}\"")),
    }
}

fn parse_wait(text: &str) -> std::result::Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("\"{text}\" is not a duration ({e})"))
}

fn param_map(params: &[(String, String)]) -> BTreeMap<String, String> {
    params.iter().cloned().collect()
}

/// The runbook folder given, else `runbooks/` if present, else the current folder.
fn runbook_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| {
        let default = PathBuf::from("runbooks");
        if default.is_dir() {
            default
        } else {
            PathBuf::from(".")
        }
    })
}

/// The `*.rhai` files directly in `dir`, sorted.
fn runbook_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::usage(format!("cannot list {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "rhai"))
        .collect();
    files.sort();
    Ok(files)
}

/// Parses the command line, runs the command, and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    // A run reports through output that ignores a closed stdout, so `runbook run … | head`
    // never stops a restore half-way; every other command behaves like a Unix filter and
    // ends quietly when its reader goes away.
    if !matches!(cli.command, Command::Run(_) | Command::Drill(_)) {
        end_quietly_on_closed_stdout();
    }
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Drill(args) => drill::drill(args),
        Command::Doc(args) => report(doc::doc(args)),
        Command::Schedule(args) => report(schedule::schedule(args)),
        Command::Check(args) => report(check::check(args)),
        Command::Init(args) => report(init::init(args)),
        Command::List(args) => report(list::list(args)),
        Command::Api(args) => report(api::api(args)),
        Command::Keygen(args) => report(recover::keygen(args)),
        Command::Encrypt(args) => report(recover::encrypt(args)),
        Command::Decrypt(args) => report(recover::decrypt(args)),
        Command::Verify(args) => report(recover::verify_set(args)),
        Command::RestoreFiles(args) => report(recover::restore(args)),
    }
}

/// Restores the default SIGPIPE action (Rust ignores it, which turns a closed pipe into a
/// panic in `println!`).
fn end_quietly_on_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Prints an error (if any) and returns the exit code.
fn report(result: Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            print_error(&e, &crate::context::secrets::Redactor::default());
            e.exit_code()
        }
    }
}

fn print_error(error: &Error, redactor: &crate::context::secrets::Redactor) {
    eprintln!("{}", redactor.redact(&format!("error: {error}")));
}
