//! Commands for a bad day, usable without any runbook: `keygen`, `encrypt`, `decrypt`,
//! `verify` and `restore-files`. They use the same host primitives as scripts.

use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::{DecryptArgs, EncryptArgs, KeygenArgs, RestoreFilesArgs, VerifyArgs};
use crate::context::control::Control;
use crate::context::output::{bytes, OutputMode, Reporter};
use crate::context::secrets::Redactor;
use crate::error::{Error, Result};
use crate::host::crypto::{decrypt_stream, encrypt_stream, Key};
use crate::host::store::layout::SetId;
use crate::host::store::restore::{restore_files, verify};
use crate::host::store::Store;

/// `runbook keygen`: a new key on stdout (base64), its id on stderr.
pub fn keygen(_args: KeygenArgs) -> Result<()> {
    let key = Key::generate()?;
    println!("{}", key.to_base64());
    eprintln!(
        "key id {}: store this key safely (e.g. BACKUP_ENCRYPTION_KEY in .env, mode 600); without it backups cannot be read",
        hex::encode(key.id().as_bytes())
    );
    Ok(())
}

fn read_key(path: &Path) -> Result<Key> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read key file {}: {e}", path.display())))?;
    Key::parse(&text).map_err(|e| e.context(format!("key file {}", path.display())))
}

fn read_keys(paths: &[PathBuf]) -> Result<Vec<Key>> {
    if paths.is_empty() {
        return Err(Error::usage("give the key with --key-file FILE")
            .with_hint("several --key-file options may be given when keys were rotated"));
    }
    paths.iter().map(|p| read_key(p)).collect()
}

/// Writes through a temporary file beside `out`, renamed into place only on success, so a
/// failure never leaves a plausible-looking partial output.
fn write_atomically(out: &Path, produce: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if out.exists() {
        return Err(Error::usage(format!("{} already exists", out.display()))
            .with_hint("choose another output with -o, or remove the file first"));
    }
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.partial",
        out.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let file = std::fs::File::create(&tmp)
        .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
    let mut writer = BufWriter::new(file);
    let result = produce(&mut writer).and_then(|_| {
        writer
            .into_inner()
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e.into_error()))?
            .sync_all()
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))
    });
    match result {
        Ok(()) => std::fs::rename(&tmp, out)
            .map_err(|e| Error::io(format!("renaming to {}", out.display()), e)),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|e| Error::usage(format!("cannot open {}: {e}", path.display())))
}

/// `runbook encrypt FILE --key-file K [-o OUT]`.
pub fn encrypt(args: EncryptArgs) -> Result<()> {
    let key = read_key(&args.key_file)?;
    let out = args.output.unwrap_or_else(|| {
        let mut name = args.file.clone().into_os_string();
        name.push(".rbk");
        PathBuf::from(name)
    });
    let mut stats = None;
    write_atomically(&out, |w| {
        stats = Some(encrypt_stream(open(&args.file)?, w, &key)?);
        Ok(())
    })?;
    let stats = stats.expect("set on success");
    eprintln!(
        "encrypted {} into {} ({} bytes, key id {})",
        bytes(stats.plaintext_bytes),
        out.display(),
        stats.ciphertext_bytes,
        hex::encode(key.id().as_bytes())
    );
    Ok(())
}

/// `runbook decrypt FILE --key-file K... [-o OUT]`.
pub fn decrypt(args: DecryptArgs) -> Result<()> {
    let keys = read_keys(&args.key_files)?;
    let out = match args.output {
        Some(out) => out,
        None => match args.file.to_string_lossy().strip_suffix(".rbk") {
            Some(stem) => PathBuf::from(stem),
            None => {
                return Err(Error::usage(format!(
                    "{} does not end in .rbk; say where to write with -o",
                    args.file.display()
                )))
            }
        },
    };
    let mut stats = None;
    write_atomically(&out, |w| {
        stats = Some(
            decrypt_stream(open(&args.file)?, w, &keys)
                .map_err(|e| e.context(args.file.display()))?,
        );
        Ok(())
    })?;
    eprintln!(
        "decrypted {} into {} — every segment verified",
        bytes(stats.expect("set on success").plaintext_bytes),
        out.display()
    );
    Ok(())
}

