//! The Image service (Glance v2): images and their properties, tags and
//! members, image data in a store behind [`store::ImageStore`] (a directory
//! of files today), content inspection of every upload, interoperable
//! import with its tasks, unified-limit quotas, and the schemas.
//!
//! It owns the `image_*` tables, the store's files and the staging
//! directory; quota limits come from Identity through
//! [`quota::LimitSource`]. Other services reach images through its HTTP API
//! or [`Images`] (e.g. [`Images::open_data`] to stream an image with its
//! checksum); they must not read its tables or files, and it must not touch
//! theirs.

pub mod config;
pub mod core;
pub mod db;
pub mod import;
pub mod inspect;
pub mod model;
pub mod policies;
pub mod quota;
pub mod store;

mod api;

pub use crate::api::router;
pub use crate::config::ImageConfig;
pub use crate::core::Images;
pub use crate::db::MIGRATIONS;
