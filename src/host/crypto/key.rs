//! Encryption keys: generating, parsing from text, and their public key ids.
//!
//! A key is 32 random bytes, written as base64 (standard alphabet, padding optional) or as 64
//! hex characters. Its [`KeyId`] is 8 bytes derived from the key with HKDF-SHA256, so it can be
//! shown in messages and stored in every object to pick the right key, without revealing
//! anything about the key. Nothing in this module ever prints or echoes key material.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hkdf::Hkdf;
use sha2::Sha256;

use crate::error::{Error, Result};

/// Length of a key in bytes.
pub const KEY_LEN: usize = 32;

/// Length of a key id in bytes.
pub const KEY_ID_LEN: usize = 8;

/// The HKDF `info` that derives a key id from a key (salt empty).
pub const KEY_ID_INFO: &[u8] = b"runbook key id v1";

/// What to tell a user whose key text cannot be used.
const KEY_FORMAT_HINT: &str = "supply 32 random bytes as base64 (44 characters, or 43 without \
     padding) or as 64 hex characters; generate one with `openssl rand -base64 32`";

/// Standard base64 that accepts input with or without `=` padding.
const BASE64_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The public identifier of a [`Key`]: HKDF-SHA256(ikm = key, salt = empty,
/// info = `"runbook key id v1"`), first 8 bytes. Safe to show; displayed as 16 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    /// A key id from its 8 bytes (as stored in an object's envelope).
    pub fn from_bytes(bytes: [u8; KEY_ID_LEN]) -> Self {
        KeyId(bytes)
    }

    /// The 8 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; KEY_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A 32-byte encryption key. `Debug` shows only its [`KeyId`]; the bytes are wiped on drop.
#[derive(Clone)]
pub struct Key {
    bytes: [u8; KEY_LEN],
    id: KeyId,
}

impl Key {
    /// A key from its raw 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let mut id = [0u8; KEY_ID_LEN];
        Hkdf::<Sha256>::new(None, &bytes)
            .expand(KEY_ID_INFO, &mut id)
            .expect("8 bytes is a valid HKDF-SHA256 output length");
        Key {
            bytes,
            id: KeyId(id),
        }
    }

    /// A new key of 32 bytes from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|err| {
            Error::failed(format!("could not get random bytes for a new key: {err}"))
                .with_hint("the operating system's random number generator failed; retry")
        })?;
        Ok(Key::from_bytes(bytes))
    }

    /// Parses a key written as base64 (standard alphabet, padding optional) or 64 hex
    /// characters; surrounding whitespace is ignored. The error never contains the text.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::usage("the encryption key is empty").with_hint(KEY_FORMAT_HINT));
        }
        if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut bytes = [0u8; KEY_LEN];
            hex::decode_to_slice(text, &mut bytes).expect("checked: 64 hex digits");
            return Ok(Key::from_bytes(bytes));
        }
        // Decode errors are not shown: base64's messages quote the offending character.
        let decoded = BASE64_ANY_PADDING.decode(text).map_err(|_| {
            Error::usage(format!(
                "the encryption key ({} characters) is neither base64 nor 64 hex characters",
                text.chars().count()
            ))
            .with_hint(KEY_FORMAT_HINT)
        })?;
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| {
            Error::usage(format!(
                "the encryption key decodes from base64 to {} bytes; a key is exactly {KEY_LEN} bytes",
                decoded.len()
            ))
            .with_hint(KEY_FORMAT_HINT)
        })?;
        Ok(Key::from_bytes(bytes))
    }

    /// The key's public id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key as padded standard base64, for showing a freshly generated key to its owner
    /// once. Reveals the secret: never log it.
    pub fn to_base64(&self) -> String {
        BASE64_ANY_PADDING.encode(self.bytes)
    }

    /// The raw key bytes, for the crate's own cipher code only.
    pub(super) fn secret_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key {{ id: {}, bytes: <redacted> }}", self.id)
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        for byte in self.bytes.iter_mut() {
            // SAFETY: `byte` is a valid, aligned, exclusive reference into `self.bytes`.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

/// A new random key (see [`Key::generate`]).
pub fn generate_key() -> Result<Key> {
    Key::generate()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: [u8; KEY_LEN] = [0x5a; KEY_LEN];

    #[test]
    fn parses_hex_and_base64_with_and_without_padding() {
        let key = Key::from_bytes(RAW);
        let padded = key.to_base64();
        assert_eq!(padded.len(), 44);
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(unpadded.len(), 43);
        for text in [
            hex::encode(RAW),
            hex::encode_upper(RAW),
            padded.clone(),
            unpadded.to_string(),
            format!("  {padded}\n"),
        ] {
            assert_eq!(
                Key::parse(&text).unwrap().secret_bytes(),
                &RAW,
                "{}",
                text.len()
            );
        }
    }

    #[test]
    fn rejects_bad_keys_without_echoing_them() {
        let short = BASE64_ANY_PADDING.encode([0x5a; 16]);
        let cases = [
            "",
            "not a key!",
            "zzzz-secret-zzzz",
            short.as_str(),
            "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5",
        ];
        for text in cases {
            let err = Key::parse(text).unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains("encryption key"), "{shown}");
            assert!(shown.contains("hint:"), "{shown}");
            if !text.is_empty() {
                assert!(!shown.contains(text), "message echoes the key: {shown}");
            }
            assert!(!shown.contains("secret"));
        }
    }

    #[test]
    fn key_id_is_hkdf_of_the_key_and_debug_hides_the_bytes() {
        let key = Key::from_bytes(RAW);
        let mut expected = [0u8; KEY_ID_LEN];
        Hkdf::<Sha256>::new(Some(&[]), &RAW)
            .expand(b"runbook key id v1", &mut expected)
            .unwrap();
        assert_eq!(key.id().as_bytes(), &expected);
        assert_ne!(&expected[..], &RAW[..KEY_ID_LEN]);
        let debug = format!("{key:?}");
        assert!(debug.contains(&key.id().to_string()), "{debug}");
        assert!(!debug.contains("5a5a"), "{debug}");
        assert!(!debug.contains("90, 90"), "{debug}");
    }

    #[test]
    fn key_id_matches_the_documented_test_vector() {
        let key = Key::from_bytes(std::array::from_fn(|i| i as u8));
        assert_eq!(key.id().to_string(), "b8530dce38855b76");
    }

    #[test]
    fn generated_keys_differ() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a.secret_bytes(), b.secret_bytes());
        assert_ne!(a.id(), b.id());
    }
}
