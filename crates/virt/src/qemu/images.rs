//! The per-host cache of base images (`<data dir>/_base/<image id>`):
//! fetched once from the [`ImageSource`], checksum verified, one fetch at a
//! time per image, and the least recently used unused bases removed when
//! the cache outgrows its limit.
//!
//! Each base has a sidecar `<id>.json` recording the image's metadata and
//! the size and modification time of the data it verified; data whose size
//! or time changed since is verified again, and fetched again on mismatch.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use md5::Digest;
use serde::{Deserialize, Serialize};

use crate::{DriverError, DriverResult, ImageMeta, ImageSource};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Sidecar {
    meta: ImageMeta,
    size: u64,
    mtime_ns: u128,
}

/// A base image ready to use: its file and format (`qcow2` or `raw`).
#[derive(Clone, Debug)]
pub struct Base {
    pub path: PathBuf,
    pub format: String,
    pub meta: ImageMeta,
}

pub struct ImageCache {
    dir: PathBuf,
    source: Arc<dyn ImageSource>,
    max_bytes: u64,
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> DriverError {
    DriverError::new(format!("cannot {what} {}: {e}", path.display()))
}

fn stamp(path: &Path) -> std::io::Result<(u64, u128)> {
    let m = std::fs::metadata(path)?;
    let t = m.modified()?.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    Ok((m.len(), t))
}

/// Whether the file's data matches the image's checksum (sha512 when the
/// Image service gave one, md5 otherwise; no checksum at all passes).
fn verify(path: &Path, meta: &ImageMeta) -> DriverResult<bool> {
    let mut f = std::fs::File::open(path).map_err(|e| err("read", path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let sha = meta.os_hash_algo.as_deref() == Some("sha512") && meta.os_hash_value.is_some();
    let mut s512 = sha2::Sha512::new();
    let mut m5 = md5::Md5::new();
    loop {
        let n = f.read(&mut buf).map_err(|e| err("read", path, e))?;
        if n == 0 {
            break;
        }
        if sha {
            s512.update(&buf[..n]);
        } else {
            m5.update(&buf[..n]);
        }
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Ok(if sha {
        meta.os_hash_value.as_deref() == Some(hex(&s512.finalize()).as_str())
    } else {
        meta.checksum.as_deref().is_none_or(|c| c == hex(&m5.finalize()))
    })
}

impl ImageCache {
    pub fn new(dir: PathBuf, source: Arc<dyn ImageSource>, max_bytes: u64) -> ImageCache {
        ImageCache { dir, source, max_bytes, fetching: Mutex::new(HashMap::new()) }
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.fetching.lock().expect("image cache lock").entry(id.to_string()).or_default().clone()
    }

    /// The base of image `id`, fetched when it is not cached (or its cached
    /// data no longer matches its checksum). `in_use` names the bases
    /// instances still use, which the clean-up keeps.
    pub async fn get(&self, id: &str, in_use: &HashSet<String>) -> DriverResult<Base> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(DriverError::abort_build(format!("{id:?} is not an image id")));
        }
        let lock = self.lock_for(id);
        let _one_fetch = lock.lock().await;
        let data = self.dir.join(id);
        let side = self.dir.join(format!("{id}.json"));
        let cached: Option<Sidecar> = std::fs::read(&side).ok().and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(s) = cached {
            if let Ok((size, mtime_ns)) = stamp(&data) {
                let unchanged = size == s.size && mtime_ns == s.mtime_ns;
                let good = unchanged || {
                    let (d, m) = (data.clone(), s.meta.clone());
                    tokio::task::spawn_blocking(move || verify(&d, &m))
                        .await
                        .map_err(|e| DriverError::new(e.to_string()))??
                };
                if good {
                    if !unchanged {
                        self.write_sidecar(&side, &data, &s.meta)?;
                    }
                    // The sidecar's own time is the base's last use.
                    let _ = std::fs::File::options()
                        .append(true)
                        .open(&side)
                        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                    return base(&data, s.meta);
                }
                tracing::warn!(image = %id, path = %data.display(), "a cached base image no longer matches its checksum; fetching it again");
            }
        }
        let meta = self.source.meta(id).await?;
        if meta.status != "active" {
            return Err(DriverError::abort_build(format!(
                "image {id} is {} and has no data to boot from; upload its data first",
                if meta.status.is_empty() { "not active" } else { &meta.status }
            )));
        }
        let format = meta.disk_format.clone().unwrap_or_default();
        if !["qcow2", "raw", "ami", "aki", "ari"].contains(&format.as_str()) {
            return Err(DriverError::abort_build(format!(
                "image {id} has disk_format {format:?}; the QEMU driver boots qcow2 and raw images (and ami/aki/ari): convert it with qemu-img convert -O qcow2"
            )));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| err("create", &self.dir, e))?;
        let part = self.dir.join(format!(".{id}.part"));
        let _ = std::fs::remove_file(&part);
        let started = std::time::Instant::now();
        tracing::info!(image = %id, size = meta.size.unwrap_or(0), "fetching a base image");
        let fetched = self.source.download(id, &part).await;
        if let Err(e) = fetched {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
        let (p, m) = (part.clone(), meta.clone());
        let ok = tokio::task::spawn_blocking(move || verify(&p, &m))
            .await
            .map_err(|e| DriverError::new(e.to_string()))??;
        if !ok {
            let _ = std::fs::remove_file(&part);
            return Err(DriverError::abort_build(format!(
                "the data of image {id} does not match its checksum; the Image service holds corrupt data: upload the image again"
            )));
        }
        std::fs::rename(&part, &data).map_err(|e| err("rename", &part, e))?;
        self.write_sidecar(&side, &data, &meta)?;
        tracing::info!(image = %id, elapsed_ms = started.elapsed().as_millis() as u64, "base image cached");
        drop(_one_fetch);
        self.clean_up(in_use, id);
        base(&data, meta)
    }

    fn write_sidecar(&self, side: &Path, data: &Path, meta: &ImageMeta) -> DriverResult<()> {
        let (size, mtime_ns) = stamp(data).map_err(|e| err("read", data, e))?;
        let s = Sidecar { meta: meta.clone(), size, mtime_ns };
        let tmp = side.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&s).expect("json")).map_err(|e| err("write", &tmp, e))?;
        std::fs::rename(&tmp, side).map_err(|e| err("rename", &tmp, e))
    }

    /// Removes the least recently used bases no instance uses until the
    /// cache fits its limit (`keep` is never removed).
    pub fn clean_up(&self, in_use: &HashSet<String>, keep: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let mut bases: Vec<(std::time::SystemTime, String, u64)> = Vec::new();
        let mut total = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(id) = name.strip_suffix(".json") else { continue };
            let size = std::fs::metadata(self.dir.join(id)).map(|m| m.len()).unwrap_or(0);
            total += size;
            let used = e.metadata().and_then(|m| m.modified()).unwrap_or(UNIX_EPOCH);
            bases.push((used, id.to_string(), size));
        }
        bases.sort();
        for (_, id, size) in bases {
            if total <= self.max_bytes {
                break;
            }
            if id == keep || in_use.contains(&id) {
                continue;
            }
            tracing::info!(image = %id, bytes = size, "removing an unused base image (the image cache is over its limit)");
            let _ = std::fs::remove_file(self.dir.join(format!("{id}.json")));
            let _ = std::fs::remove_file(self.dir.join(&id));
            total -= size;
        }
    }
}

fn base(path: &Path, meta: ImageMeta) -> DriverResult<Base> {
    let format = match meta.disk_format.as_deref() {
        Some("qcow2") => "qcow2",
        _ => "raw",
    };
    Ok(Base { path: path.to_path_buf(), format: format.to_string(), meta })
}
