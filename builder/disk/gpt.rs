//! The GUID partition table: protective MBR, primary and backup headers, 128-entry arrays with CRC32.
//!
//! Writing is delegated to the `gpt` crate (4.x): it takes the disk GUID and every partition's unique GUID, type,
//! LBAs, attribute bits and name from us (nothing random once they are given), and writes to any
//! `Read + Write + Seek`, so it writes straight into the final `disk.raw` at LBA 0/1/2 and the last 33 LBAs. We
//! keep our own typed description ([`Table`]) and validation so the layout is checked, serialisable into
//! plan.json, and independent of the crate's API. Sector size is fixed at 512 bytes; partitions are 1 MiB
//! aligned. This module does not choose sizes or GUIDs: see [`crate::disk::image`] and [`crate::ids`].

use std::collections::BTreeMap;
use std::fs::File;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Exit, fail};

/// Logical sector size of every image forja writes.
pub const SECTOR: u64 = 512;
/// Partition alignment (and the first partition's start).
pub const ALIGN: u64 = 1 << 20;
/// Entries in each partition entry array.
pub const ENTRIES: u64 = 128;
/// Sectors taken by one entry array (128 entries of 128 bytes).
pub const ARRAY_SECTORS: u64 = ENTRIES * 128 / SECTOR;
/// Longest partition name, in UTF-16 code units.
pub const NAME_UNITS: usize = 36;

pub use crate::plan::disk::{PartitionType, attr};

/// One partition entry, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1-based partition number (index in the entry array + 1).
    pub number: u32,
    #[serde(rename = "type")]
    pub kind: PartitionType,
    pub type_guid: Uuid,
    /// Unique partition GUID (PARTUUID).
    pub guid: Uuid,
    pub name: String,
    pub first_lba: u64,
    /// Inclusive.
    pub last_lba: u64,
    pub attributes: u64,
}

impl Entry {
    pub fn offset(&self) -> u64 {
        self.first_lba * SECTOR
    }
    pub fn size(&self) -> u64 {
        (self.last_lba + 1 - self.first_lba) * SECTOR
    }
}

/// A whole partition table for a disk of `disk_size` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub disk_guid: Uuid,
    pub disk_size: u64,
    pub entries: Vec<Entry>,
}

impl Table {
    /// First LBA a partition may use (after protective MBR, header and entry array).
    pub fn first_usable_lba(&self) -> u64 {
        2 + ARRAY_SECTORS
    }

    /// Last LBA a partition may use (before the backup entry array and header).
    pub fn last_usable_lba(&self) -> u64 {
        self.disk_size / SECTOR - 2 - ARRAY_SECTORS
    }

    /// Checks what the crate would not: numbering, names, bounds, alignment, overlaps.
    pub fn validate(&self) -> anyhow::Result<()> {
        let bad = |m: String| Err(fail(Exit::Input, format!("partition table: {m}")));
        if self.disk_size % SECTOR != 0 || self.disk_size < 2 * ALIGN {
            return bad(format!(
                "disk size {} is not a multiple of {SECTOR} of at least 2 MiB",
                self.disk_size
            ));
        }
        if self.entries.len() as u64 > ENTRIES {
            return bad(format!(
                "{} partitions, at most {ENTRIES}",
                self.entries.len()
            ));
        }
        let mut prev_end = 0u64;
        for (i, e) in self.entries.iter().enumerate() {
            let who = format!("partition {} ({})", e.number, e.name);
            if e.number as usize != i + 1 {
                return bad(format!("{who}: expected number {}", i + 1));
            }
            if e.name.encode_utf16().count() > NAME_UNITS {
                return bad(format!("{who}: name longer than {NAME_UNITS} UTF-16 units"));
            }
            if e.type_guid != e.kind.guid() {
                return bad(format!("{who}: type GUID does not match {:?}", e.kind));
            }
            if (e.first_lba * SECTOR) % ALIGN != 0 {
                return bad(format!("{who}: start is not 1 MiB aligned"));
            }
            if e.last_lba < e.first_lba
                || e.first_lba < self.first_usable_lba()
                || e.last_lba > self.last_usable_lba()
            {
                return bad(format!(
                    "{who}: LBAs {}..={} outside {}..={}",
                    e.first_lba,
                    e.last_lba,
                    self.first_usable_lba(),
                    self.last_usable_lba()
                ));
            }
            if e.first_lba < prev_end {
                return bad(format!("{who}: overlaps the previous partition"));
            }
            prev_end = e.last_lba + 1;
        }
        let mut guids: Vec<Uuid> = self.entries.iter().map(|e| e.guid).collect();
        guids.push(self.disk_guid);
        guids.sort();
        guids.dedup();
        if guids.len() != self.entries.len() + 1 {
            return bad("disk and partition GUIDs are not unique".into());
        }
        Ok(())
    }

