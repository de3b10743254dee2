//! Assembling `disk.raw`: resolve a layout (offsets, sizes, GUIDs) from partition specs, then write a sparse file
//! with every partition's content written straight at its offset and the partition table last.
//!
//! [`resolve`] touches nothing (it only measures source trees and files), so `forja plan` can print the
//! [`Layout`] as JSON before anything is built; [`build`] executes the same layout. Partitions are laid out in
//! order from 1 MiB, each rounded up to 1 MiB, with 1 MiB left at the end for the backup GPT. The file is sized
//! with `set_len` and only non-zero data is written, so unwritten space stays a hole.
//!
//! GUIDs, labels and filesystem ids are the caller's (the plan's): this module derives none. Write order: ext4
//! (mkfs may discard its region), raw copies, FAT, GPT.

use fs_err::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use uuid::Uuid;

use crate::artifact::Staged;
use crate::disk::gpt::{ALIGN, Entry, SECTOR, Table, align_up};
use crate::error::{Exit, fail};
use crate::fs::{ext4, fat};
pub use crate::plan::disk::{ContentKind, LaidOut, Layout, PartitionType, VolumeId};

/// What goes into a partition.
#[derive(Debug)]
pub enum Content {
    /// A FAT32 volume written by [`fat::FatTree`].
    Fat {
        tree: fat::FatTree,
        label: String,
        volume_id: u32,
    },
    /// An ext4 filesystem made from a directory tree.
    Ext4 {
        tree: PathBuf,
        label: String,
        uuid: Uuid,
    },
    /// A file copied as is (zero blocks skipped), e.g. a prepared payload filesystem.
    Raw(PathBuf),
    /// Nothing: zeros (a hole), e.g. the vmstore formatted on the target at first boot.
    Empty,
}

/// One partition as the profile asks for it.
#[derive(Debug)]
pub struct PartitionSpec {
    /// GPT partition name (also the suffix of its GUID names). At most 36 UTF-16 units.
    pub name: String,
    pub kind: PartitionType,
    /// The partition's unique GUID (PARTUUID).
    pub guid: Uuid,
    /// Bytes; rounded up to 1 MiB. `None`: measured from the content (ext4 tree with headroom, raw file length).
    pub size: Option<u64>,
    /// GPT attribute bits, e.g. [`crate::disk::gpt::attr::READ_ONLY`].
    pub attributes: u64,
    pub content: Content,
}

/// A whole disk as the profile asks for it.
#[derive(Debug)]
pub struct DiskSpec {
    pub disk_guid: Uuid,
    /// SOURCE_DATE_EPOCH.
    pub epoch: i64,
    pub partitions: Vec<PartitionSpec>,
}

/// The GPT table of a laid-out disk.
pub fn table(layout: &Layout) -> Table {
    Table {
        disk_guid: layout.disk_guid,
        disk_size: layout.disk_size,
        entries: layout.partitions.iter().map(entry).collect(),
    }
}

fn entry(p: &LaidOut) -> Entry {
    Entry {
        number: p.number,
        kind: p.kind,
        type_guid: p.type_guid,
        guid: p.guid,
        name: p.name.clone(),
        first_lba: p.first_lba,
        last_lba: p.last_lba,
        attributes: p.attributes,
    }
}

