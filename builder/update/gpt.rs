//! Finding a target's partitions by PARTLABEL in its GPT (read with the `gpt` crate), so `forja update apply`
//! works the same on a block device and on a disk image file: tests need no block device.

use std::path::Path;

use crate::error::{Exit, fail};
use crate::plan::disk::Slot;

/// The PARTLABELs a forja disk carries (written by `pipeline::layout`; this module sits below the pipeline, so it
/// names them itself and a test keeps both in step).
pub fn root_name(slot: Slot) -> String {
    format!("root-{}", slot.name())
}

pub fn verity_name(slot: Slot) -> String {
    format!("root-{}-verity", slot.name())
}

pub const ESP_NAME: &str = "esp";

/// Where a partition lies on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub offset: u64,
    pub len: u64,
}

/// The partitions an update touches: the slot's root and verity, and the ESP its image goes to.
#[derive(Debug, Clone, Copy)]
pub struct SlotRegions {
    pub root: Region,
    pub verity: Region,
    pub esp: Region,
}

/// Reads `target`'s GPT and finds `slot`'s partitions (`root-X`, `root-X-verity`) and the ESP (`esp`) by name.
pub fn slot_regions(target: &Path, slot: Slot) -> anyhow::Result<SlotRegions> {
    let disk = gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .open(target)
        .map_err(|e| {
            fail(
                Exit::Input,
                format!(
                    "{}: no readable GPT ({e}); is this a forja host disk?",
                    target.display()
                ),
            )
        })?;
    let lb = *disk.logical_block_size();
    let find = |name: &str| -> anyhow::Result<Region> {
        let p = disk
            .partitions()
            .values()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                fail(
                    Exit::Input,
                    format!(
                        "{}: the GPT has no partition named {name:?} (a forja disk has root-a, root-a-verity, \
                         root-b, root-b-verity and esp)",
                        target.display()
                    ),
                )
            })?;
        let bad = |e: std::io::Error| {
            fail(
                Exit::Input,
                format!("{}: partition {name}: {e}", target.display()),
            )
        };
        Ok(Region {
            offset: p.bytes_start(lb).map_err(bad)?,
            len: p.bytes_len(lb).map_err(bad)?,
        })
    };
    Ok(SlotRegions {
        root: find(&root_name(slot))?,
        verity: find(&verity_name(slot))?,
        esp: find(ESP_NAME)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_layout_the_build_writes() {
        for slot in [Slot::A, Slot::B] {
            assert_eq!(root_name(slot), crate::pipeline::layout::root_name(slot));
            assert_eq!(
                verity_name(slot),
                crate::pipeline::layout::verity_name(slot)
            );
        }
        let l = crate::profile::load(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/lab.toml")),
            crate::profile::SecretsNeed::IfPresent,
        )
        .unwrap();
        let parts = crate::pipeline::layout::partitions(&l, "seed", "seed");
        assert_eq!(parts[0].name, ESP_NAME);
    }
}