    /// Writes protective MBR, both headers and both entry arrays into `disk`, which must already be
    /// `disk_size` bytes long. Touches only LBA 0..=33 and the last 33 LBAs.
    pub fn write(&self, disk: &mut File) -> anyhow::Result<()> {
        self.validate()?;
        let len = disk.metadata().context("reading disk size")?.len();
        if len != self.disk_size {
            return Err(fail(
                Exit::Internal,
                format!(
                    "partition table: disk file is {len} bytes, table is for {}",
                    self.disk_size
                ),
            ));
        }
        let sectors_minus_one = u32::try_from(self.disk_size / SECTOR - 1).unwrap_or(u32::MAX);
        gpt::mbr::ProtectiveMBR::with_lb_size(sectors_minus_one)
            .overwrite_lba0(&mut *disk)
            .context("writing protective MBR")?;
        let mut table = gpt::GptConfig::new()
            .writable(true)
            .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
            .create_from_device(&mut *disk, Some(self.disk_guid))
            .context("initialising GPT headers")?;
        let parts: BTreeMap<u32, gpt::partition::Partition> = self
            .entries
            .iter()
            .map(|e| {
                (
                    e.number,
                    gpt::partition::Partition {
                        part_type_guid: gpt::partition_types::Type {
                            guid: e.type_guid,
                            os: gpt::partition_types::OperatingSystem::None,
                        },
                        part_guid: e.guid,
                        first_lba: e.first_lba,
                        last_lba: e.last_lba,
                        flags: e.attributes,
                        name: e.name.clone(),
                    },
                )
            })
            .collect();
        table
            .update_partitions(parts)
            .context("setting GPT partitions")?;
        table.write_inplace().context("writing GPT")?;
        Ok(())
    }
}

/// Rounds `n` up to a multiple of `to` (a power of two).
pub fn align_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            disk_guid: Uuid::from_u128(1),
            disk_size: 8 * ALIGN,
            entries: vec![Entry {
                number: 1,
                kind: PartitionType::Esp,
                type_guid: PartitionType::Esp.guid(),
                guid: Uuid::from_u128(2),
                name: "ESP".into(),
                first_lba: ALIGN / SECTOR,
                last_lba: 3 * ALIGN / SECTOR - 1,
                attributes: 0,
            }],
        }
    }

    #[test]
    fn accepts_an_aligned_table() {
        table().validate().unwrap();
    }

    #[test]
    fn rejects_unaligned_overlapping_and_long_names() {
        let mut t = table();
        t.entries[0].first_lba += 1;
        assert!(format!("{:#}", t.validate().unwrap_err()).contains("aligned"));
        let mut t = table();
        t.entries[0].last_lba = t.last_usable_lba() + 1;
        assert!(format!("{:#}", t.validate().unwrap_err()).contains("outside"));
        let mut t = table();
        t.entries[0].name = "x".repeat(37);
        assert!(format!("{:#}", t.validate().unwrap_err()).contains("name"));
        let mut t = table();
        let mut second = t.entries[0].clone();
        second.number = 2;
        second.guid = Uuid::from_u128(3);
        t.entries.push(second);
        assert!(format!("{:#}", t.validate().unwrap_err()).contains("overlaps"));
    }
}
