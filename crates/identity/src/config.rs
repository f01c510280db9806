//! Identity settings (`[identity]`, `[token]`, `[fernet_tokens]`,
//! `[security_compliance]` sections of ferrostack.toml).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// bcrypt cost for passwords and application-credential secrets (4-31).
    pub password_hash_rounds: u32,
    /// Longest password accepted, in bytes.
    pub max_password_length: usize,
    /// Lifetime of a token, in seconds.
    pub token_expiration: i64,
    /// How long a token may still be validated with `allow_expired`, in seconds.
    pub allow_expired_window: i64,
    /// Seconds a validated token is served from memory before it is rebuilt.
    pub token_cache_time: u64,
    /// Directory of Fernet keys; default `<data-dir>/fernet-keys`.
    pub fernet_key_repository: Option<String>,
    /// Keys kept by `fernet-rotate` (staged + primary + secondaries).
    pub max_active_keys: usize,
    /// Seconds between reloads of revocation events written by other controllers.
    pub revocation_refresh_interval: u64,
    /// Largest list Keystone returns before marking it `truncated`; 0: none.
    pub list_limit: usize,
    pub security_compliance: SecurityCompliance,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            password_hash_rounds: 12,
            max_password_length: 4096,
            token_expiration: 3600,
            allow_expired_window: 172800,
            token_cache_time: 300,
            fernet_key_repository: None,
            max_active_keys: 3,
            revocation_refresh_interval: 1,
            list_limit: 0,
            security_compliance: SecurityCompliance::default(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityCompliance {
    /// Failed password attempts before a user is locked out; 0 disables lockout.
    pub lockout_failure_attempts: u32,
    /// Seconds a locked-out user stays locked.
    pub lockout_duration: u64,
    /// Days a password is valid; 0: passwords do not expire.
    pub password_expires_days: u32,
    /// New passwords must differ from this many previous ones (1: only the current).
    pub unique_last_password_count: u32,
    /// Days a password must be kept before the user may change it again.
    pub minimum_password_age: u32,
    /// Regular expression new passwords must match; empty: any.
    pub password_regex: String,
    pub password_regex_description: String,
    /// Require users to change their password when an admin set it.
    pub change_password_upon_first_use: bool,
}
