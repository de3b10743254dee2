//! Which of the BMC's boot options the plan means, and what the boot order must be.
//!
//! The installed disk is the one boot option that matches the plan's [`DiskMatch`]: none or several is an
//! error that lists every option (forja never guesses between two disks). Other kinds of device in the plan's
//! order (network, USB, optical) take every option with their `Alias`.
//!
//! A boot option counts as bootable when it is in `BootOrder` and not `BootOptionEnabled: false`. BMCs differ:
//! some keep every option in `BootOrder` and switch them off with `BootOptionEnabled`, others drop an option
//! from `BootOrder` to skip it. The judgement below holds for both.

use super::observe::BootOption;
use super::plan::{BootLock, DiskMatch, aliases};
use crate::error::{Exit, fail};
use crate::profile::model::BootDevice;

/// The boot option that is the installed disk.
pub fn match_disk<'o>(m: &DiskMatch, options: &'o [BootOption]) -> anyhow::Result<&'o BootOption> {
    let hits: Vec<&BootOption> = options.iter().filter(|o| matches(m, o)).collect();
    match hits.as_slice() {
        [one] => Ok(one),
        _ => Err(fail(
            Exit::Input,
            format!(
                "boot.firmware.boot-disk ({}) matches {} of the BMC's boot options; it must match exactly one. \
                 The BMC lists: {}. Narrow it with display-name-contains or uefi-device-path-contains",
                m.describe(),
                hits.len(),
                list(options)
            ),
        )),
    }
}

fn matches(m: &DiskMatch, o: &BootOption) -> bool {
    let contains = |field: &Option<String>, want: &Option<String>| match want {
        None => true,
        Some(w) => field.as_deref().is_some_and(|f| f.contains(w.as_str())),
    };
    o.alias.as_deref() == Some(m.alias.as_str())
        && contains(&o.display_name, &m.display_name_contains)
        && contains(&o.uefi_device_path, &m.uefi_device_path_contains)
}

