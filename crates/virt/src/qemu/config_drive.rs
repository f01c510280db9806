//! The config drive as Nova writes it (`nova/virt/configdrive.py`): an
//! ISO 9660 volume labelled `config-2`, built with genisoimage and the
//! flags Nova passes it, holding `openstack/<version>/` for every metadata
//! version plus `latest`, and `ec2/2009-04-04/` and `ec2/latest/`.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use serde_json::{Map, Value};

use crate::{ConfigDrive, DriverError, DriverResult};

/// Nova's OpenStack metadata versions, oldest first (`latest` is the last).
const VERSIONS: &[&str] = &[
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
    "2025-04-04",
];

/// meta_data.json keys that appeared after the first version, with the
/// version that added them.
const KEY_SINCE: &[(&str, &str)] = &[
    ("random_seed", "2013-04-04"),
    ("project_id", "2015-10-15"),
    ("devices", "2016-06-30"),
    ("dedicated_cpus", "2020-10-14"),
];

/// The files of the drive, as (path, bytes).
pub fn files(cd: &ConfigDrive, user_data: Option<&str>) -> DriverResult<Vec<(String, Vec<u8>)>> {
    let user_data = match user_data.filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(u.trim())
                .map_err(|e| DriverError::new(format!("the instance's user data is not base64: {e}")))?,
        ),
    };
    let json = |v: &Value| serde_json::to_vec(v).expect("json");
    let mut out = Vec::new();
    for v in ["2009-04-04", "latest"] {
        if let Some(u) = &user_data {
            out.push((format!("ec2/{v}/user-data"), u.clone()));
        }
        out.push((format!("ec2/{v}/meta-data.json"), json(&cd.ec2_meta_data)));
    }
    let latest = cd.meta_data.as_object().cloned().unwrap_or_default();
    for (i, v) in VERSIONS.iter().copied().chain(["latest"]).enumerate() {
        let effective = VERSIONS.get(i).copied().unwrap_or(VERSIONS[VERSIONS.len() - 1]);
        let md: Map<String, Value> = latest
            .iter()
            .filter(|(k, _)| KEY_SINCE.iter().all(|(key, since)| k.as_str() != *key || effective >= *since))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.push((format!("openstack/{v}/meta_data.json"), json(&Value::Object(md))));
        if let Some(u) = &user_data {
            out.push((format!("openstack/{v}/user_data"), u.clone()));
        }
        if effective >= "2013-10-17" {
            out.push((format!("openstack/{v}/vendor_data.json"), b"{}".to_vec()));
        }
        if effective >= "2015-10-15" {
            out.push((format!("openstack/{v}/network_data.json"), json(&cd.network_data)));
        }
        if effective >= "2016-10-06" {
            out.push((format!("openstack/{v}/vendor_data2.json"), br#"{"static": {}}"#.to_vec()));
        }
    }
    Ok(out)
}

/// Writes the drive to `dest` (a scratch tree beside it is removed after).
pub fn build(cd: &ConfigDrive, user_data: Option<&str>, dest: &Path) -> DriverResult<()> {
    let tree = dest.with_extension("tree");
    let _ = std::fs::remove_dir_all(&tree);
    let result = (|| {
        for (path, data) in files(cd, user_data)? {
            let p = tree.join(&path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| DriverError::new(format!("cannot write the config drive: {e}")))?;
            }
            std::fs::write(&p, data).map_err(|e| DriverError::new(format!("cannot write the config drive: {e}")))?;
        }
        let out = Command::new("genisoimage")
            .arg("-o")
            .arg(dest)
            .args(["-ldots", "-allow-lowercase", "-allow-multidot", "-l", "-publisher", "ferrostack", "-quiet", "-J"])
            .args(["-r", "-V", "config-2"])
            .arg(&tree)
            .output()
            .map_err(|e| {
                DriverError::new(if e.kind() == std::io::ErrorKind::NotFound {
                    "genisoimage is not installed; install it (apt-get install genisoimage) to build config drives"
                        .into()
                } else {
                    format!("cannot run genisoimage: {e}")
                })
            })?;
        if !out.status.success() {
            return Err(DriverError::new(format!(
                "genisoimage failed to build the config drive: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tree);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_carry_the_keys_of_their_time_and_user_data_is_decoded() {
        let cd = ConfigDrive {
            meta_data: json!({"uuid": "u", "hostname": "h.novalocal", "random_seed": "x", "project_id": "p", "devices": [], "dedicated_cpus": []}),
            ec2_meta_data: json!({"instance-id": "i-00000001"}),
            network_data: json!({}),
        };
        let files: std::collections::BTreeMap<String, Vec<u8>> =
            files(&cd, Some("aGVsbG8=")).unwrap().into_iter().collect();
        let md =
            |v: &str| -> Value { serde_json::from_slice(&files[&format!("openstack/{v}/meta_data.json")]).unwrap() };
        assert!(md("2012-08-10").get("random_seed").is_none());
        assert!(md("2013-04-04").get("random_seed").is_some());
        assert!(md("2013-04-04").get("project_id").is_none());
        assert!(md("latest").get("dedicated_cpus").is_some());
        assert_eq!(files["openstack/latest/user_data"], b"hello");
        assert_eq!(files["ec2/latest/user-data"], b"hello");
        assert!(!files.contains_key("openstack/2013-04-04/vendor_data.json"));
        assert_eq!(files["openstack/2013-10-17/vendor_data.json"], b"{}");
        assert!(!files.contains_key("openstack/2013-10-17/network_data.json"));
        assert_eq!(files["openstack/latest/vendor_data2.json"], br#"{"static": {}}"#);
        assert!(files.contains_key("ec2/2009-04-04/meta-data.json"));
    }

    #[test]
    fn user_data_that_is_not_base64_is_refused() {
        let cd = ConfigDrive { meta_data: json!({}), ec2_meta_data: json!({}), network_data: json!({}) };
        assert!(files(&cd, Some("not base64!")).is_err());
    }
}
