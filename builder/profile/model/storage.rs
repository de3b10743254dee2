//! `[storage]` and `[boot]`: the encrypted VM store (§105) and the boot and firmware lock (§30).

use serde::{Deserialize, Serialize};

use super::yes;
use crate::profile::names::Line;
use crate::profile::secrets::SecretRef;
use crate::profile::size::VolumeSize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unlock {
    Tpm2,
    Passphrase,
}

/// The LUKS2 key-derivation cost for passphrase keyslots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KdfCost {
    /// cryptsetup's argon2id defaults (about 2 s and 1 GiB on real hardware).
    Default,
    /// A tiny argon2id cost so that QEMU/TCG tests unlock quickly. Lab profiles only.
    TestOnly,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Storage {
    /// Size of the encrypted VM store: `"rest"` (grown to the rest of the disk at first boot) or e.g. `"200G"`.
    pub vmstore_size: VolumeSize,
    pub unlock: Vec<Unlock>,
    /// A recovery key is generated at first boot and shown once on the console (§105).
    pub recovery_key: bool,
    pub passphrase: Option<SecretRef>,
    pub kdf_cost: KdfCost,
    /// Whether the vmstore is encrypted at all (§105 says it must be).
    #[serde(default = "yes")]
    pub encrypted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Boot {
    /// GRUB superuser password; the image carries only its PBKDF2 hash.
    pub bootloader_password: Option<SecretRef>,
    pub firmware: Firmware,
}

/// The BIOS/UEFI settings that a disk image cannot carry (§30): emitted as a Redfish plan and a MANUAL step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Firmware {
    /// The BMC's Redfish base URL, if it has one.
    pub redfish_endpoint: Option<Line>,
    pub admin_password: Option<SecretRef>,
    pub secure_boot: bool,
    /// Boot order to set, e.g. `["disk"]`: boot only from the installed disk.
    pub boot_order: Vec<String>,
}