/// Every option, described with its device path, for error messages.
pub fn list(options: &[BootOption]) -> String {
    options
        .iter()
        .map(|o| {
            format!(
                "{} [{}]",
                o.describe(),
                o.uefi_device_path.as_deref().unwrap_or("no UefiDevicePath")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `BootOptionReference`s the plan wants bootable, in order.
pub fn desired(lock: &BootLock, options: &[BootOption]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for d in &lock.order {
        let refs: Vec<String> = match d {
            BootDevice::Disk => vec![match_disk(&lock.disk, options)?.reference.clone()],
            other => options
                .iter()
                .filter(|o| {
                    o.alias
                        .as_deref()
                        .is_some_and(|a| aliases(*other).contains(&a))
                })
                .map(|o| o.reference.clone())
                .collect(),
        };
        for r in refs {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// The options the firmware would try, in order: `BootOrder` without the disabled ones.
pub fn effective(order: &[String], options: &[BootOption]) -> Vec<String> {
    order
        .iter()
        .filter(|r| {
            options
                .iter()
                .find(|o| &o.reference == *r)
                .is_none_or(|o| o.enabled != Some(false))
        })
        .cloned()
        .collect()
}

/// Bootable options that the plan does not want.
pub fn unwanted_bootable<'o>(
    order: &[String],
    options: &'o [BootOption],
    want: &[String],
) -> Vec<&'o BootOption> {
    let eff = effective(order, options);
    options
        .iter()
        .filter(|o| !want.contains(&o.reference))
        .filter(|o| match o.enabled {
            Some(e) => e && eff.contains(&o.reference),
            None => order.contains(&o.reference),
        })
        .collect()
}

/// The `BootOrder` to send: the wanted options first; the others follow when every option can be switched off
/// with `BootOptionEnabled` (some BMCs want a full permutation), else they are left out.
pub fn new_order(order: &[String], options: &[BootOption], want: &[String]) -> Vec<String> {
    let mut out = want.to_vec();
    if options.iter().all(|o| o.enabled.is_some()) {
        out.extend(order.iter().filter(|r| !want.contains(r)).cloned());
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn option(
        r: &str,
        alias: &str,
        name: &str,
        path: &str,
        enabled: Option<bool>,
    ) -> BootOption {
        BootOption {
            path: format!("/redfish/v1/Systems/1/BootOptions/{r}"),
            reference: r.into(),
            alias: Some(alias.into()),
            display_name: Some(name.into()),
            uefi_device_path: Some(path.into()),
            enabled,
        }
    }

    /// The stand-in's options for the test domain: sda, the CD-ROM, vdb, two NICs.
    pub fn options(enabled: Option<bool>) -> Vec<BootOption> {
        vec![
            option(
                "Boot0001",
                "Hdd",
                "disk sata sda",
                "PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0,0xFFFF,0x0)",
                enabled,
            ),
            option(
                "Boot0002",
                "Cd",
                "cdrom sata sdc",
                "PciRoot(0x0)/Pci(0x1F,0x2)/Sata(2,0xFFFF,0x0)",
                enabled,
            ),
            option(
                "Boot0003",
                "Hdd",
                "disk virtio vdb",
                "PciRoot(0x0)/Pci(0x4,0x0)",
                enabled,
            ),
            option(
                "Boot0004",
                "Pxe",
                "network virtio 52:54:00:16:16:01",
                "MAC(525400161601,0x1)",
                enabled,
            ),
            option(
                "Boot0005",
                "Pxe",
                "network e1000e 52:54:00:16:16:02",
                "MAC(525400161602,0x1)",
                enabled,
            ),
        ]
    }

    fn disk(path: Option<&str>) -> DiskMatch {
        DiskMatch {
            alias: "Hdd".into(),
            display_name_contains: None,
            uefi_device_path_contains: path.map(str::to_owned),
        }
    }

    #[test]
    fn two_hard_disks_are_ambiguous_until_the_profile_says_which() {
        let o = options(Some(true));
        let err = match_disk(&disk(None), &o).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::Input);
        let msg = err.to_string();
        assert!(msg.contains("matches 2 of the BMC's boot options"), "{msg}");
        assert!(
            msg.contains("Boot0003 (Hdd, \"disk virtio vdb\") [PciRoot(0x0)/Pci(0x4,0x0)]"),
            "{msg}"
        );
        assert_eq!(
            match_disk(&disk(Some("Sata(0,")), &o).unwrap().reference,
            "Boot0001"
        );
        assert!(match_disk(&disk(Some("NVMe(")), &o).is_err());
    }

    #[test]
    fn bootable_means_in_the_order_and_not_disabled() {
        let o = options(Some(true));
        let order: Vec<String> = ["Boot0004", "Boot0001", "Boot0002"]
            .map(String::from)
            .to_vec();
        assert_eq!(effective(&order, &o), order);
        let left: Vec<_> = unwanted_bootable(&order, &o, &["Boot0001".into()])
            .iter()
            .map(|o| o.reference.as_str())
            .collect();
        assert_eq!(left, ["Boot0002", "Boot0004"]);
        // Disabled options do not count, wherever they stand in the order.
        let mut o2 = o.clone();
        o2[1].enabled = Some(false);
        o2[3].enabled = Some(false);
        assert_eq!(effective(&order, &o2), ["Boot0001"]);
        assert!(unwanted_bootable(&order, &o2, &["Boot0001".into()]).is_empty());
    }

    #[test]
    fn the_new_order_is_a_permutation_only_where_options_can_be_switched_off() {
        let order: Vec<String> = ["Boot0004", "Boot0001", "Boot0002"]
            .map(String::from)
            .to_vec();
        let want = vec!["Boot0001".to_owned()];
        assert_eq!(
            new_order(&order, &options(Some(true)), &want),
            ["Boot0001", "Boot0004", "Boot0002"]
        );
        assert_eq!(new_order(&order, &options(None), &want), ["Boot0001"]);
    }

    #[test]
    fn network_in_the_order_takes_every_pxe_option() {
        let m = crate::profile::model::BootDiskMatch {
            uefi_device_path_contains: Some("Sata(0,".into()),
            ..Default::default()
        };
        let lock = super::super::plan::boot_lock(&[BootDevice::Disk, BootDevice::Network], &m);
        assert_eq!(
            desired(&lock, &options(Some(true))).unwrap(),
            ["Boot0001", "Boot0004", "Boot0005"]
        );
    }
}
