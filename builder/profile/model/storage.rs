//! `[storage]` and `[boot]`: the encrypted VM store (§105), the root slots and state partition, and the boot and
//! firmware lock (§30).

use serde::{Deserialize, Serialize};

use std::path::PathBuf;

use super::yes;
use crate::profile::secrets::SecretRef;
use crate::profile::size::{ByteSize, VolumeSize};

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
    /// The recovery key is sealed to this `age` recipient (`age1...`, the site's escrow key) and written to the
    /// install medium's records and the state partition; the console only says where it went. Absent: the key
    /// is printed once on the console.
    #[serde(default)]
    pub recovery_escrow: Option<String>,
    /// Size of each root slot (A and B): the read-only root image of this release and of every update must fit.
    #[serde(default = "default_slot")]
    pub root_slot_size: ByteSize,
    /// Size of the writable state partition (`/var`: logs, libvirt state, the device's own identity).
    #[serde(default = "default_state")]
    pub state_size: ByteSize,
}

fn default_slot() -> ByteSize {
    ByteSize(2 << 30)
}

fn default_state() -> ByteSize {
    ByteSize(256 << 20)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Boot {
    pub firmware: Firmware,
}

/// The BIOS/UEFI settings that a disk image cannot carry (§30): emitted as a Redfish plan and a MANUAL step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Firmware {
    /// The BMC's Redfish base URL, if it has one.
    pub redfish_endpoint: Option<String>,
    pub admin_password: Option<SecretRef>,
    pub secure_boot: bool,
    /// Boot order to set, e.g. `["disk"]`: boot only from the installed disk.
    pub boot_order: Vec<String>,
    /// The site's Secure Boot keys (`forja keygen --secure-boot --out DIR`), relative to the profile. Every EFI
    /// binary forja puts on an ESP is signed with its db key, and the firmware plan enrols PK, KEK and db. A lab
    /// profile gets clearly labelled test keys made on first use.
    #[serde(default)]
    pub secure_boot_keys: Option<PathBuf>,
}
