//! The object store behind a backup store: `file://` and `memory://` here (object storage
//! services plug in the same way), with a path prefix, and errors translated into messages that
//! say what to do.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetResultPayload, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};

use crate::context::secrets::Secret;
use crate::error::{Error, Result};

/// Settings for object-storage backends (`s3://`). `file://` and `memory://` take none.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Service endpoint, e.g. `https://<ref>.supabase.co/storage/v1/s3` or `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    /// Region (Supabase: the project's region; MinIO/R2: often `us-east-1` / `auto`).
    pub region: Option<String>,
    /// Access key id.
    pub access_key: Option<Secret>,
    /// Secret access key.
    pub secret_key: Option<Secret>,
    /// Session token (temporary credentials).
    pub session_token: Option<Secret>,
    /// Allow plain `http://` endpoints (local servers, tests).
    pub allow_http: bool,
    /// Virtual-hosted-style addressing instead of path-style (path-style is the default).
    pub virtual_hosted: bool,
    /// Extra attempts after a transient failure (default 6).
    pub retries: Option<usize>,
    /// Give up retrying a request after this long (default 90 s).
    pub retry_timeout: Option<std::time::Duration>,
    /// Set from a Supabase project ref: endpoint and path-style.
    pub supabase_project: Option<String>,
}

impl StoreOptions {
    /// Whether any option was set (only `s3://` stores take options).
    pub fn is_empty(&self) -> bool {
        self.endpoint.is_none()
            && self.region.is_none()
            && self.access_key.is_none()
            && self.secret_key.is_none()
            && self.session_token.is_none()
            && !self.allow_http
            && !self.virtual_hosted
            && self.retries.is_none()
            && self.retry_timeout.is_none()
            && self.supabase_project.is_none()
    }
}

/// The Supabase Storage S3 endpoint of a project (path-style addressing is required there).
pub fn supabase_endpoint(project_ref: &str) -> Result<String> {
    if project_ref.len() != 20 || !project_ref.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(Error::usage(format!(
            "\"{project_ref}\" is not a Supabase project ref (20 lowercase letters)"
        ))
        .with_hint("find it in the project URL: https://<ref>.supabase.co"));
    }
    Ok(format!("https://{project_ref}.supabase.co/storage/v1/s3"))
}

/// Part size for multipart uploads.
pub const PART_SIZE: usize = 8 << 20;

/// Parts uploaded at once.
pub const UPLOAD_CONCURRENCY: usize = 4;

/// An object store with a prefix.
#[derive(Clone, Debug)]
pub struct Backend {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    url: String,
}

impl Backend {
    /// Opens a store URL: `s3://bucket/prefix` (with `options`), `file:///var/backups` (or a
    /// plain path) or `memory://`.
    pub fn open_with(url: &str, options: &StoreOptions) -> Result<Backend> {
        if let Some(rest) = url.strip_prefix("s3://") {
            return Self::open_s3(url, rest, options);
        }
        if !options.is_empty() {
            return Err(Error::usage(format!(
                "storage options apply to s3:// stores only, not {url}"
            )));
        }
        Self::open(url)
    }

