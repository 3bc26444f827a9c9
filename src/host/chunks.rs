//! Reading a stream as whole chunks: the hand-off unit between the pipeline's threads. A chunk
//! is filled completely unless the stream ends, so each hand-off carries as much as it can.

use std::io::{self, Read};

/// Reads until `buf` is full or the reader is at its end; returns the bytes read.
pub fn read_full(reader: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Reads `reader` to its end in chunks of `chunk_len` bytes (the last one shorter), handing
/// each to `emit`.
pub fn read_chunks(
    reader: &mut (impl Read + ?Sized),
    chunk_len: usize,
    emit: &mut dyn FnMut(Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    loop {
        let mut chunk = vec![0u8; chunk_len];
        let n = read_full(reader, &mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        chunk.truncate(n);
        emit(chunk)?;
        if n < chunk_len {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that yields at most 3 bytes per call.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn chunks_are_full_except_the_last() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut chunks = Vec::new();
        read_chunks(&mut Trickle(&data), 32, &mut |c| {
            chunks.push(c);
            Ok(())
        })
        .unwrap();
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, [32, 32, 32, 4]);
        assert_eq!(chunks.concat(), data);
    }

    #[test]
    fn an_exact_multiple_ends_without_an_empty_chunk() {
        let data = [7u8; 64];
        let mut sizes = Vec::new();
        read_chunks(&mut &data[..], 32, &mut |c| {
            sizes.push(c.len());
            Ok(())
        })
        .unwrap();
        assert_eq!(sizes, [32, 32]);
    }
}
