//! The object store behind a backup store: `file://` and `memory://` here (object storage
//! services plug in the same way), with a path prefix, and errors translated into messages that
//! say what to do.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::error::{Error, Result};

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
    /// Opens a store URL: `file:///var/backups` (or a plain path) or `memory://`.
    pub fn open(url: &str) -> Result<Backend> {
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
        format!("{}/{}", self.url.trim_end_matches('/'), relative)
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
            other => Error::failed(format!("{what} {at}: {other}"))
                .with_hint("check that the store is reachable, then run again"),
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
        Ok(result
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other))
            .boxed())
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
}