/// Decides offsets and sizes. Reads only sizes of sources; writes nothing.
pub fn resolve(spec: &DiskSpec) -> anyhow::Result<Layout> {
    let mut offset = ALIGN;
    let mut partitions = Vec::with_capacity(spec.partitions.len());
    for (i, p) in spec.partitions.iter().enumerate() {
        let who = format!("partition {:?}", p.name);
        let (measured, inodes) = match &p.content {
            Content::Ext4 { tree, .. } => {
                let u = ext4::measure_tree(tree).with_context(|| format!("sizing {who}"))?;
                (Some(u.filesystem_size()), Some(u.inode_count()))
            }
            Content::Raw(path) => {
                let len = fs_err::metadata(path)
                    .with_context(|| format!("{who}: reading {}", path.display()))?
                    .len();
                if p.size.is_some_and(|s| s < len) {
                    return Err(fail(
                        Exit::Input,
                        format!(
                            "{who}: {} ({len} bytes) does not fit in {} bytes",
                            path.display(),
                            p.size.unwrap_or(0)
                        ),
                    ));
                }
                (Some(len), None)
            }
            Content::Fat { .. } | Content::Empty => (None, None),
        };
        let size = p.size.or(measured).ok_or_else(|| {
            fail(
                Exit::Input,
                format!("{who}: a size is needed for FAT and empty partitions"),
            )
        })?;
        if size == 0 {
            return Err(fail(Exit::Input, format!("{who}: size is zero")));
        }
        let size = align_up(size, ALIGN);
        let (content, fs_id) = match &p.content {
            Content::Fat { volume_id, .. } => (
                ContentKind::Fat32,
                Some(VolumeId::Fat(*volume_id).to_string()),
            ),
            Content::Ext4 { uuid, .. } => (ContentKind::Ext4, Some(uuid.to_string())),
            Content::Raw(_) => (ContentKind::Raw, None),
            Content::Empty => (ContentKind::Empty, None),
        };
        partitions.push(LaidOut {
            number: (i + 1) as u32,
            kind: p.kind,
            type_guid: p.kind.guid(),
            guid: p.guid,
            name: p.name.clone(),
            first_lba: offset / SECTOR,
            last_lba: (offset + size) / SECTOR - 1,
            attributes: p.attributes,
            offset,
            size,
            content,
            fs_id,
            inodes,
        });
        offset = offset
            .checked_add(size)
            .ok_or_else(|| fail(Exit::Input, "disk size overflows"))?;
    }
    let layout = Layout {
        disk_guid: spec.disk_guid,
        disk_size: offset + ALIGN,
        sector_size: SECTOR,
        partitions,
    };
    table(&layout).validate()?;
    Ok(layout)
}

/// Builds `out` (atomically: nothing appears under that name unless complete) and returns its layout.
pub fn build(spec: &DiskSpec, out: &Path) -> anyhow::Result<Layout> {
    let layout = resolve(spec)?;
    build_laid_out(spec, &layout, out)?;
    Ok(layout)
}

/// [`build`] with the layout [`resolve`] gave for `spec` (or for a spec that differs only in partitions whose
/// content is left [`Content::Empty`]: the same offsets, sizes and ext4 inode counts), so the trees are not
/// measured again.
pub fn build_laid_out(spec: &DiskSpec, layout: &Layout, out: &Path) -> anyhow::Result<()> {
    let mut staged = Staged::create(out)?;
    staged
        .file()
        .set_len(layout.disk_size)
        .with_context(|| format!("sizing {}", out.display()))?;
    let path = staged.partial_path().to_owned();

    let parts = || spec.partitions.iter().zip(&layout.partitions);
    for (p, r) in parts() {
        if let Content::Ext4 { tree, label, uuid } = &p.content {
            let params = ext4::Ext4Params {
                uuid: *uuid,
                label: label.clone(),
                epoch: spec.epoch,
                size: r.size,
            };
            // resolve() measured the tree moments ago; walking it again would find the same count.
            let inodes = r.inodes.expect("resolve() sizes every ext4 partition");
            ext4::build_at(tree, &path, r.offset, &params, inodes)
                .with_context(|| format!("building partition {:?}", p.name))?;
        }
    }
    for (p, r) in parts() {
        if let Content::Raw(src) = &p.content {
            copy_sparse(src, staged.file(), r.offset, r.size)
                .with_context(|| format!("writing partition {:?}", p.name))?;
        }
    }
    for (p, r) in parts() {
        if let Content::Fat {
            tree,
            label,
            volume_id,
        } = &p.content
        {
            let params = fat::FatParams {
                size: r.size,
                volume_id: *volume_id,
                label: label.clone(),
                epoch: spec.epoch,
                hidden_sectors: u32::try_from(r.first_lba).unwrap_or(u32::MAX),
            };
            tree.write(staged.file(), r.offset, &params)
                .with_context(|| format!("writing partition {:?}", p.name))?;
        }
    }
    table(layout).write(staged.file().file_mut())?;
    staged.commit()?;
    Ok(())
}