    fn open_s3(url: &str, rest: &str, options: &StoreOptions) -> Result<Backend> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::usage(format!("{url}: no bucket name"))
                .with_hint("write s3://BUCKET/optional/prefix"));
        }
        // Credentials: the options (from secret()), else the standard AWS_* environment.
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        // Only switch these on: the environment (AWS_ALLOW_HTTP, ...) may have set them already.
        if options.virtual_hosted {
            builder = builder.with_virtual_hosted_style_request(true);
        }
        if options.allow_http {
            builder = builder.with_allow_http(true);
        }
        builder = builder.with_retry(object_store::RetryConfig {
            max_retries: options.retries.unwrap_or(6),
            retry_timeout: options
                .retry_timeout
                .unwrap_or(std::time::Duration::from_secs(90)),
            backoff: object_store::BackoffConfig::default(),
        });
        let endpoint = match (&options.supabase_project, &options.endpoint) {
            (Some(_), Some(_)) => {
                return Err(Error::usage(
                    "give either `supabase_project` or `endpoint`, not both",
                ))
            }
            (Some(project), None) => Some(supabase_endpoint(project)?),
            (None, endpoint) => endpoint.clone(),
        };
        if options.supabase_project.is_some() && options.region.is_none() {
            return Err(Error::usage(
                "a Supabase store needs `region`: the project's region, shown in Storage settings",
            ));
        }
        if let Some(endpoint) = &endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &options.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &options.access_key {
            builder = builder.with_access_key_id(key.expose());
        }
        if let Some(key) = &options.secret_key {
            builder = builder.with_secret_access_key(key.expose());
        }
        if let Some(token) = &options.session_token {
            builder = builder.with_token(token.expose());
        }
        let store = builder.build().map_err(|e| {
            Error::usage(format!("cannot set up the store {url}: {e}"))
                .with_hint("check the bucket, region, endpoint and credentials")
        })?;
        let shown = match &endpoint {
            Some(endpoint) => format!("s3://{bucket}/{prefix} at {endpoint}"),
            None => format!("s3://{bucket}/{prefix}"),
        };
        Ok(Backend {
            store: Arc::new(store),
            prefix: ObjectPath::from(prefix),
            url: shown.trim_end_matches('/').replace("/ at ", " at "),
        })
    }

    /// Opens a store URL: `file:///var/backups` (or a plain path), `memory://`, or
    /// `s3://bucket/prefix` configured from the standard `AWS_*` environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
    /// `AWS_ALLOW_HTTP`) — what the command line uses.
    pub fn open(url: &str) -> Result<Backend> {
        if let Some(rest) = url.strip_prefix("s3://") {
            return Self::open_s3(url, rest, &StoreOptions::default());
        }
        if let Some(rest) = url.strip_prefix("memory://") {
            return Ok(Backend {
                store: Arc::new(InMemory::new()),
                prefix: ObjectPath::from(rest),
                url: url.to_string(),
            });
        }
        let local = if let Some(path) = url.strip_prefix("file://") {
            Some(path.to_string())
        } else if !url.contains("://") {
            Some(url.to_string())
        } else {
            None
        };
        if let Some(path) = local {
            let path = std::path::PathBuf::from(&path);
            if path.as_os_str().is_empty() {
                return Err(Error::usage(
                    "a file:// store needs a folder, e.g. file:///var/backups",
                ));
            }
            let absolute = std::path::absolute(&path)
                .map_err(|e| Error::io(format!("resolving {}", path.display()), e))?;
            let prefix = ObjectPath::from_absolute_path(&absolute).map_err(|e| {
                Error::usage(format!("cannot use {} as a store: {e}", absolute.display()))
            })?;
            return Ok(Backend {
                store: Arc::new(
                    LocalFileSystem::new()
                        .with_automatic_cleanup(true)
                        .with_fsync(true),
                ),
                prefix,
                url: format!("file://{}", absolute.display()),
            });
        }
        let scheme = url.split("://").next().unwrap_or_default();
        Err(
            Error::usage(format!("unsupported store URL scheme \"{scheme}://\""))
                .with_hint("use file:///path/to/folder or memory://"),
        )
    }

    /// The store URL, safe to show (no credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The full object path of `relative`.
    pub fn path(&self, relative: &str) -> ObjectPath {
        let mut path = self.prefix.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        path
    }

    /// `relative`'s location, for messages.
    pub fn describe(&self, relative: &str) -> String {
        match self.url.split_once(" at ") {
            Some((base, endpoint)) => {
                format!("{}/{relative} at {endpoint}", base.trim_end_matches('/'))
            }
            None => format!("{}/{}", self.url.trim_end_matches('/'), relative),
        }
    }

    fn error(&self, what: &str, relative: &str, err: object_store::Error) -> Error {
        let at = self.describe(relative);
        match err {
            object_store::Error::NotFound { .. } => {
                Error::failed(format!("{what} {at}: not found"))
            }
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                Error::failed(format!("{what} {at}: access denied ({err})"))
                    .with_hint("check the store credentials and their permissions")
            }
            other => {
                let text = other.to_string();
                let has = |needle: &str| text.contains(needle);
                if has("NoSuchBucket") {
                    Error::failed(format!("{what} {at}: the bucket does not exist"))
                        .with_hint("create the bucket, or fix the bucket name in the store URL")
                } else if has("InvalidAccessKeyId")
                    || has("SignatureDoesNotMatch")
                    || has("AccessDenied")
                    || has("403 Forbidden")
                {
                    Error::failed(format!(
                        "{what} {at}: the store refused the credentials (authentication failed)"
                    ))
                    .with_hint("check the access key and secret key (and the region); they come from secret(...)")
                } else if has("Connection refused")
                    || has("error sending request")
                    || has("connect")
                {
                    Error::failed(format!("{what} {at}: the store is unreachable ({text})"))
                        .with_hint("check the endpoint and the network, then run again; completed steps are skipped with --resume")
                } else {
                    Error::failed(format!("{what} {at}: {text}"))
                        .with_hint("check that the store is reachable, then run again")
                }
            }
        }
    }

    /// The names of the folders directly below `relative`.
    pub async fn list_dirs(&self, relative: &str) -> Result<Vec<String>> {
        let base = self.path(relative);
        match self.store.list_with_delimiter(Some(&base)).await {
            Ok(listing) => Ok(listing
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.error("listing", relative, e)),
        }
    }

    /// The objects directly below `relative` (name, size).
    pub async fn list_objects(&self, relative: &str) -> Result<Vec<(String, u64)>> {
        let base = self.path(relative);
        match self.store.list_with_delimiter(Some(&base)).await {
            Ok(listing) => Ok(listing
                .objects
                .iter()
                .filter_map(|m: &ObjectMeta| m.location.filename().map(|n| (n.to_string(), m.size)))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.error("listing", relative, e)),
        }
    }

    /// A small object's bytes, or `None` when it does not exist.
    pub async fn get_bytes(&self, relative: &str) -> Result<Option<Bytes>> {
        match self.store.get(&self.path(relative)).await {
            Ok(result) => result
                .bytes()
                .await
                .map(Some)
                .map_err(|e| self.error("reading", relative, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("reading", relative, e)),
        }
    }

    /// Writes a small object in one request.
    pub async fn put_bytes(&self, relative: &str, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&self.path(relative), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.error("writing", relative, e))
    }

    /// Writes a small object only if none exists there (conditional create: `If-None-Match: *`
    /// on S3). Returns `Ok(false)` when one exists. Where the server cannot do conditional
    /// writes, falls back to a plain write and returns `Ok(true)` — Supabase Storage, for one,
    /// ignores the condition and overwrites (see the README).
    pub async fn put_if_absent(&self, relative: &str, bytes: Vec<u8>) -> Result<bool> {
        let options = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(
                &self.path(relative),
                PutPayload::from(bytes.clone()),
                options,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { .. })
            | Err(object_store::Error::NotSupported { .. }) => {
                self.put_bytes(relative, bytes).await.map(|_| true)
            }
            Err(e) => Err(self.error("writing", relative, e)),
        }
    }

    /// Deletes one object (missing is fine).
    pub async fn delete(&self, relative: &str) -> Result<()> {
        match self.store.delete(&self.path(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("deleting", relative, e)),
        }
    }

    /// A byte range of an object.
    pub async fn get_range(&self, relative: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&self.path(relative), range)
            .await
            .map_err(|e| self.error("reading", relative, e))
    }

    /// A streamed download.
    pub async fn get_stream(
        &self,
        relative: &str,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>> {
        let result = self
            .store
            .get(&self.path(relative))
            .await
            .map_err(|e| self.error("reading", relative, e))?;
        Ok(match result.payload {
            // object_store reads local files 8 KiB at a time, one blocking task each; large
            // reads cut that overhead (a third of a restore's CPU time went there).
            GetResultPayload::File(file, _) => read_file_in_chunks(file, result.range),
            GetResultPayload::Stream(stream) => stream
                .map(|chunk| chunk.map_err(std::io::Error::other))
                .boxed(),
        })
    }

    /// Starts a multipart upload of `relative`.
    pub async fn start_upload(&self, relative: &str) -> Result<WriteMultipart> {
        let upload = self
            .store
            .put_multipart(&self.path(relative))
            .await
            .map_err(|e| self.error("starting the upload of", relative, e))?;
        Ok(WriteMultipart::new_with_chunk_size(upload, PART_SIZE))
    }

    /// Deletes every object below `relative`.
    pub async fn delete_prefix(&self, relative: &str) -> Result<usize> {
        let base = self.path(relative);
        let mut listing = self.store.list(Some(&base));
        let mut count = 0;
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.error("listing", relative, e))?;
            self.store
                .delete(&meta.location)
                .await
                .map_err(|e| self.error("deleting", relative, e))?;
            count += 1;
        }
        Ok(count)
    }

    /// Maps an upload error for `relative`.
    pub fn upload_error(&self, relative: &str, err: object_store::Error) -> Error {
        self.error("uploading", relative, err)
    }
}

