//! The Tink AES256_GCM_HKDF_1MB streaming-AEAD building blocks: the stream header, the
//! per-object key derivation, segment sizes and segment nonces.
//!
//! Byte-compatible with Tink's `AesGcmHkdfStreaming` (derived key 32 bytes, HKDF-SHA256,
//! ciphertext segments of 1 MiB, no ciphertext offset); see `docs/format.md`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::error::{Error, Result};

use super::key::Key;

/// Length of the random HKDF salt in the header (= derived key length).
pub const SALT_LEN: usize = 32;

/// Length of the random nonce prefix in the header.
pub const NONCE_PREFIX_LEN: usize = 7;

/// Length of the Tink header: its own length byte, the salt and the nonce prefix (40).
pub const HEADER_LEN: usize = 1 + SALT_LEN + NONCE_PREFIX_LEN;

/// Length of each segment's AES-GCM tag.
pub const TAG_LEN: usize = 16;

/// Length of a full ciphertext segment (the header counts towards the first one).
pub const CIPHERTEXT_SEGMENT_LEN: usize = 1 << 20;

/// Plaintext carried by a full segment other than the first (1 MiB − 16).
pub const PLAINTEXT_SEGMENT_LEN: usize = CIPHERTEXT_SEGMENT_LEN - TAG_LEN;

/// Plaintext carried by a full first segment (1 MiB − 16 − 40).
pub const FIRST_PLAINTEXT_SEGMENT_LEN: usize = PLAINTEXT_SEGMENT_LEN - HEADER_LEN;

/// Plaintext capacity of segment `index` (the first one shares its space with the header).
pub fn plaintext_segment_len(index: u32) -> usize {
    if index == 0 {
        FIRST_PLAINTEXT_SEGMENT_LEN
    } else {
        PLAINTEXT_SEGMENT_LEN
    }
}

/// Length of the Tink stream (header and segments, no envelope) for a plaintext of `len` bytes.
pub fn stream_len(len: u64) -> u64 {
    let first = FIRST_PLAINTEXT_SEGMENT_LEN as u64;
    let rest = PLAINTEXT_SEGMENT_LEN as u64;
    let segments = if len <= first {
        1
    } else {
        1 + (len - first).div_ceil(rest)
    };
    HEADER_LEN as u64 + len + segments * TAG_LEN as u64
}

/// The Tink stream header: a random salt for the per-object key and a random nonce prefix.
pub struct StreamHeader {
    salt: [u8; SALT_LEN],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl StreamHeader {
    /// A fresh header from the operating system's random number generator.
    pub fn random() -> Result<Self> {
        let mut salt = [0u8; SALT_LEN];
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        getrandom::fill(&mut salt)
            .and_then(|()| getrandom::fill(&mut nonce_prefix))
            .map_err(|err| {
                Error::failed(format!("could not get random bytes for encryption: {err}"))
                    .with_hint("the operating system's random number generator failed; retry")
            })?;
        Ok(StreamHeader { salt, nonce_prefix })
    }

    /// The 40 header bytes: length byte (40) ‖ salt ‖ nonce prefix.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0] = HEADER_LEN as u8;
        bytes[1..1 + SALT_LEN].copy_from_slice(&self.salt);
        bytes[1 + SALT_LEN..].copy_from_slice(&self.nonce_prefix);
        bytes
    }

    /// Parses the 40 header bytes; fails if the length byte is not 40.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Self> {
        if bytes[0] as usize != HEADER_LEN {
            return Err(Error::failed(format!(
                "the encrypted object is damaged: its stream header declares length {} instead of {HEADER_LEN}",
                bytes[0]
            ))
            .with_hint("the object was modified or corrupted; restore it from another copy"));
        }
        let mut salt = [0u8; SALT_LEN];
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        salt.copy_from_slice(&bytes[1..1 + SALT_LEN]);
        nonce_prefix.copy_from_slice(&bytes[1 + SALT_LEN..]);
        Ok(StreamHeader { salt, nonce_prefix })
    }
}

