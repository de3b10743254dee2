//! The disk layout a profile gets: which partitions, in which order, of which type and size, with which GUIDs.
//!
//! ```text
//! 1 esp            FAT32: systemd-boot and one signed unified kernel image per slot
//! 2 root-a         read-only root of slot A (erofs under dm-verity)      DPS root-x86-64
//! 3 root-a-verity  its hash tree                                          DPS root-x86-64-verity
//! 4 root-b         slot B: empty until the first update
//! 5 root-b-verity
//! 6 state          writable: /var and the few writable /etc pieces (ext4)
//! 7 payload        read-only: verified node images, domains, config drive (ext4)
//! 8 vmstore        LUKS2 made at first boot, grown to the rest of the disk (last, so it can grow)
//! ```
//! Slot PARTUUIDs are fixed per slot (UUIDv5 of the disk seed and the partition's name), not derived from the root
//! hash as systemd's convention would have it: an update then writes a slot's contents without touching the GPT,
//! and the command line names both partitions explicitly. The verity salt and UUID are fixed the same way, so a
//! rebuild gives the same tree.

use crate::compose::ComposeInput;
use crate::hashio::Sha256;
use crate::ids;
use crate::plan::disk::{PartitionContent, PartitionPlan, PartitionType, SizeRule, Slot, attr};
use crate::profile::Loaded;
use crate::profile::model::VolumeSize;

/// ESP size: two unified kernel images (~60 MB each with Debian's initrd), systemd-boot, and FAT32's minimum
/// cluster count with 4 KiB clusters.
pub const ESP_SIZE: u64 = 256 << 20;
/// vmstore's size in the image when it grows to the rest of the disk at first boot.
pub const VMSTORE_PLACEHOLDER: u64 = 64 << 20;
/// ESP volume label.
pub const ESP_LABEL: &str = "FORJA-ESP";
/// Payload partition name and label (first boot finds it by its PARTLABEL).
pub const PAYLOAD: &str = "payload";
/// State partition name and label.
pub const STATE: &str = "state";

/// The name of a slot's root and verity partitions.
pub fn root_name(slot: Slot) -> String {
    format!("root-{}", slot.name())
}

pub fn verity_name(slot: Slot) -> String {
    format!("root-{}-verity", slot.name())
}

/// Bytes a slot's verity partition needs: the hash tree of a full slot, rounded up to 1 MiB.
pub fn verity_size(slot_size: u64) -> u64 {
    crate::fs::verity::hash_size(slot_size).div_ceil(1 << 20) << 20
}

/// The salt of a slot's hash tree: fixed per disk and slot, so a rebuild writes the same tree.
pub fn verity_salt(seed: &str, slot: Slot) -> Sha256 {
    Sha256::of(format!("forja verity salt\n{seed}\n{}", slot.name()).as_bytes())
}

/// The disk's identity for GUID derivation: stable across rebuilds of the same host.
pub fn disk_seed(l: &Loaded) -> String {
    let p = &l.profile;
    format!("{}:{}.{}", p.profile.name, p.host.hostname, p.host.domain)
}

/// What the root image's and its verity tree's ids derive from: a site's name for its hosts, whose root is the
/// same bytes on every host; the disk's seed otherwise.
pub fn root_seed(l: &Loaded) -> String {
    match &l.site {
        Some(_) => format!("{}:shared-root", l.profile.profile.name),
        None => disk_seed(l),
    }
}