/// A set named by its folder (`/var/backups/app-data/2026-12-04T020000Z-vps1`) or URL
/// (`file:///var/backups/app-data/2026-…`): the store root, and the set id.
fn locate_set(location: &str) -> Result<(Store, SetId)> {
    let (root, name, dir) = if location.contains("://") {
        let trimmed = location.trim_end_matches('/');
        let (parent, dir) = trimmed.rsplit_once('/').ok_or_else(|| bad_set(location))?;
        let (root, name) = parent.rsplit_once('/').ok_or_else(|| bad_set(location))?;
        (root.to_string(), name.to_string(), dir.to_string())
    } else {
        // A folder path: use the platform's path rules (Windows separators work too).
        let path = Path::new(location);
        let name_of = |p: &Path| p.file_name().map(|n| n.to_string_lossy().to_string());
        let dir = name_of(path).ok_or_else(|| bad_set(location))?;
        let parent = path.parent().ok_or_else(|| bad_set(location))?;
        let name = name_of(parent).ok_or_else(|| bad_set(location))?;
        let root = parent.parent().ok_or_else(|| bad_set(location))?;
        let root = if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root
        };
        (root.display().to_string(), name, dir)
    };
    let id = SetId::parse(&name, &dir).ok_or_else(|| bad_set(location))?;
    Ok((Store::open(&root)?, id))
}

fn bad_set(location: &str) -> Error {
    Error::usage(format!("\"{location}\" does not name a backup set")).with_hint(
        "give the set's folder or URL, e.g. /var/backups/app-data/2026-12-04T020000Z-vps1",
    )
}

fn reporter() -> Reporter {
    Reporter::new(OutputMode::detect(false), Redactor::default())
}

/// `runbook verify SET [--key-file K...]`.
pub fn verify_set(args: VerifyArgs) -> Result<()> {
    let (store, id) = locate_set(&args.set)?;
    let set = store.find(&id.name, &id.dir())?;
    let manifest = set.manifest.expect("find returns complete sets");
    let where_ = store.backend().describe(&id.path());
    if args.key_files.is_empty() {
        return Err(
            Error::usage("verify needs the key: --key-file FILE").with_hint(
                "the key is needed to check every encrypted segment and every file's checksum",
            ),
        );
    }
    let keys = read_keys(&args.key_files)?;
    crate::bindings::storage::check_key_matches(&keys, &manifest, &where_)?;
    let report = verify(
        &store,
        &id,
        &manifest,
        &keys,
        &Control::with_reporter(reporter()),
    )?;
    println!(
        "ok: set {where_}: {} object(s), {} stored; {} files ({}) match the manifest",
        report.objects,
        bytes(report.stored_bytes),
        report.files,
        bytes(report.file_bytes)
    );
    Ok(())
}

/// `runbook restore-files SET TARGET --key-file K... [--only P]... [--yes]`.
pub fn restore(args: RestoreFilesArgs) -> Result<()> {
    let (store, id) = locate_set(&args.set)?;
    let set = store.find(&id.name, &id.dir())?;
    let manifest = set.manifest.expect("find returns complete sets");
    let where_ = store.backend().describe(&id.path());
    let keys = read_keys(&args.key_files)?;
    crate::bindings::storage::check_key_matches(&keys, &manifest, &where_)?;
    let only = if args.only.is_empty() {
        None
    } else {
        Some(args.only.clone())
    };
    let replaced = manifest
        .files
        .iter()
        .filter(|f| f.kind != "dir" && args.target.join(&f.path).symlink_metadata().is_ok())
        .count();
    if replaced > 0 && !args.yes {
        let question = format!(
            "{replaced} existing file(s) in {} will be replaced (kept aside). Proceed?",
            args.target.display()
        );
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !interactive {
            return Err(Error::usage(format!("{question} — no terminal to ask on"))
                .with_hint("re-run with --yes to confirm"));
        }
        if !reporter().ask(&question) {
            return Err(Error::failed("not confirmed; nothing was changed"));
        }
    }
    let report = restore_files(
        &store,
        &id,
        &manifest,
        &keys,
        &args.target,
        only,
        &Control::with_reporter(reporter()),
    )?;
    println!(
        "restored {} files ({}) from {where_} into {}",
        report.extracted.files,
        bytes(report.extracted.bytes),
        args.target.display()
    );
    if let Some(aside) = &report.promoted.aside {
        println!("replaced files were kept in {}", aside.display());
    }
    Ok(())
}
