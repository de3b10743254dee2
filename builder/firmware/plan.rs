//! The firmware plan: the desired firmware state of §30 in the values a Redfish BMC accepts, per setting, each
//! with the setup-menu step to take where the BMC does not expose it.
//!
//! `forja build` writes it as `firmware-plan.json`; `forja firmware apply` and `audit` work from the same value.
//! It names secrets, never holds them. Where the plan cannot know the BMC (which boot option is the installed
//! disk, which action target the BIOS password takes), it holds the rule the BMC's own answers are matched
//! against: `boot.disk` says how the installed disk is recognised among the BMC's `BootOptions`.
//!
//! The settings, each judged on its own by `audit`:
//! - `admin-password`: `Bios.ChangePassword` with `PasswordName` `AdminPassword`;
//! - `boot-order`: `Boot.BootOrder` = the boot options of `boot.order` (the installed disk), with
//!   `BootSourceOverrideEnabled` `Disabled`; on a BMC without `BootOrder`, the persistent override
//!   (`BootSourceOverrideTarget` `Hdd`, `Continuous`), which picks a kind of device, not a disk;
//! - `boot-others-off`: `BootOptionEnabled` false on every other boot option (network, USB, optical, other disks);
//! - `secure-boot`: `SecureBootEnable` true;
//! - `secure-boot-keys`: PK, KEK and db hold exactly the site's certificates.

use serde::{Deserialize, Serialize};

use super::keys::{self, SiteKeys};
use crate::profile::Loaded;
use crate::profile::model::{BootDevice, BootDiskMatch};
use crate::profile::secrets::SecretRef;

/// The firmware plan's file name in a build's output folder.
pub const PLAN_FILE: &str = "firmware-plan.json";
/// The plan's format tag.
pub const FORMAT: &str = "forja-firmware-plan/1";
/// The guide rules the plan carries out.
pub const RULES: &[&str] = &["1616-4.6.b"];

/// One setting of the plan, as `apply` reports it and `audit` judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Setting {
    AdminPassword,
    BootOrder,
    BootOthersOff,
    SecureBoot,
    SecureBootKeys,
}

impl Setting {
    pub const ALL: [Setting; 5] = [
        Setting::AdminPassword,
        Setting::BootOrder,
        Setting::BootOthersOff,
        Setting::SecureBoot,
        Setting::SecureBootKeys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Setting::AdminPassword => "admin-password",
            Setting::BootOrder => "boot-order",
            Setting::BootOthersOff => "boot-others-off",
            Setting::SecureBoot => "secure-boot",
            Setting::SecureBootKeys => "secure-boot-keys",
        }
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwarePlan {
    pub format: String,
    pub rules: Vec<String>,
    pub bmc: BmcAccess,
    /// Absent when the profile sets no administrator password (`forja check` fails that).
    pub admin_password: Option<AdminPassword>,
    pub boot: BootLock,
    pub secure_boot: SecureBootPlan,
}

/// How forja reaches the BMC: its URL and the secrets holding its account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BmcAccess {
    pub endpoint: Option<String>,
    pub user: Option<SecretRef>,
    pub password: Option<SecretRef>,
}

/// `POST {Bios.Actions["#Bios.ChangePassword"].target}` with these parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminPassword {
    /// The `PasswordName` parameter.
    pub password_name: String,
    /// The `NewPassword` parameter's secret.
    pub new_password: SecretRef,
    /// The `OldPassword` parameter's secret for the first change. Absent: forja only confirms that the BMC
    /// takes `new_password` as the current one (and stops if it does not); it never sends a placeholder.
    pub old_password: Option<SecretRef>,
    pub manual: String,
}

/// The boot lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootLock {
    /// The kinds of device to boot, in order (the profile's `boot-order`).
    pub order: Vec<BootDevice>,
    /// How the installed disk is recognised among the BMC's `BootOptions`.
    pub disk: DiskMatch,
    /// `Boot.BootSourceOverrideEnabled` next to a `BootOrder`.
    pub boot_source_override_enabled: String,
    /// `BootOptionEnabled` of every boot option not in `order`.
    pub others_enabled: bool,
    /// On a BMC without `BootOrder`: `Boot.BootSourceOverrideTarget` and `Enabled` (persistent).
    pub fallback: OverrideFallback,
    pub manual_order: String,
    pub manual_others: String,
}

