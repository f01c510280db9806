//! Fernet tokens: the payload (who, scope, expiry, audit ids) is encrypted and
//! authenticated with keys from a key repository laid out as Keystone's
//! (`0` is the staged key, the highest number the primary, the others
//! secondaries that still decrypt). No database row per token.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub const METHOD_PASSWORD: u8 = 1;
pub const METHOD_TOKEN: u8 = 2;
pub const METHOD_APPLICATION_CREDENTIAL: u8 = 4;

pub fn methods_from_bits(bits: u8) -> Vec<String> {
    let mut m = Vec::new();
    if bits & METHOD_PASSWORD != 0 {
        m.push("password".to_string());
    }
    if bits & METHOD_TOKEN != 0 {
        m.push("token".to_string());
    }
    if bits & METHOD_APPLICATION_CREDENTIAL != 0 {
        m.push("application_credential".to_string());
    }
    m
}

/// What a token carries, MessagePack-encoded as an array (every field
/// always present, in this order) to keep tokens short.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Payload {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "m")]
    pub methods: u8,
    #[serde(rename = "p", default)]
    pub project_id: Option<String>,
    #[serde(rename = "d", default)]
    pub domain_id: Option<String>,
    #[serde(rename = "s", default)]
    pub system: bool,
    /// Microseconds since the epoch.
    #[serde(rename = "i")]
    pub issued_at: i64,
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// This token's audit id, then the audit id of the token it was rescoped from.
    #[serde(rename = "a")]
    pub audit_ids: Vec<String>,
    #[serde(rename = "c", default)]
    pub application_credential_id: Option<String>,
}

pub fn new_audit_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

pub struct KeyRepository {
    dir: PathBuf,
    fernet: fernet::MultiFernet,
    primary: fernet::Fernet,
}

impl KeyRepository {
    /// Loads the keys, creating a repository with a staged and a primary key
    /// if `dir` has none.
    pub fn open(dir: &Path) -> anyhow::Result<KeyRepository> {
        if list_keys(dir)?.is_empty() {
            setup(dir)?;
        }
        let keys = list_keys(dir)?;
        let mut ordered: Vec<fernet::Fernet> = Vec::new();
        // Primary (highest index) first so it encrypts; every key decrypts.
        for (_, key) in keys.iter().rev() {
            ordered.push(fernet::Fernet::new(key).with_context(|| {
                format!("a key in {} is not a valid Fernet key; restore it or run `ferrostack identity fernet-rotate` on a good copy", dir.display())
            })?);
        }
        let primary = fernet::Fernet::new(&keys.last().expect("keys present").1).expect("validated above");
        Ok(KeyRepository { dir: dir.to_path_buf(), fernet: fernet::MultiFernet::new(ordered), primary })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn encrypt(&self, payload: &Payload) -> String {
        let bytes = rmp_serde::to_vec(payload).expect("payload serializes");
        self.primary.encrypt(&bytes).trim_end_matches('=').to_string()
    }

    pub fn decrypt(&self, token: &str) -> Option<Payload> {
        if token.len() > 8192 || token.is_empty() {
            return None;
        }
        let padded = match token.len() % 4 {
            2 => format!("{token}=="),
            3 => format!("{token}="),
            _ => token.to_string(),
        };
        let bytes = self.fernet.decrypt(&padded).ok()?;
        rmp_serde::from_slice(&bytes).ok()
    }
}

fn write_key(path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(fernet::Fernet::generate_key().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn list_keys(dir: &Path) -> anyhow::Result<Vec<(u32, String)>> {
    let mut keys = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
        Err(e) => return Err(e).with_context(|| format!("cannot read key repository {}", dir.display())),
    };
    for entry in rd {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let key = std::fs::read_to_string(entry.path())?.trim().to_string();
        keys.push((n, key));
    }
    keys.sort_by_key(|(n, _)| *n);
    Ok(keys)
}

/// Creates a key repository with a staged key (0) and a primary key (1).
pub fn setup(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    write_key(&dir.join("0"))?;
    write_key(&dir.join("1"))?;
    Ok(())
}

/// Keystone's rotation: the staged key becomes the new primary, a new staged
/// key is made, and the oldest secondaries beyond `max_active` are removed.
/// Returns the index of the new primary.
pub fn rotate(dir: &Path, max_active: usize) -> anyhow::Result<u32> {
    let keys = list_keys(dir)?;
    if keys.is_empty() {
        setup(dir)?;
        return Ok(1);
    }
    let next = keys.last().map(|(n, _)| n + 1).unwrap_or(1);
    std::fs::rename(dir.join("0"), dir.join(next.to_string()))
        .with_context(|| format!("no staged key 0 in {}", dir.display()))?;
    write_key(&dir.join("0"))?;
    let mut keys = list_keys(dir)?;
    let max_active = max_active.max(3);
    while keys.len() > max_active {
        // keys[0] is the staged key; keys[1] the oldest secondary.
        let (n, _) = keys.remove(1);
        std::fs::remove_file(dir.join(n.to_string()))?;
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        Payload {
            user_id: "u1".into(),
            methods: METHOD_PASSWORD,
            project_id: Some("p1".into()),
            domain_id: None,
            system: false,
            issued_at: 1,
            expires_at: 2,
            audit_ids: vec!["aud1".into()],
            application_credential_id: None,
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_purged() {
        let dir = tempfile::tempdir().unwrap();
        let repo = KeyRepository::open(dir.path()).unwrap();
        let t1 = repo.encrypt(&payload());
        assert_eq!(repo.decrypt(&t1), Some(payload()));
        rotate(dir.path(), 3).unwrap();
        let repo = KeyRepository::open(dir.path()).unwrap();
        assert_eq!(repo.decrypt(&t1), Some(payload()), "secondary key still decrypts");
        let t2 = repo.encrypt(&payload());
        rotate(dir.path(), 3).unwrap();
        let repo = KeyRepository::open(dir.path()).unwrap();
        assert_eq!(repo.decrypt(&t1), None, "oldest key purged");
        assert_eq!(repo.decrypt(&t2), Some(payload()));
        assert_eq!(list_keys(dir.path()).unwrap().len(), 3);
        let mut tampered = t2.clone().into_bytes();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        assert_eq!(repo.decrypt(std::str::from_utf8(&tampered).unwrap()), None);
    }
}
