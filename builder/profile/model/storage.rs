//! `[storage]` and `[boot]`: the encrypted VM store (§105), the root slots and state partition, and the boot and
//! firmware lock (§30).

use serde::{Deserialize, Serialize};

use super::yes;
use crate::profile::names::Line;
use crate::profile::paths::InputPath;
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

/// The BIOS/UEFI settings that a disk image cannot carry (§30). `forja build` writes them as the firmware plan
/// (`firmware-plan.json`); `forja firmware apply` sets them through the BMC's Redfish service and `forja firmware
/// audit` checks them; what a BMC does not expose is a MANUAL step with its setup-menu path.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Firmware {
    /// The BMC's Redfish base URL, if it has one (the default for `--bmc`).
    pub redfish_endpoint: Option<Line>,
    /// The BMC account `forja firmware apply|audit` logs in with (HTTP basic authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc_user: Option<SecretRef>,
    /// That account's password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc_password: Option<SecretRef>,
    /// The firmware administrator (setup) password to set.
    pub admin_password: Option<SecretRef>,
    /// The administrator password the firmware has before forja's first change (an empty value in the secrets
    /// file when none is set). Only used when the BMC does not accept `admin-password` as the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_admin_password: Option<SecretRef>,
    pub secure_boot: bool,
    /// The site's Secure Boot keys (`forja keygen --secure-boot --out DIR`), relative to the profile's folder.
    /// Every EFI binary forja puts on an ESP is signed with its db key, and the firmware plan enrols PK, KEK and
    /// db. A lab profile gets clearly labelled test keys made on first use. Absent: nothing is signed and the
    /// firmware keeps the keys it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_boot_keys: Option<InputPath>,
    /// Boot order to set, e.g. `["disk"]`: boot only from the installed disk; every other boot option is off.
    pub boot_order: Vec<BootDevice>,
    /// How the BMC's boot options name the installed disk (`boot-order` entry `"disk"`).
    #[serde(default, skip_serializing_if = "BootDiskMatch::is_default")]
    pub boot_disk: BootDiskMatch,
}

/// A kind of boot device in `boot.firmware.boot-order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootDevice {
    /// The disk forja installs to, matched by [`BootDiskMatch`].
    Disk,
    /// Network boot (Redfish boot option alias `Pxe` or `UefiHttp`).
    Network,
    /// USB devices (`Usb`).
    Usb,
    /// Optical drives, virtual media included (`Cd`).
    Cd,
}

/// `boot-disk = { alias = "Hdd", uefi-device-path-contains = "NVMe(0x1," }`: every field given must match the
/// Redfish `BootOption`, and exactly one boot option may match (forja never guesses between two disks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BootDiskMatch {
    /// The boot option's `Alias` (a Redfish `BootSource`); default `"Hdd"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Text the boot option's `DisplayName` contains, e.g. the disk's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name_contains: Option<String>,
    /// Text the boot option's `UefiDevicePath` contains, e.g. `Sata(0,0xFFFF,0x0)` or `NVMe(0x1,`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uefi_device_path_contains: Option<String>,
}

impl BootDiskMatch {
    pub fn is_default(&self) -> bool {
        *self == BootDiskMatch::default()
    }
}
