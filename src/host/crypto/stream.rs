//! Streaming encryption and decryption of runbook encrypted objects with bounded memory.
//!
//! [`EncryptingWriter`] turns plaintext written to it into envelope ‖ Tink stream;
//! [`DecryptingReader`] turns such an object back into plaintext, releasing each segment only
//! after its tag verified. Both hold one segment (1 MiB) in memory, whatever the object size.
//! Every failure of the reader is an [`io::Error`] whose inner error is a
//! [`crate::error::Error`] with a message and a hint.

use std::io::{self, Read, Write};

use crate::error::Error;
use crate::host::chunks::read_full;

use super::envelope::{Envelope, ENVELOPE_LEN};
use super::key::{Key, KeyId};
use super::segment::{
    plaintext_segment_len, SegmentCipher, StreamHeader, CIPHERTEXT_SEGMENT_LEN, HEADER_LEN,
    PLAINTEXT_SEGMENT_LEN, TAG_LEN,
};

/// What to do about an object that fails to verify.
const DAMAGED_HINT: &str = "the object was modified, cut short or corrupted and none of it can be \
     trusted past the last verified segment; restore it again or use another copy";

/// An [`io::Error`] carrying a runbook [`Error`], so callers can recover message and hint.
fn io_error(kind: io::ErrorKind, err: Error) -> io::Error {
    io::Error::new(kind, err)
}

/// Encrypts everything written to it into `inner` as a runbook encrypted object.
///
/// The envelope and Tink header are written by [`EncryptingWriter::new`]; each full segment is
/// written as soon as the next byte arrives; [`EncryptingWriter::finish`] writes the last
/// segment. Dropping the writer without `finish` leaves a stream without a last segment, which
/// [`DecryptingReader`] rejects as truncated.
pub struct EncryptingWriter<W: Write> {
    inner: W,
    cipher: SegmentCipher,
    /// Plaintext of the segment being filled, encrypted in place when it is written out.
    segment: Vec<u8>,
    index: u32,
    plaintext_len: u64,
    ciphertext_len: u64,
    /// Set after a failed write to `inner`: the output is incomplete and must not be extended.
    poisoned: bool,
}

impl<W: Write> EncryptingWriter<W> {
    /// Starts an object encrypted with `key`: writes the envelope and a fresh random header.
    pub fn new(mut inner: W, key: &Key) -> io::Result<Self> {
        let envelope = Envelope::new(key.id()).to_bytes();
        let header = StreamHeader::random().map_err(|err| io_error(io::ErrorKind::Other, err))?;
        let cipher = SegmentCipher::new(key, &header, &envelope);
        inner.write_all(&envelope)?;
        inner.write_all(&header.to_bytes())?;
        Ok(EncryptingWriter {
            inner,
            cipher,
            segment: Vec::with_capacity(PLAINTEXT_SEGMENT_LEN),
            index: 0,
            plaintext_len: 0,
            ciphertext_len: (ENVELOPE_LEN + HEADER_LEN) as u64,
            poisoned: false,
        })
    }

    /// Plaintext bytes accepted so far.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Object bytes (envelope, header and segments) written to the inner writer so far.
    pub fn ciphertext_len(&self) -> u64 {
        self.ciphertext_len
    }