/// The installed disk as a Redfish `BootOption`: every field given must match, and exactly one option may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskMatch {
    /// `Alias` (a `BootSource`).
    pub alias: String,
    /// Text `DisplayName` contains.
    pub display_name_contains: Option<String>,
    /// Text `UefiDevicePath` contains.
    pub uefi_device_path_contains: Option<String>,
}

impl DiskMatch {
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("Alias {}", self.alias)];
        if let Some(d) = &self.display_name_contains {
            parts.push(format!("DisplayName containing {d:?}"));
        }
        if let Some(u) = &self.uefi_device_path_contains {
            parts.push(format!("UefiDevicePath containing {u:?}"));
        }
        parts.join(", ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideFallback {
    pub boot_source_override_target: String,
    pub boot_source_override_enabled: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecureBootPlan {
    /// `SecureBoot.SecureBootEnable`.
    pub secure_boot_enable: bool,
    pub manual: String,
    /// The site's own keys; absent: the firmware keeps the keys it has.
    pub site_keys: Option<SiteKeys>,
    /// The `ResetKeysType` that clears the databases before the site's keys are enrolled.
    pub reset_keys_type: String,
    pub manual_keys: String,
}

/// The Redfish `BootSource` aliases of a kind of boot device.
pub fn aliases(d: BootDevice) -> &'static [&'static str] {
    match d {
        BootDevice::Disk => &["Hdd"],
        BootDevice::Network => &["Pxe", "UefiHttp"],
        BootDevice::Usb => &["Usb"],
        BootDevice::Cd => &["Cd"],
    }
}

/// Resolves the firmware plan from a profile. Reads the site's Secure Boot certificates when the profile names
/// them; never reads a secret value.
pub fn plan(l: &Loaded) -> anyhow::Result<FirmwarePlan> {
    let fw = &l.profile.boot.firmware;
    let admin_password = fw.admin_password.as_ref().map(|pw| AdminPassword {
        password_name: "AdminPassword".into(),
        new_password: pw.clone(),
        old_password: fw.current_admin_password.clone(),
        manual: format!(
            "Firmware setup (F2/Del at power-on) > Security > Administrator (Setup) Password: set it to the value of secret `{}` (sealed envelope).",
            pw.name()
        ),
    });
    let site_keys = match &fw.secure_boot_keys {
        // A lab profile's test keys are made by its first build: until then the plan has none to enrol.
        Some(dir) if l.is_lab() && !l.resolve(dir).join("db.crt").exists() => {
            log::warn!(
                "{}: no lab Secure Boot keys yet (the first build makes them): the firmware plan enrols none",
                l.resolve(dir).display()
            );
            None
        }
        Some(dir) => Some(keys::read(&l.resolve(dir), &dir.to_string_lossy())?),
        None => None,
    };
    Ok(FirmwarePlan {
        format: FORMAT.into(),
        rules: RULES.iter().map(|r| (*r).to_owned()).collect(),
        bmc: BmcAccess {
            endpoint: fw.redfish_endpoint.as_ref().map(|e| e.to_string()),
            user: fw.bmc_user.clone(),
            password: fw.bmc_password.clone(),
        },
        admin_password,
        boot: boot_lock(&fw.boot_order, &fw.boot_disk),
        secure_boot: secure_boot(fw.secure_boot, site_keys),
    })
}

pub(crate) fn boot_lock(order: &[BootDevice], m: &BootDiskMatch) -> BootLock {
    let disk = DiskMatch {
        alias: m.alias.clone().unwrap_or_else(|| "Hdd".into()),
        display_name_contains: m.display_name_contains.clone(),
        uefi_device_path_contains: m.uefi_device_path_contains.clone(),
    };
    let first = order.first().copied().unwrap_or(BootDevice::Disk);
    let names: Vec<String> = order
        .iter()
        .map(|d| match d {
            BootDevice::Disk => format!("the installed disk ({})", disk.describe()),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        })
        .collect();
    BootLock {
        order: order.to_vec(),
        fallback: OverrideFallback {
            boot_source_override_target: match first {
                BootDevice::Disk => disk.alias.clone(),
                other => aliases(other)[0].to_owned(),
            },
            boot_source_override_enabled: "Continuous".into(),
        },
        disk,
        boot_source_override_enabled: "Disabled".into(),
        others_enabled: false,
        manual_order: format!(
            "Firmware setup > Boot > Boot Option Priorities (UEFI boot order): {} only; no one-time boot override.",
            names.join(", then ")
        ),
        manual_others: "Firmware setup > Boot: disable every other boot option (network PXE and HTTP boot, USB, optical and virtual media, other disks); where offered also Advanced > Network Stack: Disabled and USB boot: Disabled.".into(),
    }
}