/// Why a segment failed to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticationFailed;

/// AES-256-GCM under the per-object key, sealing and opening numbered segments.
pub struct SegmentCipher {
    aes: LessSafeKey,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl SegmentCipher {
    /// Derives the per-object key HKDF-SHA256(ikm = key, salt = header salt,
    /// info = associated data) and keeps the header's nonce prefix.
    pub fn new(key: &Key, header: &StreamHeader, associated_data: &[u8]) -> Self {
        let mut object_key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&header.salt), key.secret_bytes())
            .expand(associated_data, &mut object_key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let aes = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &object_key).expect("32 bytes is an AES-256 key"),
        );
        object_key.fill(0);
        SegmentCipher {
            aes,
            nonce_prefix: header.nonce_prefix,
        }
    }

    /// The 12-byte nonce of segment `index`: prefix ‖ BE32(index) ‖ last-segment flag.
    fn nonce(&self, index: u32, last: bool) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[..NONCE_PREFIX_LEN].copy_from_slice(&self.nonce_prefix);
        nonce[NONCE_PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
        nonce[11] = u8::from(last);
        nonce
    }

    /// Encrypts `buffer` in place as segment `index` and returns its tag.
    pub fn seal(&self, index: u32, last: bool, buffer: &mut [u8]) -> [u8; TAG_LEN] {
        let nonce = Nonce::assume_unique_for_key(self.nonce(index, last));
        let tag = self
            .aes
            .seal_in_place_separate_tag(nonce, Aad::empty(), buffer)
            .expect("a segment is far below AES-GCM's length limit");
        tag.as_ref().try_into().expect("AES-GCM tags are 16 bytes")
    }

    /// Verifies `tag` and decrypts `buffer` in place as segment `index`. On failure `buffer`
    /// may have been overwritten and must not be used.
    pub fn open(
        &self,
        index: u32,
        last: bool,
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> std::result::Result<(), AuthenticationFailed> {
        let nonce = Nonce::assume_unique_for_key(self.nonce(index, last));
        self.aes
            .open_in_place_separate_tag(nonce, Aad::empty(), tag, buffer)
            .map(|_| ())
            .map_err(|_| AuthenticationFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_tink_1mb() {
        assert_eq!(HEADER_LEN, 40);
        assert_eq!(FIRST_PLAINTEXT_SEGMENT_LEN, 1_048_520);
        assert_eq!(PLAINTEXT_SEGMENT_LEN, 1_048_560);
        assert_eq!(stream_len(0), 56);
        assert_eq!(stream_len(1_048_520), 1_048_576);
        assert_eq!(stream_len(1_048_521), 1_048_593);
        assert_eq!(stream_len(3_000_000), 3_000_088);
    }

    #[test]
    fn header_round_trips_and_rejects_a_wrong_length_byte() {
        let header = StreamHeader::random().unwrap();
        let bytes = header.to_bytes();
        assert_eq!(bytes[0], 40);
        assert_eq!(StreamHeader::parse(&bytes).unwrap().to_bytes(), bytes);
        let mut bad = bytes;
        bad[0] = 41;
        let message = StreamHeader::parse(&bad).err().unwrap().to_string();
        assert!(message.contains("header declares length 41"), "{message}");
    }

    #[test]
    fn nonce_is_prefix_counter_and_last_flag() {
        let header = StreamHeader::parse(&{
            let mut b = [0u8; HEADER_LEN];
            b[0] = 40;
            b[33..].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
            b
        })
        .unwrap();
        let cipher = SegmentCipher::new(&Key::from_bytes([0; 32]), &header, b"ad");
        assert_eq!(
            cipher.nonce(0x0102_0304, true),
            [1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 1]
        );
        assert_eq!(cipher.nonce(5, false)[7..], [0, 0, 0, 5, 0]);
    }
}