/// Copies `src` to byte `at` of `dst`, reading it once and skipping all-zero blocks (the target is a hole).
pub fn copy_sparse(src: &Path, dst: &mut File, at: u64, limit: u64) -> anyhow::Result<u64> {
    const BLOCK: usize = 64 << 10;
    let mut f = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let mut buf = vec![0u8; 16 * BLOCK];
    let mut done = 0u64;
    loop {
        let n = crate::hashio::read_full(&mut f, &mut buf)
            .with_context(|| format!("reading {}", src.display()))?;
        if n == 0 {
            break;
        }
        if done + n as u64 > limit {
            return Err(fail(
                Exit::Input,
                format!("{} grew past its partition ({limit} bytes)", src.display()),
            ));
        }
        for (i, chunk) in buf[..n].chunks(BLOCK).enumerate() {
            if chunk.iter().any(|&b| b != 0) {
                dst.seek(SeekFrom::Start(at + done + (i * BLOCK) as u64))?;
                dst.write_all(chunk)?;
            }
        }
        done += n as u64;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids;

    fn spec() -> DiskSpec {
        DiskSpec {
            disk_guid: ids::guid("lab", "disk"),
            epoch: 1_700_000_000,
            partitions: vec![
                PartitionSpec {
                    name: "ESP".into(),
                    kind: PartitionType::Esp,
                    guid: ids::guid("lab", "partition/ESP"),
                    size: Some(128 << 20),
                    attributes: 0,
                    content: Content::Fat {
                        tree: fat::FatTree::new(),
                        label: "ESP".into(),
                        volume_id: ids::volume_id("lab", "fs/ESP"),
                    },
                },
                PartitionSpec {
                    name: "vmstore".into(),
                    kind: PartitionType::LinuxLuks,
                    guid: ids::guid("lab", "partition/vmstore"),
                    size: Some((10 << 20) + 1),
                    attributes: 0,
                    content: Content::Empty,
                },
            ],
        }
    }

    #[test]
    fn layout_is_aligned_and_deterministic() {
        let l = resolve(&spec()).unwrap();
        assert_eq!(l, resolve(&spec()).unwrap());
        assert_eq!(l.partitions[0].offset, 1 << 20);
        assert_eq!(l.partitions[1].offset, 129 << 20);
        assert_eq!(l.partitions[1].size, 11 << 20, "rounded up to 1 MiB");
        assert_eq!(l.disk_size, (129 + 11 + 1) << 20);
        assert_eq!(l.disk_guid, ids::guid("lab", "disk"));
        assert_eq!(l.partitions[1].guid, ids::guid("lab", "partition/vmstore"));
    }

    #[test]
    fn plan_json_shows_offsets_types_and_guids() {
        let json = serde_json::to_value(resolve(&spec()).unwrap()).unwrap();
        let esp = &json["partitions"][0];
        assert_eq!(esp["type"], "esp");
        assert_eq!(esp["type_guid"], "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_eq!(esp["offset"], 1 << 20);
        assert_eq!(esp["content"], "fat32");
        assert_eq!(esp["first_lba"], 2048);
        assert!(esp["fs_id"].as_str().unwrap().contains('-'));
        assert!(json["partitions"][1].get("fs_id").is_none());
    }

    #[test]
    fn fat_without_size_is_refused() {
        let mut s = spec();
        s.partitions[0].size = None;
        let err = resolve(&s).unwrap_err();
        assert!(format!("{err:#}").contains("size is needed"), "{err:#}");
    }
}