    /// Writes the last segment, flushes and returns the inner writer. Only after this is the
    /// output a complete, decryptable object.
    pub fn finish(mut self) -> io::Result<W> {
        self.check_not_poisoned()?;
        self.write_segment(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    fn check_not_poisoned(&self) -> io::Result<()> {
        if self.poisoned {
            return Err(io_error(
                io::ErrorKind::Other,
                Error::failed("an earlier write of the encrypted object failed")
                    .with_hint("start the encryption again; the partial output is unusable"),
            ));
        }
        Ok(())
    }

    /// Encrypts the buffered plaintext as the current segment and writes it out.
    fn write_segment(&mut self, last: bool) -> io::Result<()> {
        if self.index == u32::MAX && !last {
            return Err(io_error(
                io::ErrorKind::Other,
                Error::failed("the object is too large to encrypt (2^32 segments of 1 MiB)")
                    .with_hint("split the data into several objects"),
            ));
        }
        let tag = self.cipher.seal(self.index, last, &mut self.segment);
        self.poisoned = true;
        self.inner.write_all(&self.segment)?;
        self.inner.write_all(&tag)?;
        self.poisoned = false;
        self.ciphertext_len += (self.segment.len() + TAG_LEN) as u64;
        self.segment.clear();
        // After a last segment nothing more is written (`finish` consumes the writer).
        self.index = self.index.wrapping_add(1);
        Ok(())
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        self.check_not_poisoned()?;
        let accepted = buf.len();
        while !buf.is_empty() {
            let capacity = plaintext_segment_len(self.index);
            if self.segment.len() == capacity {
                // More data follows, so the full segment is not the last one.
                self.write_segment(false)?;
            }
            let take = (capacity - self.segment.len()).min(buf.len());
            self.segment.extend_from_slice(&buf[..take]);
            self.plaintext_len += take as u64;
            buf = &buf[take..];
        }
        Ok(accepted)
    }

    /// Flushes the inner writer; a partly filled segment stays buffered until it is full or
    /// [`EncryptingWriter::finish`] is called.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts a runbook encrypted object read from `inner`, yielding plaintext one verified
/// segment at a time.
///
/// Detects a wrong key, a foreign or future object, tampering with any byte, truncation (at a
/// segment boundary or inside a segment), reordered or duplicated segments, and bytes appended
/// after the last segment. After the last segment verified, [`DecryptingReader::is_complete`]
/// is true and reads return 0; a read that returns 0 always means the object was complete.
pub struct DecryptingReader<R: Read> {
    inner: R,
    cipher: SegmentCipher,
    key_id: KeyId,
    /// Ciphertext of the current segment, then (after verification) its plaintext.
    segment: Vec<u8>,
    /// Verified plaintext not yet returned: `segment[start..end]`.
    start: usize,
    end: usize,
    /// The first byte of the next segment, read to learn that the current one is not the last.
    lookahead: Option<u8>,
    index: u32,
    complete: bool,
    plaintext_len: u64,
    ciphertext_len: u64,
    /// The failure that stopped decryption; repeated by every later read.
    failure: Option<Error>,
}

impl<R: Read> DecryptingReader<R> {
    /// Reads the envelope and header and picks, among `keys`, the one whose id the envelope
    /// names (several keys allow rotation).
    pub fn new(mut inner: R, keys: &[Key]) -> io::Result<Self> {
        let mut envelope_bytes = [0u8; ENVELOPE_LEN];
        let got = read_full(&mut inner, &mut envelope_bytes)?;
        let envelope = Envelope::parse(&envelope_bytes[..got])
            .map_err(|err| io_error(io::ErrorKind::InvalidData, err))?;
        let key = select_key(envelope.key_id(), keys)
            .map_err(|err| io_error(io::ErrorKind::InvalidData, err))?;
        let mut header_bytes = [0u8; HEADER_LEN];
        let got = read_full(&mut inner, &mut header_bytes)?;
        if got < HEADER_LEN {
            return Err(io_error(
                io::ErrorKind::UnexpectedEof,
                Error::failed(format!(
                    "the encrypted object is truncated: it ends {} bytes into its {HEADER_LEN}-byte stream header",
                    got
                ))
                .with_hint(DAMAGED_HINT),
            ));
        }
        let header = StreamHeader::parse(&header_bytes)
            .map_err(|err| io_error(io::ErrorKind::InvalidData, err))?;
        Ok(DecryptingReader {
            inner,
            cipher: SegmentCipher::new(key, &header, &envelope_bytes),
            key_id: envelope.key_id(),
            segment: vec![0u8; CIPHERTEXT_SEGMENT_LEN + 1],
            start: 0,
            end: 0,
            lookahead: None,
            index: 0,
            complete: false,
            plaintext_len: 0,
            ciphertext_len: (ENVELOPE_LEN + HEADER_LEN) as u64,
            failure: None,
        })
    }

    /// True once the last segment has verified: the whole object was authentic and complete.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The id of the key the object was encrypted with.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Plaintext bytes verified so far (returned or about to be).
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Object bytes consumed so far, envelope and header included.
    pub fn ciphertext_len(&self) -> u64 {
        self.ciphertext_len
    }

    /// The inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads, verifies and decrypts the next segment into `segment[start..end]`.
    fn next_segment(&mut self) -> Result<(), (io::ErrorKind, Error)> {
        let index = self.index;
        let capacity = if index == 0 {
            CIPHERTEXT_SEGMENT_LEN - HEADER_LEN
        } else {
            CIPHERTEXT_SEGMENT_LEN
        };
        // Read one byte past the segment: if it exists, this segment is not the last.
        let mut filled = 0;
        if let Some(byte) = self.lookahead.take() {
            self.segment[0] = byte;
            filled = 1;
        }
        filled +=
            read_full(&mut self.inner, &mut self.segment[filled..capacity + 1]).map_err(|err| {
                (
                    err.kind(),
                    Error::failed(format!(
                        "reading segment {index} of the encrypted object: {err}"
                    ))
                    .with_hint("check the source of the object (disk, network) and retry"),
                )
            })?;
        let last = filled <= capacity;
        if !last && index == u32::MAX {
            return Err((
                io::ErrorKind::InvalidData,
                Error::failed(
                    "the encrypted object has more than 2^32 segments, which no writer produces",
                )
                .with_hint(DAMAGED_HINT),
            ));
        }
        let len = if last {
            filled
        } else {
            self.lookahead = Some(self.segment[capacity]);
            capacity
        };
        let offset = self.ciphertext_len;
        if len < TAG_LEN {
            return Err((
                io::ErrorKind::UnexpectedEof,
                Error::failed(format!(
                    "the encrypted object is truncated: segment {index} (at byte {offset}) has only {len} bytes, \
                     less than its {TAG_LEN}-byte tag"
                ))
                .with_hint(DAMAGED_HINT),
            ));
        }
        let (data, rest) = self.segment[..len].split_at_mut(len - TAG_LEN);
        let tag: &[u8; TAG_LEN] = (&*rest).try_into().expect("split at the tag length");
        // A full-length last segment may really be a non-last one where the stream was cut;
        // telling the two apart needs the ciphertext again, which a failed open may overwrite.
        let kept = (last && len == capacity).then(|| data.to_vec());
        if self.cipher.open(index, last, data, tag).is_err() {
            let cut_at_boundary =
                kept.is_some_and(|mut copy| self.cipher.open(index, false, &mut copy, tag).is_ok());
            let message = if cut_at_boundary {
                format!(
                    "the encrypted object is truncated: it ends after segment {index} (byte {}), \
                     which is not marked as the last segment",
                    offset + len as u64
                )
            } else {
                format!(
                    "segment {index} of the encrypted object (bytes {offset}..{}) failed authentication: \
                     the object was modified, truncated, reordered, or has extra bytes at its end",
                    offset + len as u64
                )
            };
            let kind = if cut_at_boundary {
                io::ErrorKind::UnexpectedEof
            } else {
                io::ErrorKind::InvalidData
            };
            return Err((kind, Error::failed(message).with_hint(DAMAGED_HINT)));
        }
        self.start = 0;
        self.end = len - TAG_LEN;
        self.ciphertext_len += len as u64;
        self.plaintext_len += self.end as u64;
        self.complete = last;
        self.index = index.wrapping_add(1);
        Ok(())
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(failure) = &self.failure {
                return Err(io_error(io::ErrorKind::InvalidData, failure.clone()));
            }
            if self.start < self.end {
                let n = (self.end - self.start).min(buf.len());
                buf[..n].copy_from_slice(&self.segment[self.start..self.start + n]);
                self.start += n;
                return Ok(n);
            }
            if self.complete {
                return Ok(0);
            }
            if let Err((kind, err)) = self.next_segment() {
                self.failure = Some(err.clone());
                return Err(io_error(kind, err));
            }
        }
    }
}

/// The key among `keys` whose id is `wanted`, or a "wrong key" error listing the ids.
fn select_key(wanted: KeyId, keys: &[Key]) -> crate::error::Result<&Key> {
    if let Some(key) = keys.iter().find(|key| key.id() == wanted) {
        return Ok(key);
    }
    let supplied = if keys.is_empty() {
        "no keys were supplied".to_string()
    } else {
        let ids: Vec<String> = keys.iter().map(|key| key.id().to_string()).collect();
        format!("the supplied keys have ids {}", ids.join(", "))
    };
    Err(Error::failed(format!(
        "wrong key: the object was encrypted with key id {wanted}, but {supplied}"
    ))
    .with_hint(format!(
        "supply the key with id {wanted} (BACKUP_ENCRYPTION_KEY or an older key for rotation)"
    )))
}
