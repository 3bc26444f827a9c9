//! Fuzz target: the envelope and segment decoder must never panic, loop, or return unverified
//! plaintext, whatever bytes it is given. Seeds (`fuzz/seeds/decrypt/`) are valid objects made
//! with the fixed key below, so mutations reach deep into the segment logic.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use runbook::host::crypto::{DecryptingReader, Key};

/// The fixed fuzzing key (bytes 0..32), base64 `AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=`.
fn key() -> Key {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = i as u8;
    }
    Key::from_bytes(bytes)
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = DecryptingReader::new(data, &[key()]) else {
        return;
    };
    let mut out = Vec::new();
    if reader.read_to_end(&mut out).is_ok() {
        assert!(reader.is_complete(), "a clean end must mean the last segment verified");
    }
});
