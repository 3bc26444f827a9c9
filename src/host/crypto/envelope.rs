//! The 13-byte runbook envelope that starts every encrypted object.
//!
//! Layout: magic `RBKE` (4 bytes) ‖ format version (1 byte, = 1) ‖ key id (8 bytes). The whole
//! envelope is the Tink associated data of the stream that follows, so changing any byte of it
//! makes decryption fail.

use crate::error::{Error, Result};

use super::key::{KeyId, KEY_ID_LEN};

/// The 4 bytes every encrypted object starts with.
pub const MAGIC: [u8; 4] = *b"RBKE";

/// The only format version this code writes and reads.
pub const FORMAT_VERSION: u8 = 1;

/// Length of the envelope in bytes.
pub const ENVELOPE_LEN: usize = MAGIC.len() + 1 + KEY_ID_LEN;

/// The parsed envelope of an encrypted object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    key_id: KeyId,
}

impl Envelope {
    /// The envelope of an object encrypted with the key that has this id.
    pub fn new(key_id: KeyId) -> Self {
        Envelope { key_id }
    }

    /// The id of the key the object was encrypted with.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The 13 bytes as written (and used as associated data).
    pub fn to_bytes(&self) -> [u8; ENVELOPE_LEN] {
        let mut bytes = [0u8; ENVELOPE_LEN];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4] = FORMAT_VERSION;
        bytes[5..].copy_from_slice(self.key_id.as_bytes());
        bytes
    }

    /// Parses the first bytes of an object; `bytes` is everything read up to
    /// [`ENVELOPE_LEN`] (shorter only if the object itself is shorter).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let not_ours = |what: String| {
            Error::failed(format!("not a runbook encrypted object: {what}")).with_hint(
                "check that this is the encrypted file runbook wrote (it starts with \"RBKE\"), \
                 not a plaintext or a partial download",
            )
        };
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(not_ours("it does not start with \"RBKE\"".to_string()));
        }
        if bytes.len() < ENVELOPE_LEN {
            return Err(not_ours(format!(
                "it is only {} bytes long, shorter than the {ENVELOPE_LEN}-byte envelope",
                bytes.len()
            )));
        }
        let version = bytes[MAGIC.len()];
        if version != FORMAT_VERSION {
            return Err(Error::failed(format!(
                "unsupported format version {version} (this runbook reads version {FORMAT_VERSION})"
            ))
            .with_hint("decrypt it with the runbook release that wrote it, or upgrade runbook"));
        }
        let mut key_id = [0u8; KEY_ID_LEN];
        key_id.copy_from_slice(&bytes[MAGIC.len() + 1..ENVELOPE_LEN]);
        Ok(Envelope::new(KeyId::from_bytes(key_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_has_the_documented_layout() {
        let id = KeyId::from_bytes([1, 2, 3, 4, 5, 6, 7, 8]);
        let bytes = Envelope::new(id).to_bytes();
        assert_eq!(&bytes, b"RBKE\x01\x01\x02\x03\x04\x05\x06\x07\x08");
        assert_eq!(Envelope::parse(&bytes).unwrap().key_id(), id);
    }

    #[test]
    fn rejects_foreign_short_and_future_objects() {
        let bytes = Envelope::new(KeyId::from_bytes([9; 8])).to_bytes();
        let message = |b: &[u8]| Envelope::parse(b).unwrap_err().to_string();
        assert!(message(b"PK\x03\x04 zip").contains("not a runbook encrypted object"));
        assert!(message(b"").contains("not a runbook encrypted object"));
        assert!(message(&bytes[..7]).contains("only 7 bytes"));
        let mut future = bytes;
        future[4] = 2;
        assert!(message(&future).contains("unsupported format version 2"));
    }
}
