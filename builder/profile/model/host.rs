//! `[host]`: the hypervisor itself: names, time, remote logging, password policy, SSH (§51–52, §73, §89).

use serde::{Deserialize, Serialize};

use super::sixty;
use crate::profile::names::{
    Banner, DomainName, HostName, KeyLine, ServerName, SshToken, TimeZone,
};
use crate::profile::paths::InputPath;
use crate::profile::secrets::SecretRef;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Host {
    pub hostname: HostName,
    pub domain: DomainName,
    /// The host's time zone (`/etc/localtime`), a name from the base's tz database.
    pub timezone: TimeZone,
    /// Login banner shown before authentication (§51).
    pub banner: Banner,
    /// Idle shell sessions end after this many minutes (§51).
    pub session_timeout_minutes: u32,
    /// Console password of `root` on the host (§52). The image carries only its SHA-512 crypt hash; absent, root
    /// stays locked and the host has no console login.
    #[serde(default)]
    pub root_password: Option<SecretRef>,
    pub ntp: Vec<NtpServer>,
    pub syslog: Option<Syslog>,
    pub password_policy: PasswordPolicy,
    #[serde(default)]
    pub ssh: Ssh,
    /// Minutes between runs of the host's self-check of critical config files against the signed manifest
    /// (§77–80); it also runs at boot. 0 turns the timer off, which the policy refuses.
    #[serde(default = "sixty")]
    pub self_check_minutes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NtpKeyType {
    #[serde(rename = "SHA1")]
    Sha1,
    #[serde(rename = "SHA256")]
    Sha256,
    #[serde(rename = "SHA512")]
    Sha512,
    #[serde(rename = "AES128")]
    Aes128,
    #[serde(rename = "MD5")]
    Md5,
}

/// An authenticated NTP source (§73).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NtpServer {
    pub address: ServerName,
    /// Symmetric key id, 1..65535. Absent = unauthenticated (refused by the policy).
    pub key_id: Option<u32>,
    pub key_type: Option<NtpKeyType>,
    pub key: Option<SecretRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "1.0")]
    V1_0,
    #[serde(rename = "1.1")]
    V1_1,
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "1.3")]
    V1_3,
}

impl TlsVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::V1_0 => "1.0",
            TlsVersion::V1_1 => "1.1",
            TlsVersion::V1_2 => "1.2",
            TlsVersion::V1_3 => "1.3",
        }
    }
}

/// Remote syslog of the host (§89 spirit, the same server the Pexip nodes use).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Syslog {
    pub address: ServerName,
    pub port: u16,
    pub transport: Transport,
    pub tls_min_version: TlsVersion,
    /// CA certificate (PEM) that signs the syslog server's certificate; copied into the image.
    pub ca_certificate: Option<InputPath>,
}

/// Local password policy (§52), applied through PAM on the host and checked on the passwords forja hashes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PasswordPolicy {
    pub min_length: u32,
    /// How many of the four classes (lower, upper, digit, special) a password must contain.
    pub min_classes: u32,
    pub history: u32,
    pub max_age_days: u32,
    pub min_age_days: u32,
}

/// SSH on the host: off unless enabled; then keys only, CCN-STIC-807 algorithms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Ssh {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub password_authentication: bool,
    #[serde(default)]
    pub authorized_keys: Vec<KeyLine>,
    /// Overrides of forja's CCN-STIC-807 defaults; every entry is checked against the allowed list.
    #[serde(default)]
    pub kex: Vec<SshToken>,
    #[serde(default)]
    pub ciphers: Vec<SshToken>,
    #[serde(default)]
    pub macs: Vec<SshToken>,
}
