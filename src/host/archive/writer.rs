//! Writes extracted file contents on a second thread, so that reading, checking and hashing
//! the archive overlap with writing files — the slowest part of a restore.
//!
//! Safety decisions stay on the extracting thread: it creates each file (with `create_new`,
//! after checking every parent) and hands only the open file and its bytes to the writer. The
//! channel is bounded (a few chunks), so memory stays small; written buffers come back for
//! reuse. A write error is remembered and reported at the next hand-over and at
//! [`BackgroundWriter::close`].

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use filetime::FileTime;

use crate::error::{Error, Result};

/// Chunks in flight between the threads.
const QUEUE: usize = 8;

/// Bytes per chunk handed to the writer.
pub const WRITE_CHUNK: usize = 256 * 1024;

enum Job {
    Start(File, PathBuf),
    Data(Vec<u8>),
    Finish { mode: u32, mtime: i64 },
}

/// A writer thread for file contents.
pub struct BackgroundWriter {
    tx: Option<SyncSender<Job>>,
    spare: Receiver<Vec<u8>>,
    handle: Option<JoinHandle<()>>,
    failed: Arc<AtomicBool>,
    error: Arc<Mutex<Option<Error>>>,
}

impl BackgroundWriter {
    /// Starts the writer thread. `set_mode` applies a file's mode once it is written.
    pub fn new(set_mode: fn(&std::path::Path, u32) -> Result<()>) -> Self {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let (spare_tx, spare) = channel::<Vec<u8>>();
        let failed = Arc::new(AtomicBool::new(false));
        let error: Arc<Mutex<Option<Error>>> = Arc::default();
        let (flag, slot) = (failed.clone(), error.clone());
        let handle = std::thread::spawn(move || {
            let mut current: Option<(File, PathBuf)> = None;
            for job in rx {
                if flag.load(Ordering::Relaxed) {
                    continue; // keep draining so the sender never blocks forever
                }
                let outcome = match job {
                    Job::Start(file, dest) => {
                        current = Some((file, dest));
                        Ok(())
                    }
                    Job::Data(bytes) => {
                        let written = match current.as_mut() {
                            Some((file, dest)) => file
                                .write_all(&bytes)
                                .map_err(|e| Error::io(format!("writing {}", dest.display()), e)),
                            None => Ok(()),
                        };
                        let _ = spare_tx.send(bytes);
                        written
                    }
                    Job::Finish { mode, mtime } => match current.take() {
                        Some((file, dest)) => {
                            drop(file);
                            set_mode(&dest, mode).and_then(|()| {
                                filetime::set_file_mtime(&dest, FileTime::from_unix_time(mtime, 0))
                                    .map_err(|e| {
                                        Error::io(
                                            format!("setting the time of {}", dest.display()),
                                            e,
                                        )
                                    })
                            })
                        }
                        None => Ok(()),
                    },
                };
                if let Err(e) = outcome {
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    flag.store(true, Ordering::Relaxed);
                }
            }
        });
        BackgroundWriter {
            tx: Some(tx),
            spare,
            handle: Some(handle),
            failed,
            error,
        }
    }

    fn send(&self, job: Job) -> Result<()> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(self.take_error());
        }
        self.tx
            .as_ref()
            .expect("open until close")
            .send(job)
            .map_err(|_| Error::failed("the file writer stopped"))
    }

    fn take_error(&self) -> Error {
        self.error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| Error::failed("the file writer stopped"))
    }

    /// A buffer of [`WRITE_CHUNK`] bytes to fill, reused once written (no zeroing, no
    /// allocation after the first few).
    pub fn buffer(&self) -> Vec<u8> {
        let mut buffer = self.spare.try_recv().unwrap_or_default();
        buffer.resize(WRITE_CHUNK, 0);
        buffer
    }

    /// Hands over a newly created file.
    pub fn start(&self, file: File, dest: PathBuf) -> Result<()> {
        self.send(Job::Start(file, dest))
    }

    /// Queues bytes for the current file.
    pub fn data(&self, bytes: Vec<u8>) -> Result<()> {
        self.send(Job::Data(bytes))
    }

    /// Closes the current file and sets its mode and time.
    pub fn finish(&self, mode: u32, mtime: i64) -> Result<()> {
        self.send(Job::Finish { mode, mtime })
    }

    /// Waits until everything is written; the first write error, if any.
    pub fn close(mut self) -> Result<()> {
        self.tx.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        if self.failed.load(Ordering::Relaxed) {
            Err(self.take_error())
        } else {
            Ok(())
        }
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
