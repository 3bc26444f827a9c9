//! Bridges between synchronous pipeline stages (tar, compression, encryption: `Read`/`Write`)
//! and asynchronous object transfers, through bounded channels of byte chunks. Memory use is
//! bounded by chunk size × channel capacity, whatever the data size.

use std::io::{self, Read, Write};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

/// Bytes per chunk sent through a channel.
pub const CHUNK: usize = 1 << 20;

/// How many chunks may wait in a channel.
pub const CAPACITY: usize = 4;

/// The error a writer gets when the receiving stage has stopped (it reports its own error).
pub const RECEIVER_GONE: &str = "the next stage of the pipeline stopped";

/// A chunk, or the error that ended the stream.
pub type Chunk = io::Result<Bytes>;

/// A bounded channel for chunks.
pub fn channel() -> (mpsc::Sender<Chunk>, mpsc::Receiver<Chunk>) {
    mpsc::channel(CAPACITY)
}

/// A `Write` that sends what it is given as chunks (used from a plain thread).
pub struct ChannelWriter {
    tx: mpsc::Sender<Chunk>,
    buffer: BytesMut,
}

impl ChannelWriter {
    /// A writer sending into `tx`.
    pub fn new(tx: mpsc::Sender<Chunk>) -> Self {
        ChannelWriter {
            tx,
            buffer: BytesMut::new(),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = self.buffer.split().freeze();
        self.push(chunk)
    }

    fn push(&self, chunk: Bytes) -> io::Result<()> {
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, RECEIVER_GONE))
    }

    /// Sends `chunk` whole, after anything buffered, without copying it.
    pub fn send_chunk(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        self.send()?;
        if chunk.is_empty() {
            return Ok(());
        }
        self.push(Bytes::from(chunk))
    }

    /// Sends what is buffered and closes the stream.
    pub fn finish(mut self) -> io::Result<()> {
        self.send()
    }

    /// Ends the stream with an error, so the receiver fails instead of committing.
    pub fn fail(self, error: io::Error) {
        let _ = self.tx.blocking_send(Err(error));
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.buffer.is_empty() {
            self.buffer.reserve(CHUNK);
        }
        let room = CHUNK - self.buffer.len();
        let n = buf.len().min(room);
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A `Read` fed by chunks from a channel (used from a plain thread).
pub struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    current: Bytes,
}

impl ChannelReader {
    /// A reader taking chunks from `rx`; the stream ends when every sender is gone.
    pub fn new(rx: mpsc::Receiver<Chunk>) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_the_bridge_in_order() {
        let (tx, rx) = channel();
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 253) as u8).collect();
        let expected = data.clone();
        let writer = std::thread::spawn(move || {
            let mut w = ChannelWriter::new(tx);
            for piece in data.chunks(7777) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap();
        });
        let mut back = Vec::new();
        ChannelReader::new(rx).read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert_eq!(back, expected);
    }

    #[test]
    fn an_error_reaches_the_reader() {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let w = ChannelWriter::new(tx);
            w.fail(io::Error::other("disk on fire"));
        });
        let err = ChannelReader::new(rx)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("disk on fire"));
    }
}