fn secure_boot(enable: bool, site_keys: Option<SiteKeys>) -> SecureBootPlan {
    let manual_keys = match &site_keys {
        Some(k) => format!(
            "Firmware setup > Security > Secure Boot > Key Management: delete all keys, enrol db from {src}/db.crt, KEK from {src}/KEK.crt and the PK last from {src}/PK.crt (owner GUID {owner}). Firmware that takes signed updates instead (or KeyTool/efi-updatevar in setup mode): the USB installer carries them as secure-boot/db.auth, KEK.auth and PK.auth (PK last).",
            src = k.source,
            owner = k.uefi_signature_owner
        ),
        None => "The profile names no site keys (boot.firmware.secure-boot-keys): the firmware keeps the keys it has (usually the vendor's and Microsoft's).".into(),
    };
    SecureBootPlan {
        secure_boot_enable: enable,
        manual: format!(
            "Firmware setup > Security > Secure Boot: {}.",
            if enable { "Enabled" } else { "Disabled" }
        ),
        site_keys,
        reset_keys_type: "DeleteAllKeys".into(),
        manual_keys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{SecretsNeed, load};
    use std::path::Path;

    fn lab() -> Loaded {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        load(&root.join("profiles/lab.toml"), SecretsNeed::IfPresent).unwrap()
    }

    #[test]
    fn the_lab_plan_names_secrets_and_boots_the_hdd_only() {
        let p = plan(&lab()).unwrap();
        let pw = p.admin_password.as_ref().unwrap();
        assert_eq!(pw.password_name, "AdminPassword");
        assert_eq!(pw.new_password.name(), "bios-admin-password");
        assert_eq!(pw.old_password, None);
        assert_eq!(p.boot.order, [BootDevice::Disk]);
        assert_eq!(p.boot.disk.alias, "Hdd");
        assert_eq!(p.boot.boot_source_override_enabled, "Disabled");
        assert!(!p.boot.others_enabled);
        assert_eq!(p.boot.fallback.boot_source_override_target, "Hdd");
        assert!(p.secure_boot.secure_boot_enable);
        assert!(p.secure_boot.site_keys.is_none());
        // No placeholder, and no boot option reference: those come from the BMC's BootOptions.
        let text = serde_json::to_string(&p).unwrap();
        assert!(!text.contains("ask the vendor"), "{text}");
        assert!(!text.contains("BootOrder"), "{text}");
    }

    #[test]
    fn the_plan_round_trips_and_refuses_unknown_fields() {
        let p = plan(&lab()).unwrap();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            serde_json::from_value::<FirmwarePlan>(v.clone()).unwrap(),
            p
        );
        let mut bad = v;
        bad["boot"]["BootOrder"] = serde_json::json!(["disk"]);
        assert!(serde_json::from_value::<FirmwarePlan>(bad).is_err());
    }

    #[test]
    fn site_keys_come_from_the_profiles_folder() {
        let keys = super::super::keys::tests::key_dir("rsa:3072");
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        for f in ["lab.toml", "lab.secrets.toml", "lab-test-ca.pem"] {
            std::fs::copy(root.join(f), dir.path().join(f)).unwrap();
        }
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::rename(keys.path(), dir.path().join("keys/sb")).unwrap();
        let text = std::fs::read_to_string(dir.path().join("lab.toml")).unwrap().replace(
            // The lab's own (test) keys give way to the ones this test made.
            "secure-boot-keys = \"keys/secure-boot-TEST\"",
            "#",
        ).replace(
            "secure-boot = true\n",
            "secure-boot = true\nsecure-boot-keys = \"keys/sb\"\nboot-disk = { uefi-device-path-contains = \"Sata(0,\" }\n",
        );
        std::fs::write(dir.path().join("lab.toml"), text).unwrap();
        let l = load(&dir.path().join("lab.toml"), SecretsNeed::Required).unwrap();
        let p = plan(&l).unwrap();
        let k = p.secure_boot.site_keys.as_ref().unwrap();
        assert_eq!(k.source, "keys/sb");
        assert_eq!(k.certificates.len(), 3);
        assert!(p.secure_boot.manual_keys.contains("keys/sb/PK.crt"));
        assert_eq!(
            p.boot.disk.uefi_device_path_contains.as_deref(),
            Some("Sata(0,")
        );
        assert!(
            p.boot
                .manual_order
                .contains("UefiDevicePath containing \"Sata(0,\"")
        );
    }
}
