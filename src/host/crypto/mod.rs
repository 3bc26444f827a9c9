//! Encrypted objects: streaming AES-256-GCM in Tink's AES256_GCM_HKDF_1MB streaming-AEAD
//! format, behind a 13-byte runbook envelope.
//!
//! An object is `envelope ‖ Tink stream`; the envelope (`RBKE`, version, key id) is the Tink
//! associated data, so any Tink implementation given the key can decrypt it (see
//! `docs/format.md`, "Recover without runbook"). The parts:
//!
//! - [`key`]: keys, their text forms and their public key ids.
//! - [`envelope`]: the runbook envelope.
//! - [`segment`]: the Tink header, per-object key derivation, nonces and segment sizes.
//! - [`stream`]: [`EncryptingWriter`] and [`DecryptingReader`], one segment in memory at a time.
//! - [`copy`]: [`encrypt_stream`] and [`decrypt_stream`] for whole reader-to-writer copies.

pub mod copy;
pub mod envelope;
pub mod key;
pub mod segment;
pub mod stream;

#[cfg(test)]
mod tests;

pub use copy::{decrypt_stream, encrypt_stream, StreamStats};
pub use envelope::{Envelope, ENVELOPE_LEN};
pub use key::{generate_key, Key, KeyId};
pub use stream::{DecryptingReader, EncryptingWriter};
