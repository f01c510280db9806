//! Where image data lives. [`ImageStore`] is the interface every backend
//! implements (a Swift or S3 store can follow); [`FilesystemStore`] keeps
//! one file per image in a directory.
//!
//! A write is staged (`<id>.partial.<n>`, one file per writer) and only
//! becomes the image's data on `commit`, after an fsync, so a crash or a
//! failed upload never leaves a half-written file under an image's name,
//! and two writers of one image never write into the same file.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWriteExt, BufWriter};

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;
pub type DataReader = Box<dyn AsyncRead + Send + Unpin>;

pub trait ImageStore: Send + Sync {
    /// Starts writing an image's data; nothing is visible until `commit`.
    fn begin_write<'a>(&'a self, image_id: &'a str) -> StoreFuture<'a, Box<dyn StoreWrite>>;
    /// Reads stored data from `offset` on.
    fn open<'a>(&'a self, location: &'a str, offset: u64) -> StoreFuture<'a, DataReader>;
    /// Deletes stored data; data already gone is not an error.
    fn delete<'a>(&'a self, location: &'a str) -> StoreFuture<'a, ()>;
    /// Removes what an interrupted write of this image left behind.
    fn discard_partial<'a>(&'a self, image_id: &'a str) -> StoreFuture<'a, ()>;
    /// The store's id, as `/v2/info/stores` names it.
    fn id(&self) -> &str;
}

pub trait StoreWrite: Send {
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> StoreFuture<'a, ()>;
    /// Makes the data durable and returns its location.
    fn commit(self: Box<Self>) -> StoreFuture<'static, String>;
    /// Drops the staged data.
    fn abort(self: Box<Self>) -> StoreFuture<'static, ()>;
}

pub struct FilesystemStore {
    dir: PathBuf,
}

impl FilesystemStore {
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<FilesystemStore> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(FilesystemStore { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where an image's committed data is (for tools that need a file).
    pub fn final_path(&self, image_id: &str) -> PathBuf {
        self.dir.join(image_id)
    }

    fn partial_path(&self, image_id: &str) -> PathBuf {
        self.dir.join(format!("{image_id}.partial.{}", uuid::Uuid::new_v4().simple()))
    }

    /// The file a `file://` location names, if it is inside this store.
    fn path_of(&self, location: &str) -> io::Result<PathBuf> {
        let path = Path::new(location.strip_prefix("file://").unwrap_or(location));
        if path.parent() != Some(self.dir.as_path()) {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{location} is not in this store")));
        }
        Ok(path.to_path_buf())
    }
}

struct FileWrite {
    file: BufWriter<tokio::fs::File>,
    partial: PathBuf,
    target: PathBuf,
}

impl ImageStore for FilesystemStore {
    fn begin_write<'a>(&'a self, image_id: &'a str) -> StoreFuture<'a, Box<dyn StoreWrite>> {
        Box::pin(async move {
            let partial = self.partial_path(image_id);
            let file = tokio::fs::File::create(&partial).await?;
            let w: Box<dyn StoreWrite> = Box::new(FileWrite {
                file: BufWriter::with_capacity(1 << 20, file),
                partial,
                target: self.final_path(image_id),
            });
            Ok(w)
        })
    }

    fn open<'a>(&'a self, location: &'a str, offset: u64) -> StoreFuture<'a, DataReader> {
        Box::pin(async move {
            let mut file = tokio::fs::File::open(self.path_of(location)?).await?;
            if offset > 0 {
                file.seek(io::SeekFrom::Start(offset)).await?;
            }
            let r: DataReader = Box::new(file);
            Ok(r)
        })
    }

    fn delete<'a>(&'a self, location: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path_of(location)?).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn discard_partial<'a>(&'a self, image_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let prefix = format!("{image_id}.partial.");
            let mut entries = tokio::fs::read_dir(&self.dir).await?;
            while let Some(entry) = entries.next_entry().await? {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    match tokio::fs::remove_file(entry.path()).await {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
            }
            Ok(())
        })
    }

    fn id(&self) -> &str {
        "file"
    }
}

impl StoreWrite for FileWrite {
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.file.write_all(chunk).await })
    }

    fn commit(self: Box<Self>) -> StoreFuture<'static, String> {
        Box::pin(async move {
            let FileWrite { mut file, partial, target } = *self;
            file.flush().await?;
            file.get_ref().sync_all().await?;
            drop(file);
            tokio::fs::rename(&partial, &target).await?;
            if let Some(dir) = target.parent() {
                tokio::fs::File::open(dir).await?.sync_all().await?;
            }
            Ok(format!("file://{}", target.display()))
        })
    }

    fn abort(self: Box<Self>) -> StoreFuture<'static, ()> {
        Box::pin(async move {
            let FileWrite { file, partial, .. } = *self;
            drop(file);
            match tokio::fs::remove_file(&partial).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }
}
