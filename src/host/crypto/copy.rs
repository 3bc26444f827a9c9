//! Whole-stream convenience: copy a reader into a writer, encrypting or decrypting on the way.

use std::io::{self, Read, Write};

use crate::error::{Error, Result};

use super::key::Key;
use super::stream::{DecryptingReader, EncryptingWriter};

/// Size of the buffer used to move data between reader and writer.
const COPY_BUFFER_LEN: usize = 64 * 1024;

/// How much data one encryption or decryption moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// Plaintext bytes (read when encrypting, written when decrypting).
    pub plaintext_bytes: u64,
    /// Encrypted object bytes, envelope included (written when encrypting, read when decrypting).
    pub ciphertext_bytes: u64,
}

/// Encrypts everything `reader` yields into `writer` as one complete object under `key`.
pub fn encrypt_stream<R: Read, W: Write>(
    mut reader: R,
    writer: W,
    key: &Key,
) -> Result<StreamStats> {
    const WRITING: &str = "writing the encrypted object";
    let counting = CountingWriter {
        inner: writer,
        written: 0,
    };
    let mut encrypting =
        EncryptingWriter::new(counting, key).map_err(|err| from_io(WRITING, err))?;
    let mut buffer = vec![0u8; COPY_BUFFER_LEN];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(from_io("reading the data to encrypt", err)),
        };
        encrypting
            .write_all(&buffer[..n])
            .map_err(|err| from_io(WRITING, err))?;
    }
    let plaintext_bytes = encrypting.plaintext_len();
    let counting = encrypting.finish().map_err(|err| from_io(WRITING, err))?;
    Ok(StreamStats {
        plaintext_bytes,
        ciphertext_bytes: counting.written,
    })
}

/// Decrypts the object `reader` yields into `writer`, choosing among `keys` by key id.
///
/// Plaintext reaches `writer` one verified segment at a time, so on failure `writer` may hold a
/// verified prefix of the data: treat the output as valid only when this returns `Ok`.
pub fn decrypt_stream<R: Read, W: Write>(
    reader: R,
    mut writer: W,
    keys: &[Key],
) -> Result<StreamStats> {
    const READING: &str = "reading the encrypted object";
    let mut decrypting =
        DecryptingReader::new(reader, keys).map_err(|err| from_io(READING, err))?;
    let mut buffer = vec![0u8; COPY_BUFFER_LEN];
    loop {
        let n = match decrypting.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(from_io(READING, err)),
        };
        writer
            .write_all(&buffer[..n])
            .map_err(|err| from_io("writing the decrypted data", err))?;
    }
    writer
        .flush()
        .map_err(|err| from_io("writing the decrypted data", err))?;
    debug_assert!(decrypting.is_complete());
    Ok(StreamStats {
        plaintext_bytes: decrypting.plaintext_len(),
        ciphertext_bytes: decrypting.ciphertext_len(),
    })
}

/// The runbook [`Error`] inside `err` if there is one (keeping its hint), else an I/O error
/// described by `what`, with a hint on where to look.
fn from_io(what: &str, err: io::Error) -> Error {
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
    {
        Some(inner) => inner.clone(),
        None => Error::io(what, err).with_hint(
            "check the source or destination (free space, permissions, network) and run the \
             step again",
        ),
    }
}

/// A writer that counts the bytes passed through it.
struct CountingWriter<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that always fails, like a full disk.
    struct FullDisk;

    impl Write for FullDisk {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn io_failures_name_the_side_and_carry_a_hint() {
        let key = Key::from_bytes([1; 32]);
        let err = encrypt_stream(&b"data"[..], FullDisk, &key).unwrap_err();
        assert!(
            err.message().starts_with("writing the encrypted object"),
            "{err}"
        );
        assert!(err.hint().is_some());
        let mut object = Vec::new();
        encrypt_stream(&b"data"[..], &mut object, &key).unwrap();
        let err = decrypt_stream(&object[..], FullDisk, &[key]).unwrap_err();
        assert!(
            err.message().starts_with("writing the decrypted data"),
            "{err}"
        );
    }

    #[test]
    fn format_failures_keep_their_own_message_and_hint() {
        let err = decrypt_stream(&b"not encrypted at all"[..], io::sink(), &[]).unwrap_err();
        assert!(
            err.message().starts_with("not a runbook encrypted object"),
            "{err}"
        );
        assert!(err.hint().unwrap().contains("RBKE"), "{err}");
    }
}
