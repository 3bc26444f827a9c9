//! A real S3-protocol server on 127.0.0.1 for tests: `s3s` + `s3s-fs` in-process, with SigV4
//! credentials, serving a temp folder (one subfolder per bucket). Knobs inject faults: answer the
//! next N requests with an error status, or stop the whole server after N part uploads.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

/// The access key of the test server.
pub const ACCESS_KEY: &str = "runbook-test-access";
/// The secret key of the test server.
pub const SECRET_KEY: &str = "runbook-test-secret-0123456789";
/// The bucket the server is created with.
pub const BUCKET: &str = "backups";

/// Fault injection knobs.
#[derive(Default)]
pub struct Faults {
    /// Answer this many coming requests with `fail_status` instead of serving them.
    pub fail_next: AtomicU32,
    /// The status for `fail_next` (default 503).
    pub fail_status: AtomicU16,
    /// Stop the server when this many part uploads have been received (0: never).
    pub stop_after_parts: AtomicU32,
    /// Requests seen.
    pub requests: AtomicU32,
    /// Part uploads seen.
    pub parts: AtomicU32,
    /// Requests answered with an injected failure.
    pub injected: AtomicU32,
}

/// A running S3 server.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The folder holding the buckets.
    pub root: PathBuf,
    /// Fault knobs.
    pub faults: Arc<Faults>,
    runtime: Arc<Mutex<Option<tokio::runtime::Runtime>>>,
    _dir: Option<tempfile::TempDir>,
}

impl S3Server {
    /// Starts a server with bucket `backups`.
    pub fn start() -> S3Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(BUCKET)).unwrap();
        Self::serve(dir)
    }

    /// Stops this server and starts a new one (new port) on the same data.
    pub fn restart(mut self) -> S3Server {
        self.stop();
        let dir = self._dir.take().expect("the data folder");
        Self::serve(dir)
    }

    fn serve(dir: tempfile::TempDir) -> S3Server {
        let root = dir.path().to_path_buf();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let faults = Arc::new(Faults::default());
        faults.fail_status.store(503, Ordering::SeqCst);
        let runtime = Arc::new(Mutex::new(Some(runtime)));
        let service = {
            let mut builder = S3ServiceBuilder::new(s3s_fs::FileSystem::new(&root).unwrap());
            builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            builder.build()
        };
        let knobs = faults.clone();
        let stopper = runtime.clone();
        let guard = runtime.lock().unwrap();
        guard.as_ref().unwrap().spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                let knobs = knobs.clone();
                let stopper = stopper.clone();
                let wrapped = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let service = service.clone();
                    let knobs = knobs.clone();
                    let stopper = stopper.clone();
                    async move {
                        knobs.requests.fetch_add(1, Ordering::SeqCst);
                        let is_part = req.uri().query().is_some_and(|q| q.contains("partNumber="));
                        if is_part {
                            let parts = knobs.parts.fetch_add(1, Ordering::SeqCst) + 1;
                            let limit = knobs.stop_after_parts.load(Ordering::SeqCst);
                            if limit > 0 && parts >= limit {
                                // Stop the whole server from outside its own runtime.
                                std::thread::spawn(move || {
                                    if let Some(rt) = stopper.lock().unwrap().take() {
                                        rt.shutdown_background();
                                    }
                                });
                                std::future::pending::<()>().await;
                            }
                        }
                        if knobs
                            .fail_next
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok()
                        {
                            knobs.injected.fetch_add(1, Ordering::SeqCst);
                            let status = knobs.fail_status.load(Ordering::SeqCst);
                            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>injected failure</Message></Error>";
                            return Ok(http::Response::builder()
                                .status(status)
                                .header("content-type", "application/xml")
                                .body(s3s::Body::from(body.to_string()))
                                .unwrap());
                        }
                        hyper::service::Service::call(&service, req).await
                    }
                });
                let conn = http.serve_connection(TokioIo::new(socket), wrapped).into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        drop(guard);
        S3Server {
            endpoint,
            root,
            faults,
            runtime,
            _dir: Some(dir),
        }
    }

    /// Stops the server: connections drop, new ones are refused.
    pub fn stop(&self) {
        if let Some(rt) = self.runtime.lock().unwrap().take() {
            rt.shutdown_background();
        }
    }

    /// The folder of the test bucket.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.join(BUCKET)
    }

    /// The ids of the sets called `name` under the tests' `mt5/` store prefix, sorted
    /// (complete or not); none when the folder does not exist.
    pub fn set_ids(&self, name: &str) -> Vec<String> {
        let dir = self.bucket_dir().join("mt5").join(name);
        let mut ids: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Like [`S3Server::set_ids`], only the complete sets (those with a `manifest.json`).
    pub fn complete_set_ids(&self, name: &str) -> Vec<String> {
        let dir = self.bucket_dir().join("mt5").join(name);
        self.set_ids(name)
            .into_iter()
            .filter(|id| dir.join(id).join("manifest.json").is_file())
            .collect()
    }

    /// The manifest of set `id` of `name` (under `mt5/`), as text.
    pub fn manifest(&self, name: &str, id: &str) -> String {
        let path = self
            .bucket_dir()
            .join("mt5")
            .join(name)
            .join(id)
            .join("manifest.json");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Every file below the bucket with its bytes (to prove nothing changed).
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push((rel, std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