/// Bytes per read of a local object.
const LOCAL_READ: u64 = 1 << 20;

/// Streams `range` of a local file in [`LOCAL_READ`]-byte chunks, each read on the blocking pool.
fn read_file_in_chunks(
    file: std::fs::File,
    range: std::ops::Range<u64>,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    let state = (file, range.start, range.end - range.start);
    futures::stream::try_unfold(state, |(mut file, offset, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Seek, SeekFrom};
            file.seek(SeekFrom::Start(offset))?;
            let want = remaining.min(LOCAL_READ);
            let mut chunk = Vec::with_capacity(want as usize);
            (&mut file).take(want).read_to_end(&mut chunk)?;
            if chunk.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the file ended {remaining} bytes early"),
                ));
            }
            let read = chunk.len() as u64;
            Ok(Some((
                Bytes::from(chunk),
                (file, offset + read, remaining - read),
            )))
        })
        .await
        .map_err(std::io::Error::other)?
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_schemes_are_refused() {
        let err = Backend::open("ftp://x").unwrap_err();
        assert!(err.message().contains("ftp://"), "{err}");
    }

    #[test]
    fn a_missing_folder_lists_empty_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("not-yet");
        let backend = Backend::open(&format!("file://{}", root.display())).unwrap();
        let dirs = crate::host::runtime::block_on(backend.list_dirs("app-data")).unwrap();
        assert!(dirs.is_empty());
        assert!(!root.exists());
    }

    #[test]
    fn local_objects_are_read_in_large_chunks_within_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(2 * LOCAL_READ + 5)).map(|i| (i % 251) as u8).collect();
        let path = dir.path().join("object");
        std::fs::write(&path, &data).unwrap();
        let read = |range: std::ops::Range<u64>| {
            let file = std::fs::File::open(&path).unwrap();
            crate::host::runtime::block_on(async {
                read_file_in_chunks(file, range)
                    .map(|chunk| chunk.map(|c| c.len()))
                    .collect::<Vec<_>>()
                    .await
            })
        };
        let sizes: Vec<usize> = read(0..data.len() as u64)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(sizes, [LOCAL_READ as usize, LOCAL_READ as usize, 5]);
        let sizes: Vec<usize> = read(3..10).into_iter().map(Result::unwrap).collect();
        assert_eq!(sizes, [7]);
        // A file shorter than the range (cut while being read) is an error, not a short object.
        let cut = read(0..data.len() as u64 + 1);
        assert!(cut.last().unwrap().is_err(), "{cut:?}");
    }
}
