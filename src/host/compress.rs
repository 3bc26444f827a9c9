//! Compression stages of the pipeline: zstd (default, multi-threaded) or gzip, as streaming
//! writers for backup and readers for restore.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::host::chunks::read_chunks;

/// How archives are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Compression {
    /// zstd at `level` (1–19) with `threads` worker threads (0 = single-threaded).
    Zstd {
        /// Compression level.
        level: i32,
        /// Worker threads.
        threads: u32,
    },
    /// gzip at `level` (1–9).
    Gzip {
        /// Compression level.
        level: u32,
    },
    /// Stored as is.
    None,
}

impl Default for Compression {
    fn default() -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        Compression::Zstd { level: 3, threads }
    }
}

impl Compression {
    /// Parses `zstd`, `zstd:5`, `gzip`, `gzip:9` or `none`.
    pub fn parse(text: &str) -> Result<Compression> {
        let (kind, level) = match text.split_once(':') {
            Some((k, l)) => (k, Some(l)),
            None => (text, None),
        };
        let bad = || {
            Error::usage(format!("unknown compression \"{text}\""))
                .with_hint("use zstd, zstd:LEVEL (1-19), gzip, gzip:LEVEL (1-9) or none")
        };
        let level_of = |default: i64, max: i64| -> Result<i64> {
            match level {
                None => Ok(default),
                Some(l) => l
                    .parse::<i64>()
                    .ok()
                    .filter(|l| (1..=max).contains(l))
                    .ok_or_else(bad),
            }
        };
        match kind {
            "zstd" => Ok(Compression::Zstd {
                level: level_of(3, 19)? as i32,
                threads: match Compression::default() {
                    Compression::Zstd { threads, .. } => threads,
                    _ => 1,
                },
            }),
            "gzip" => Ok(Compression::Gzip {
                level: level_of(6, 9)? as u32,
            }),
            "none" if level.is_none() => Ok(Compression::None),
            _ => Err(bad()),
        }
    }

    /// The file-name extension, e.g. `tar.zst`.
    pub fn extension(&self) -> &'static str {
        match self {
            Compression::Zstd { .. } => "zst",
            Compression::Gzip { .. } => "gz",
            Compression::None => "raw",
        }
    }

    /// Wraps `out` in a compressing writer; call [`Compressor::finish`] at the end.
    pub fn compressor<W: Write>(&self, out: W) -> Result<Compressor<W>> {
        Ok(match *self {
            Compression::Zstd { level, threads } => {
                let mut enc = zstd::stream::write::Encoder::new(out, level)
                    .map_err(|e| Error::io("starting zstd", e))?;
                if threads > 1 {
                    enc.multithread(threads)
                        .map_err(|e| Error::io("starting zstd workers", e))?;
                }
                Compressor::Zstd(enc)
            }
            Compression::Gzip { level } => Compressor::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(level),
            )),
            Compression::None => Compressor::None(out),
        })
    }

    /// Decompresses everything `input` yields, handing the output to `emit` in chunks of
    /// `chunk_len` bytes (the last one shorter).
    pub fn decompress_chunks(
        &self,
        input: &mut dyn Read,
        chunk_len: usize,
        emit: &mut dyn FnMut(Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        match self {
            Compression::Zstd { .. } => read_chunks(
                &mut zstd::stream::read::Decoder::new(input)?,
                chunk_len,
                emit,
            ),
            Compression::Gzip { .. } => {
                read_chunks(&mut flate2::read::GzDecoder::new(input), chunk_len, emit)
            }
            Compression::None => read_chunks(input, chunk_len, emit),
        }
    }
}

/// A compressing writer.
pub enum Compressor<W: Write> {
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, W>),
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// No compression.
    None(W),
}

impl<W: Write> Compressor<W> {
    /// Flushes the compressed stream's end and returns the inner writer.
    pub fn finish(self) -> std::io::Result<W> {
        match self {
            Compressor::Zstd(e) => e.finish(),
            Compressor::Gzip(e) => e.finish(),
            Compressor::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Compressor::Zstd(e) => e.write(buf),
            Compressor::Gzip(e) => e.write(buf),
            Compressor::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Compressor::Zstd(e) => e.flush(),
            Compressor::Gzip(e) => e.flush(),
            Compressor::None(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_each_kind() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in ["zstd", "zstd:9", "gzip", "gzip:1", "none"] {
            let c = Compression::parse(c).unwrap();
            let mut w = c.compressor(Vec::new()).unwrap();
            w.write_all(&data).unwrap();
            let packed = w.finish().unwrap();
            let mut back = Vec::new();
            c.decompress_chunks(&mut &packed[..], 4096, &mut |chunk| {
                back.extend_from_slice(&chunk);
                Ok(())
            })
            .unwrap();
            assert_eq!(back, data, "{c:?}");
        }
        assert!(Compression::parse("lz4").is_err());
        assert!(Compression::parse("zstd:99").is_err());
    }
}
