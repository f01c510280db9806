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
    /// Import methods offered (`/v2/info/import`): `glance-direct`, `web-download`.
    pub enabled_import_methods: Vec<String>,
    /// Where staged data (`PUT .../stage`, web-download) waits for its
    /// import; default `<data_dir>/image-staging`.
    pub staging_dir: String,
    /// Hours a finished task stays listed.
    pub task_time_to_live: u64,
    /// Which URLs `web-download` may fetch.
    pub import_filtering_opts: ImportFilteringOpts,
    pub image_import_opts: ImageImportOpts,
    pub image_conversion: ImageConversion,
    /// Enforce per-project quotas from the identity service's unified
    /// limits (`image_size_total`, `image_stage_total`, `image_count_total`,
    /// `image_count_uploading`).
    pub use_keystone_limits: bool,
}

/// Glance's `[import_filtering_opts]`: for schemes, hosts and ports, an
/// allow list wins over a deny list; an empty allow list allows all but
/// the denied. Ports are checked only when the URL names one.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportFilteringOpts {
    pub allowed_schemes: Vec<String>,
    pub disallowed_schemes: Vec<String>,
    pub allowed_hosts: Vec<String>,
    pub disallowed_hosts: Vec<String>,
    pub allowed_ports: Vec<u16>,
    pub disallowed_ports: Vec<u16>,
}

impl Default for ImportFilteringOpts {
    fn default() -> Self {
        ImportFilteringOpts {
            allowed_schemes: vec!["http".into(), "https".into()],
            disallowed_schemes: Vec::new(),
            allowed_hosts: Vec::new(),
            disallowed_hosts: Vec::new(),
            allowed_ports: vec![80, 443],
            disallowed_ports: Vec::new(),
        }
    }
}

/// Glance's `[image_import_opts]`: steps run on imported data before it is
/// stored (`image_conversion`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageImportOpts {
    pub image_import_plugins: Vec<String>,
}

/// Glance's `[image_conversion]`: the disk format imports are converted to
/// (with `qemu-img convert`) when the `image_conversion` plugin is on.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageConversion {
    pub output_format: String,
}

impl Default for ImageConversion {
    fn default() -> Self {
        ImageConversion { output_format: "raw".into() }
    }
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
            enabled_import_methods: vec!["glance-direct".into(), "web-download".into()],
            staging_dir: String::new(),
            task_time_to_live: 48,
            import_filtering_opts: ImportFilteringOpts::default(),
            image_import_opts: ImageImportOpts::default(),
            image_conversion: ImageConversion::default(),
            use_keystone_limits: false,
        }
    }
}
