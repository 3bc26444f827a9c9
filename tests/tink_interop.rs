//! Interop of runbook encrypted objects with Python `tink`, in both directions, and a check
//! that the "Recover without runbook" script in `docs/format.md` is the one tested here.
//!
//! Needs a Python with `tink` installed, named by `RUNBOOK_PYTHON`, or `.venv/bin/python`
//! under the repository root:
//!
//! ```sh
//! python3 -m venv .venv && .venv/bin/pip install tink
//! ```
//!
//! Without one the tests are skipped with a loud message, except under CI (`CI` set), where
//! they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use runbook::host::crypto::segment::FIRST_PLAINTEXT_SEGMENT_LEN;
use runbook::host::crypto::{decrypt_stream, encrypt_stream, Envelope, Key, ENVELOPE_LEN};

/// Plaintext sizes checked in each direction: empty, one byte, exactly one full segment, just
/// over one segment, and three segments.
const SIZES: [usize; 5] = [
    0,
    1,
    FIRST_PLAINTEXT_SEGMENT_LEN,
    FIRST_PLAINTEXT_SEGMENT_LEN + 1,
    3_000_000,
];

/// The interop script, relative to the repository root.
const SCRIPT: &str = "tests/support/tink_interop.py";

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python to run the script with, or `None` (after explaining why) to skip the test.
fn python() -> Option<PathBuf> {
    let python = match std::env::var_os("RUNBOOK_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => repo_root().join(".venv/bin/python"),
    };
    let has_tink = Command::new(&python)
        .args(["-c", "import tink.streaming_aead"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if has_tink {
        return Some(python);
    }
    let why = format!(
        "tink interop tests need a Python with `tink`; {} has none.\n\
         Set it up with: python3 -m venv .venv && .venv/bin/pip install tink\n\
         or point RUNBOOK_PYTHON at such an interpreter.",
        python.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{why}\n(CI is set, so this is a failure rather than a skip)");
    }
    eprintln!("\n!!!!!!!! SKIPPING tink interop test !!!!!!!!\n{why}\n");
    None
}

/// Runs the interop script; panics with its stderr (never the key) if it fails.
fn run_script(python: &Path, args: &[&str], env: Option<(&str, &str)>) -> Output {
    let mut command = Command::new(python);
    command.arg(repo_root().join(SCRIPT)).args(args);
    if let Some((name, value)) = env {
        command.env(name, value);
    }
    let output = command.output().expect("starting the Python interpreter");
    assert!(
        output.status.success(),
        "tink_interop.py {} failed: {}",
        args[0],
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A test key known in raw form (the Python side takes it as hex).
fn test_key(seed: u8) -> ([u8; 32], Key) {
    let raw: [u8; 32] = std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8));
    (raw, Key::from_bytes(raw))
}

/// Deterministic, incompressible-looking test data.
fn data(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn python_tink_decrypts_what_runbook_encrypts() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (raw, key) = test_key(1);
    for len in SIZES {
        let plaintext = data(len);
        let mut object = Vec::new();
        encrypt_stream(&plaintext[..], &mut object, &key).unwrap();
        let (envelope, stream) = object.split_at(ENVELOPE_LEN);
        let stream_path = dir.path().join("stream");
        let out_path = dir.path().join("plain");
        std::fs::write(&stream_path, stream).unwrap();
        run_script(
            &python,
            &[
                "decrypt",
                &hex::encode(raw),
                &hex::encode(envelope),
                stream_path.to_str().unwrap(),
                out_path.to_str().unwrap(),
            ],
            None,
        );
        assert!(
            std::fs::read(&out_path).unwrap() == plaintext,
            "tink decrypted {len} bytes differently"
        );
    }
}

#[test]
fn runbook_decrypts_what_python_tink_encrypts() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (raw, key) = test_key(2);
    let envelope = Envelope::new(key.id()).to_bytes();
    for len in SIZES {
        let plaintext = data(len);
        let plain_path = dir.path().join("plain");
        let stream_path = dir.path().join("stream");
        std::fs::write(&plain_path, &plaintext).unwrap();
        run_script(
            &python,
            &[
                "encrypt",
                &hex::encode(raw),
                &hex::encode(envelope),
                plain_path.to_str().unwrap(),
                stream_path.to_str().unwrap(),
            ],
            None,
        );
        let object = [&envelope[..], &std::fs::read(&stream_path).unwrap()].concat();
        let mut decrypted = Vec::new();
        let stats = decrypt_stream(&object[..], &mut decrypted, &[test_key(9).1, key.clone()])
            .unwrap_or_else(|err| panic!("decrypting tink's {len}-byte stream: {err}"));
        assert_eq!(stats.ciphertext_bytes, object.len() as u64);
        assert!(decrypted == plaintext, "{len} bytes decrypted differently");
    }
}

#[test]
fn the_documented_recover_script_decrypts_runbook_objects() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (raw, key) = test_key(3);
    let padded = key.to_base64();
    let unpadded = padded.trim_end_matches('=').to_string();
    let hex_key = hex::encode(raw);
    for (len, key_text) in [(3_000_000, &padded), (1, &unpadded), (0, &hex_key)] {
        let plaintext = data(len);
        let object_path = dir.path().join("backup.tar.zst.rbke");
        let mut object = Vec::new();
        encrypt_stream(&plaintext[..], &mut object, &key).unwrap();
        std::fs::write(&object_path, &object).unwrap();
        let output = run_script(
            &python,
            &["recover", object_path.to_str().unwrap()],
            Some(("BACKUP_ENCRYPTION_KEY", key_text.as_str())),
        );
        assert!(
            output.stdout == plaintext,
            "the recover script decrypted {len} bytes differently"
        );
    }
}

#[test]
fn docs_show_the_tested_recover_script_verbatim() {
    let script = std::fs::read_to_string(repo_root().join(SCRIPT)).unwrap();
    let begin = "# --- recover script: begin ---\n";
    let end = "# --- recover script: end ---";
    let start = script.find(begin).expect("begin marker") + begin.len();
    let stop = script.find(end).expect("end marker");
    let block = &script[start..stop];
    assert!(block.contains("def recover("));
    let docs = std::fs::read_to_string(repo_root().join("docs/format.md")).unwrap();
    assert!(
        docs.contains(block),
        "docs/format.md must contain, verbatim, the recover script between the markers in {SCRIPT}"
    );
}
