//! The disk as the plan decides it: which partitions, in which order, of which type, with which GUIDs and
//! filesystem ids, and what fills each one; and, once built, where each one landed ([`Layout`]).
//!
//! Everything here is decided by `resolve` and only executed by [`crate::disk::image`]: the disk writer takes
//! GUIDs, labels and ids from these types and derives nothing itself.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a partition is for, as a type GUID from the Discoverable Partitions Specification (or the generic Linux
/// types where the DPS has nothing more specific).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionType {
    /// EFI System Partition.
    Esp,
    /// DPS root partition for x86-64.
    RootX86_64,
    /// DPS dm-verity hash partition of an x86-64 root.
    RootVerityX86_64,
    /// Linux LUKS container (the vmstore: the DPS has no type for VM storage).
    LinuxLuks,
    /// Generic Linux filesystem data (the read-only payload holding node images).
    LinuxData,
}

impl PartitionType {
    pub fn guid(self) -> Uuid {
        let s = match self {
            PartitionType::Esp => "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
            PartitionType::RootX86_64 => "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
            PartitionType::RootVerityX86_64 => "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5",
            PartitionType::LinuxLuks => "ca7d7ccb-63ed-4c53-861c-1742536059cc",
            PartitionType::LinuxData => "0fc63daf-8483-4772-8e79-3d69d8477de4",
        };
        Uuid::parse_str(s).expect("constant GUID")
    }
}

/// GPT partition attribute bits (UEFI + Discoverable Partitions Specification).
pub mod attr {
    /// UEFI: required for the platform to function.
    pub const REQUIRED: u64 = 1;
    /// DPS: mount read-only.
    pub const READ_ONLY: u64 = 1 << 60;
    /// DPS: grow the filesystem to the partition on first mount.
    pub const GROW_FS: u64 = 1 << 59;
    /// DPS: do not mount automatically.
    pub const NO_AUTO: u64 = 1 << 63;
}

/// How big a partition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SizeRule {
    /// Exactly this many bytes (rounded up to 1 MiB).
    Fixed(u64),
    /// Measured from the built content: an ext4 tree with headroom for its inodes and blocks.
    FitContent,
}

/// A filesystem's volume id: an ext4 UUID or a FAT volume serial number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeId {
    Uuid(Uuid),
    Fat(u32),
}

impl std::fmt::Display for VolumeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VolumeId::Uuid(u) => write!(f, "{u}"),
            VolumeId::Fat(v) => write!(f, "{:04X}-{:04X}", v >> 16, v & 0xFFFF),
        }
    }
}

/// A root slot: the running release is in one, the next update goes into the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn name(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

/// What fills a partition. The sources are other parts of the plan: the ESP's files are
/// [`super::BootPlan::esp`], the root tree is [`super::RootPlan`], the payload tree is [`super::PayloadPlan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PartitionContent {
    /// FAT32 with the plan's ESP files.
    Esp { label: String, volume_id: u32 },
    /// The read-only root of a slot: an erofs image of the composed root tree, under dm-verity.
    RootImage { slot: Slot, uuid: Uuid },
    /// The dm-verity hash tree of partition `data` (salt and UUID fixed, so the tree is reproducible).
    Verity {
        data: String,
        salt: crate::hashio::Sha256,
        uuid: Uuid,
    },
    /// ext4 made from the state seed: the image's `/var` and the few writable `/etc` pieces.
    StateTree { label: String, uuid: Uuid },
    /// ext4 made from the payload tree (node images, domains, config drive).
    PayloadTree { label: String, uuid: Uuid },
    /// Zeros (a hole): formatted on the target, e.g. vmstore at first boot.
    Empty { note: String },
}

/// One partition, fully decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionPlan {
    pub number: u32,
    /// GPT partition name (the PARTLABEL first boot finds it by).
    pub name: String,
    #[serde(rename = "type")]
    pub kind: PartitionType,
    pub type_guid: Uuid,
    /// The partition's unique GUID (PARTUUID).
    pub guid: Uuid,
    pub size: SizeRule,
    /// GPT attribute bits ([`attr`]).
    pub attributes: u64,
    pub content: PartitionContent,
}

impl PartitionPlan {
    pub fn read_only(&self) -> bool {
        self.attributes & attr::READ_ONLY != 0
    }
}

/// The kind of content a built partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentKind {
    Fat32,
    Ext4,
    Raw,
    Empty,
}

/// A partition where the disk writer put it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaidOut {
    pub number: u32,
    #[serde(rename = "type")]
    pub kind: PartitionType,
    pub type_guid: Uuid,
    pub guid: Uuid,
    pub name: String,
    pub first_lba: u64,
    /// Inclusive.
    pub last_lba: u64,
    pub attributes: u64,
    pub offset: u64,
    pub size: u64,
    pub content: ContentKind,
    /// ext4 UUID, or the FAT volume id as `XXXX-XXXX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_id: Option<String>,
    /// For ext4: inodes reserved (the tree's with headroom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes: Option<u64>,
}

/// The disk as built: offsets and sizes measured from the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub disk_guid: Uuid,
    pub disk_size: u64,
    pub sector_size: u64,
    pub partitions: Vec<LaidOut>,
}

impl Layout {
    /// The partition of a given type (the first one, in table order).
    pub fn of_type(&self, kind: PartitionType) -> Option<&LaidOut> {
        self.partitions.iter().find(|p| p.kind == kind)
    }

    pub fn named(&self, name: &str) -> Option<&LaidOut> {
        self.partitions.iter().find(|p| p.name == name)
    }
}