/// The partitions of a host's disk. Partition GUIDs derive from `seed` (the disk's); the root image's UUID and its
/// verity tree's salt and UUID from `root_seed`, the same for every host of a site, whose root is shared.
pub fn partitions(l: &Loaded, seed: &str, root_seed: &str) -> Vec<PartitionPlan> {
    let s = &l.profile.storage;
    let slot = s.root_slot_size.bytes();
    let vmstore = match s.vmstore_size {
        VolumeSize::Rest => VMSTORE_PLACEHOLDER,
        VolumeSize::Fixed(b) => b.bytes(),
    };
    let fs_uuid = |name: &str| ids::guid(seed, &format!("fs/{name}"));
    let mut v = vec![(
        "esp".to_owned(),
        PartitionType::Esp,
        SizeRule::Fixed(ESP_SIZE),
        0,
        PartitionContent::Esp {
            label: ESP_LABEL.into(),
            volume_id: ids::volume_id(seed, "fs/esp"),
        },
    )];
    for sl in [Slot::A, Slot::B] {
        let (root, verity) = (root_name(sl), verity_name(sl));
        let (root_content, verity_content) = match sl {
            Slot::A => (
                PartitionContent::RootImage {
                    slot: sl,
                    uuid: ids::guid(root_seed, &format!("fs/{root}")),
                },
                PartitionContent::Verity {
                    data: root.clone(),
                    salt: verity_salt(root_seed, sl),
                    uuid: ids::guid(root_seed, &format!("verity/{root}")),
                },
            ),
            Slot::B => (
                PartitionContent::Empty {
                    note: "slot B: written by the first update".into(),
                },
                PartitionContent::Empty {
                    note: "slot B's hash tree: written by the first update".into(),
                },
            ),
        };
        v.push((
            root,
            PartitionType::RootX86_64,
            SizeRule::Fixed(slot),
            attr::READ_ONLY,
            root_content,
        ));
        v.push((
            verity,
            PartitionType::RootVerityX86_64,
            SizeRule::Fixed(verity_size(slot)),
            attr::READ_ONLY,
            verity_content,
        ));
    }
    v.push((
        STATE.into(),
        PartitionType::LinuxData,
        SizeRule::Fixed(s.state_size.bytes()),
        0,
        PartitionContent::StateTree {
            label: STATE.into(),
            uuid: fs_uuid(STATE),
        },
    ));
    v.push((
        PAYLOAD.into(),
        PartitionType::LinuxData,
        SizeRule::FitContent,
        attr::READ_ONLY,
        PartitionContent::PayloadTree {
            label: PAYLOAD.into(),
            uuid: fs_uuid(PAYLOAD),
        },
    ));
    v.push((
        "vmstore".into(),
        PartitionType::LinuxLuks,
        SizeRule::Fixed(vmstore),
        0,
        PartitionContent::Empty {
            note: "LUKS2 made at first boot".into(),
        },
    ));
    v.into_iter()
        .enumerate()
        .map(
            |(i, (name, kind, size, attributes, content))| PartitionPlan {
                number: i as u32 + 1,
                guid: ids::guid(seed, &format!("partition/{name}")),
                name,
                kind,
                type_guid: kind.guid(),
                size,
                attributes,
                content,
            },
        )
        .collect()
}

/// What a partition is to a site host's disk parts ([`crate::disk::parts`]).
pub fn part_class(p: &PartitionPlan) -> crate::disk::parts::Class {
    use crate::disk::parts::Class;
    if p.name == root_name(Slot::A) || p.name == verity_name(Slot::A) {
        Class::Shared
    } else if matches!(p.content, PartitionContent::Empty { .. }) {
        Class::Hole
    } else {
        Class::Own
    }
}

/// The parts of a disk with these partitions, as [`crate::disk::parts::runs`] cuts them.
pub fn part_runs(disk: &[PartitionPlan]) -> Vec<(Option<String>, std::ops::Range<usize>)> {
    let classes: Vec<_> = disk
        .iter()
        .map(|p| (p.name.as_str(), part_class(p)))
        .collect();
    crate::disk::parts::runs(&classes)
}

/// The PARTUUIDs the command line and `fstab` name.
pub fn compose_input(disk: &[PartitionPlan]) -> ComposeInput {
    let guid = |name: String| {
        disk.iter()
            .find(|p| p.name == name)
            .map(|p| p.guid)
            .expect("the layout has every partition it names")
    };
    ComposeInput {
        root_a: guid(root_name(Slot::A)),
        verity_a: guid(verity_name(Slot::A)),
        root_b: guid(root_name(Slot::B)),
        verity_b: guid(verity_name(Slot::B)),
        state: guid(STATE.into()),
        esp: guid("esp".into()),
    }
}
