//! The profile: one TOML file that describes a whole deployment (host, network, storage, boot, Pexip nodes and
//! the guide's settings). Keys are kebab-case and unknown keys are errors.
//!
//! The model accepts some values the guide forbids (a DHCP address, TLS 1.0, a 2048-bit RSA key, a 4-digit PIN)
//! on purpose: they parse, and the policy refuses them with the rule and paragraph they break, which tells the
//! user far more than a type error would. Values that are simply malformed (an address that is not an address)
//! fail at parse time with file, line and column.

use serde::{Deserialize, Serialize};

use super::names::{Line, MirrorUrl, PackageName, Suite};
use super::paths::InputPath;
use super::secrets::SecretRef;

mod host;
mod network;
mod pexip;
mod storage;

pub use host::*;
pub use network::*;
pub use pexip::*;
pub use storage::*;

pub use super::install::{Install, TargetRule};
pub use super::size::{ByteSize, VolumeSize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    pub profile: Meta,
    pub base: Base,
    pub host: Host,
    pub network: Network,
    pub storage: Storage,
    pub boot: Boot,
    pub pexip: Pexip,
    #[serde(default)]
    pub operation: Operation,
    pub signing: Signing,
    #[serde(default)]
    pub outputs: Outputs,
    /// How the site installer picks the target disk (`forja media`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Install>,
    /// Offline A/B updates (`forja bundle`, `forja update apply`).
    #[serde(default)]
    pub update: Update,
}

/// Offline A/B updates: how a freshly written slot is tried before the previous one boots again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Update {
    /// Boots systemd-boot gives a new slot (its image lands as `forja-b+TRIES.efi`) before it falls back to the
    /// previous slot, unless the health check marks it good first.
    #[serde(default)]
    pub boot_tries: BootTries,
}

/// systemd-boot's try counter for a new slot: 1 to 9 (one digit keeps the counted file names short and a broken
/// slot's fall-back within minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct BootTries(pub u8);

impl Default for BootTries {
    fn default() -> Self {
        BootTries(3)
    }
}

impl TryFrom<u32> for BootTries {
    type Error = String;
    fn try_from(n: u32) -> Result<Self, String> {
        match n {
            1..=9 => Ok(BootTries(n as u8)),
            _ => Err(format!(
                "boot-tries must be 1 to 9 (boots a new slot gets before the previous one returns), not {n}"
            )),
        }
    }
}

impl From<BootTries> for u32 {
    fn from(b: BootTries) -> u32 {
        u32::from(b.0)
    }
}

/// What the profile is for: a production profile gets no test-only shortcuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    Production,
    Lab,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Meta {
    pub name: Line,
    #[serde(default)]
    pub description: String,
    pub purpose: Purpose,
    /// The secrets file, relative to the profile.
    pub secrets: InputPath,
    /// A secret per deployment from which forja derives the salts of the password hashes it writes (Pexip's
    /// Django and sha512-crypt hashes): builds stay reproducible, and no two deployments share a salt.
    #[serde(default)]
    pub build_seed: Option<SecretRef>,
}

/// The Debian base of the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Base {
    /// Debian suite, e.g. `bookworm`.
    pub suite: Suite,
    /// Mirror URL (a local mirror for offline builders is fine).
    pub mirror: MirrorUrl,
    /// Packages beyond forja's minimal host set (each one is reported: §28 asks for no extra software).
    #[serde(default)]
    pub extra_packages: Vec<PackageName>,
    /// A prebuilt rootfs tarball with pinned hash, instead of running mmdebstrap.
    #[serde(default)]
    pub tarball: Option<PinnedFile>,
    /// SOURCE_DATE_EPOCH for the build when the environment does not set one (at most the end of year 9999).
    #[serde(deserialize_with = "super::load::epoch")]
    pub source_date_epoch: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PinnedFile {
    pub path: InputPath,
    pub sha256: crate::hashio::Sha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cadence {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Never,
}

/// The operator's commitments for the operation phase (§106–107), printed in the report as MANUAL steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Operation {
    pub security_updates: Cadence,
    pub audit_log_review: Cadence,
    pub resource_review: Cadence,
    pub bulletin_review: Cadence,
    /// The hash the operator checks update packages with before applying them (§75: SHA-256).
    #[serde(default = "sha256")]
    pub update_verification_hash: HashAlg,
}

fn sha256() -> HashAlg {
    HashAlg::Sha256
}

impl Default for Operation {
    fn default() -> Self {
        Operation {
            security_updates: Cadence::Never,
            audit_log_review: Cadence::Never,
            resource_review: Cadence::Never,
            bulletin_review: Cadence::Never,
            update_verification_hash: HashAlg::Sha256,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Signing {
    /// The ed25519 secret key (signify format) that signs SHA256SUMS. Relative to the profile.
    pub key: InputPath,
}

/// Which artifacts a build produces beyond `disk.raw` and its signed metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Outputs {
    #[serde(default = "yes")]
    pub compressed: bool,
    #[serde(default)]
    pub usb: bool,
    #[serde(default)]
    pub pxe: bool,
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs {
            compressed: true,
            usb: false,
            pxe: false,
        }
    }
}

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn sixty() -> u32 {
    60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_tries_default_to_three_and_stay_within_one_digit() {
        #[derive(Debug, Deserialize)]
        struct T {
            update: Update,
        }
        let t: T = toml::from_str("[update]\n").unwrap();
        assert_eq!(t.update.boot_tries, BootTries(3));
        let t: T = toml::from_str("[update]\nboot-tries = 5\n").unwrap();
        assert_eq!(t.update.boot_tries, BootTries(5));
        for bad in ["0", "10"] {
            let err = toml::from_str::<T>(&format!("[update]\nboot-tries = {bad}\n")).unwrap_err();
            assert!(err.message().contains("boot-tries must be 1 to 9"), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_inline() {
        let err = toml::from_str::<Reservation>(
            "vcpus = 4\nmemory-mb = 4096\ndisk-gb = 100\npined = true\n",
        )
        .unwrap_err();
        assert!(err.message().contains("unknown field `pined`"), "{err}");
    }
}
