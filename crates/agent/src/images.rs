//! The agent's [`virt::ImageSource`]: image metadata and data from the
//! Image service of the controller it reports to, with the agent's token.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use virt::{DriverError, DriverResult, ImageMeta};

/// The agent's current token, shared by its sessions and its image source.
#[derive(Clone, Default)]
pub struct TokenCell(Arc<RwLock<Option<String>>>);

impl TokenCell {
    pub fn set(&self, token: &str) {
        *self.0.write().expect("token lock") = Some(token.to_string());
    }

    pub fn get(&self) -> Option<String> {
        self.0.read().expect("token lock").clone()
    }
}

pub struct GlanceImages {
    controller: String,
    token: TokenCell,
    client: reqwest::Client,
}

impl GlanceImages {
    pub fn new(controller: &str, token: TokenCell) -> GlanceImages {
        let client = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().expect("HTTP client");
        GlanceImages { controller: controller.trim_end_matches('/').to_string(), token, client }
    }

    fn get(&self, path: &str) -> DriverResult<reqwest::RequestBuilder> {
        let token = self
            .token
            .get()
            .ok_or_else(|| DriverError::new("the agent has no token yet; it has not reached its controller"))?;
        Ok(self.client.get(format!("{}/image/v2/images/{path}", self.controller)).header("X-Auth-Token", token))
    }
}

impl virt::ImageSource for GlanceImages {
    fn meta<'a>(&'a self, id: &'a str) -> BoxFuture<'a, DriverResult<ImageMeta>> {
        Box::pin(async move {
            let r = self
                .get(id)?
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .map_err(|e| DriverError::new(format!("cannot reach the Image service: {e}")))?;
            if r.status() == reqwest::StatusCode::NOT_FOUND {
                return Err(DriverError::abort_build(format!("image {id} was not found in the Image service")));
            }
            if !r.status().is_success() {
                return Err(DriverError::new(format!("the Image service answered {} for image {id}", r.status())));
            }
            r.json().await.map_err(|e| DriverError::new(format!("the Image service sent a bad image record: {e}")))
        })
    }

    fn download<'a>(&'a self, id: &'a str, dest: &'a Path) -> BoxFuture<'a, DriverResult<()>> {
        Box::pin(async move {
            let r = self
                .get(&format!("{id}/file"))?
                .send()
                .await
                .map_err(|e| DriverError::new(format!("cannot download image {id}: {e}")))?;
            if !r.status().is_success() {
                return Err(DriverError::new(format!(
                    "the Image service answered {} for the data of image {id}",
                    r.status()
                )));
            }
            let total = r.content_length().unwrap_or(0);
            let mut file = tokio::fs::File::create(dest)
                .await
                .map_err(|e| DriverError::new(format!("cannot write {}: {e}", dest.display())))?;
            let mut stream = r.bytes_stream();
            let (mut got, mut logged) = (0u64, std::time::Instant::now());
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| DriverError::new(format!("the download of image {id} broke off: {e}")))?;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| DriverError::new(format!("cannot write {}: {e}", dest.display())))?;
                got += chunk.len() as u64;
                if logged.elapsed() > Duration::from_secs(2) {
                    tracing::info!(image = %id, bytes = got, total, "downloading an image");
                    logged = std::time::Instant::now();
                }
            }
            file.sync_all().await.map_err(|e| DriverError::new(format!("cannot write {}: {e}", dest.display())))?;
            Ok(())
        })
    }
}
