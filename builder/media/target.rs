//! Choosing the disk the installer writes: every block device from sysfs, minus the installer's own medium
//! (recognised by its GPT disk GUID, which the media build derived from the plan), matched against the
//! profile's `[install] target` rule. Exactly one disk must match: none or several is a refusal, never a guess.
//!
//! Without a rule the target is the only non-removable disk that is not the installer's.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use uuid::Uuid;

use crate::error::{Exit, fail};
pub use crate::profile::install::TargetRule;

/// One block device as the installer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    pub name: String,
    pub dev: PathBuf,
    pub size: u64,
    pub removable: bool,
    pub model: String,
    pub serial: String,
    /// The GPT disk GUID, if the disk has a primary GPT header.
    pub gpt_guid: Option<Uuid>,
}

fn read_trim(p: &Path) -> String {
    fs::read_to_string(p)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The disks under `sys_block` (normally `/sys/block`), with device nodes under `dev`.
pub fn scan(sys_block: &Path, dev: &Path) -> anyhow::Result<Vec<Disk>> {
    let mut disks = Vec::new();
    for e in fs::read_dir(sys_block)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if ["loop", "ram", "zram", "sr", "dm-", "md", "fd", "nbd"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        let d = e.path();
        // In 512-byte sectors; a count whose byte size does not fit in a u64 is no real disk (found by
        // tests/fuzz_parsers.rs: the multiplication overflowed).
        let size = read_trim(&d.join("size"))
            .parse::<u64>()
            .ok()
            .and_then(|s| s.checked_mul(512))
            .unwrap_or(0);
        if size == 0 {
            continue;
        }
        let serial = [d.join("device/serial"), d.join("serial")]
            .iter()
            .map(|p| read_trim(p))
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        let devnode = dev.join(&name);
        disks.push(Disk {
            gpt_guid: gpt_disk_guid(&devnode).ok().flatten(),
            dev: devnode,
            size,
            removable: read_trim(&d.join("removable")) == "1",
            model: read_trim(&d.join("device/model")),
            serial,
            name,
        });
    }
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(disks)
}

/// The GUID in the primary GPT header at LBA 1 (512-byte sectors), or `None` if there is no GPT.
pub fn gpt_disk_guid(dev: &Path) -> std::io::Result<Option<Uuid>> {
    let mut b = [0u8; 1024];
    fs::File::open(dev)?.read_exact(&mut b)?;
    let h = &b[512..];
    if &h[..8] != b"EFI PART" {
        return Ok(None);
    }
    Ok(Some(Uuid::from_bytes_le(
        h[56..72].try_into().expect("16 bytes"),
    )))
}

/// The partition `number` of `disk`, as a device node (`vdb2`, `sda2`, `nvme0n1p2`).
pub fn partition_dev(
    sys_block: &Path,
    dev: &Path,
    disk: &str,
    number: u32,
) -> anyhow::Result<PathBuf> {
    for e in fs::read_dir(sys_block.join(disk))? {
        let e = e?;
        if read_trim(&e.path().join("partition")) == number.to_string() {
            return Ok(dev.join(e.file_name()));
        }
    }
    Err(fail(
        Exit::Input,
        format!("{disk} has no partition {number}"),
    ))
}

/// Picks the one disk that `rule` allows; `installer` is the GPT GUID of the installer's own medium.
pub fn choose<'a>(
    disks: &'a [Disk],
    rule: &TargetRule,
    installer: Option<Uuid>,
) -> anyhow::Result<&'a Disk> {
    let min = rule.min_size.map(|s| s.bytes());
    let ok = |d: &&Disk| {
        if installer.is_some() && d.gpt_guid == installer {
            return false;
        }
        if rule.is_empty() {
            return !d.removable;
        }
        min.is_none_or(|m| d.size >= m)
            && rule.model.as_deref().is_none_or(|m| d.model == m.trim())
            && rule.serial.as_deref().is_none_or(|s| d.serial == s.trim())
    };
    let found: Vec<&Disk> = disks.iter().filter(ok).collect();
    let list = || {
        disks
            .iter()
            .map(|d| {
                format!(
                    "{} ({} bytes, model {:?}, serial {:?}{}{})",
                    d.name,
                    d.size,
                    d.model,
                    d.serial,
                    if d.removable { ", removable" } else { "" },
                    if installer.is_some() && d.gpt_guid == installer {
                        ", the installer"
                    } else {
                        ""
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(fail(
            Exit::Input,
            format!(
                "no disk matches the install target rule {rule:?}; disks: {}",
                list()
            ),
        )),
        many => Err(fail(
            Exit::Input,
            format!(
                "{} disks match the install target rule {rule:?} ({}): refusing to guess; disks: {}",
                many.len(),
                many.iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                list()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(name: &str, size: u64, removable: bool, serial: &str, guid: Option<Uuid>) -> Disk {
        Disk {
            name: name.into(),
            dev: PathBuf::from("/dev").join(name),
            size,
            removable,
            model: "QEMU HARDDISK".into(),
            serial: serial.into(),
            gpt_guid: guid,
        }
    }

    const USB: Uuid = Uuid::from_u128(0x1234);

    #[test]
    fn default_rule_takes_the_only_fixed_disk_that_is_not_the_installer() {
        let d = [
            disk("sda", 8 << 30, false, "usb", Some(USB)),
            disk("sdb", 100 << 30, false, "t1", None),
            disk("sdc", 16 << 30, true, "stick", None),
        ];
        assert_eq!(
            choose(&d, &TargetRule::default(), Some(USB)).unwrap().name,
            "sdb"
        );
    }

    #[test]
    fn refuses_an_ambiguous_match() {
        let d = [
            disk("vda", 100 << 30, false, "a", None),
            disk("vdb", 100 << 30, false, "b", None),
        ];
        let err = choose(&d, &TargetRule::default(), None).unwrap_err();
        assert!(format!("{err}").contains("2 disks match"), "{err}");
        let rule = TargetRule {
            serial: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(choose(&d, &rule, None).unwrap().name, "vdb");
    }

    #[test]
    fn never_picks_the_installer_even_when_the_rule_matches_it() {
        let d = [disk("sda", 100 << 30, false, "x", Some(USB))];
        let rule = TargetRule {
            min_size: Some(crate::profile::size::ByteSize(1 << 30)),
            ..Default::default()
        };
        let err = choose(&d, &rule, Some(USB)).unwrap_err();
        assert!(format!("{err}").contains("the installer"), "{err}");
    }

    #[test]
    fn min_size_filters() {
        let d = [
            disk("vda", 10 << 30, false, "a", None),
            disk("vdb", 200 << 30, false, "b", None),
        ];
        let rule = TargetRule {
            min_size: Some(crate::profile::size::ByteSize(100 << 30)),
            ..Default::default()
        };
        assert_eq!(choose(&d, &rule, None).unwrap().name, "vdb");
    }
}
