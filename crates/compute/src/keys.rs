//! Public keys of keypairs: checking that an OpenSSH public key line holds a
//! well-formed key of a type Nova accepts, and its fingerprint (md5 of the
//! key blob, colon-separated hex, as `nova.crypto.generate_fingerprint`).

use base64::Engine;
use md5::{Digest, Md5};

const TYPES: &[&str] = &[
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ssh-ed25519@openssh.com",
];

/// Reads the SSH wire format's length-prefixed strings.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.0.get(..4)?.try_into().ok()?) as usize;
        let s = self.0.get(4..4 + len)?;
        self.0 = &self.0[4 + len..];
        Some(s)
    }
}

fn well_formed(kind: &str, blob: &[u8]) -> bool {
    let mut w = Wire(blob);
    if w.string() != Some(kind.as_bytes()) {
        return false;
    }
    let ok = match kind {
        "ssh-rsa" => {
            let (e, n) = (w.string(), w.string());
            e.is_some_and(|e| !e.is_empty()) && n.is_some_and(|n| n.len() >= 64)
        }
        "ssh-dss" => (0..4).all(|_| w.string().is_some_and(|p| !p.is_empty())),
        "ssh-ed25519" => w.string().is_some_and(|k| k.len() == 32),
        "sk-ssh-ed25519@openssh.com" => w.string().is_some_and(|k| k.len() == 32) && w.string().is_some(),
        k => {
            let curve = k.trim_start_matches("sk-").trim_start_matches("ecdsa-sha2-").trim_end_matches("@openssh.com");
            let named = w.string() == Some(curve.as_bytes());
            let point = w.string().is_some_and(|p| p.len() > 1 && p[0] == 4);
            named && point && (!k.starts_with("sk-") || w.string().is_some())
        }
    };
    ok && w.0.is_empty()
}

/// The fingerprint of an OpenSSH public key line, or `None` when it is not
/// a key Nova would accept.
pub fn ssh_fingerprint(public_key: &str) -> Option<String> {
    let mut fields = public_key.split_whitespace();
    let kind = fields.next()?;
    let data = fields.next()?;
    if !TYPES.contains(&kind) {
        return None;
    }
    let blob = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
    if !well_formed(kind, &blob) {
        return None;
    }
    let digest = Md5::digest(&blob);
    Some(digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

#[cfg(test)]
mod tests {
    use super::ssh_fingerprint;

    // Made with ssh-keygen; fingerprints from `ssh-keygen -l -E md5`.
    const KEYS: &[(&str, &str)] = &[
        (include_str!("../tests/keys/ed25519.pub"), "51:6f:6e:5b:d8:0d:c7:34:39:c4:62:51:27:4c:e6:2d"),
        (include_str!("../tests/keys/rsa.pub"), "d1:8e:d8:bb:b9:42:db:0d:9b:13:4f:34:bc:de:3f:ea"),
        (include_str!("../tests/keys/ecdsa.pub"), "bc:6d:e0:90:ef:9e:63:3d:81:a8:58:cf:ef:da:44:33"),
    ];

    #[test]
    fn fingerprints_as_ssh_keygen() {
        for (key, fp) in KEYS {
            assert_eq!(ssh_fingerprint(key).as_deref(), Some(*fp), "{key}");
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        let ed = KEYS[0].0.split_whitespace().nth(1).unwrap();
        assert_eq!(ssh_fingerprint(&format!("ssh-rsa {ed}")), None, "type token and blob disagree");
        assert_eq!(ssh_fingerprint("ssh-ed25519 not-base64!"), None);
        assert_eq!(ssh_fingerprint("garbage"), None);
        assert_eq!(ssh_fingerprint("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAQA="), None, "short key");
        assert_eq!(ssh_fingerprint(&format!("ssh-ed25519 {}", &ed[..ed.len() - 8])), None, "cut off");
    }
}
