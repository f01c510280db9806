//! Image service settings (`[image]` section of ferrostack.toml).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageConfig {
    /// Directory of the filesystem store; default `<data_dir>/images`.
    pub filesystem_store_datadir: String,
    /// Page size of image lists when the client gives no `limit`.
    pub limit_param_default: i64,
    /// Largest page of an image list.
    pub api_limit_max: i64,
    /// Largest image accepted, in bytes (413 beyond).
    pub image_size_cap: u64,
    /// Most members, properties and tags one image may have (413 beyond).
    pub image_member_quota: i64,
    pub image_property_quota: i64,
    pub image_tag_quota: i64,
    /// Refuse uploads whose content is not the declared `disk_format`.
    pub require_image_format_match: bool,
    /// How long an upload may go without progress before it counts as cut
    /// off (the controller died) and its image goes back to `queued`.
    pub upload_lease_seconds: u64,
}

impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            filesystem_store_datadir: String::new(),
            limit_param_default: 25,
            api_limit_max: 1000,
            image_size_cap: 1_099_511_627_776,
            image_member_quota: 128,
            image_property_quota: 128,
            image_tag_quota: 128,
            require_image_format_match: true,
            upload_lease_seconds: 120,
        }
    }
}
