//! A whole disk.raw: GPT checked by sgdisk, ESP by fsck.fat and mtools, root by e2fsck and debugfs, payload
//! byte-exact, sparse, and reproducible.

#[path = "support/oracle.rs"]
mod oracle;
use oracle::{noise, tool};

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use forja::disk::gpt::{PartitionType, attr};
use forja::disk::image::{self, Content, DiskSpec, PartitionSpec};
use forja::fs::{ext4, fat::FatTree};

const EPOCH: i64 = 1_700_000_000;

struct Inputs {
    tree: PathBuf,
    payload: PathBuf,
}

fn inputs(dir: &Path) -> Inputs {
    let tree = dir.join("root");
    std::fs::create_dir_all(tree.join("boot")).unwrap();
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("boot/vmlinuz-6.1.0-28-amd64"), noise(1, 900_000)).unwrap();
    std::fs::write(tree.join("etc/hostname"), b"kvm-host\n").unwrap();
    // A payload with a hole in the middle, as a prepared filesystem image has.
    let mut payload = noise(2, 300_000);
    payload.extend(vec![0u8; 1 << 20]);
    payload.extend(noise(3, 5000));
    let p = dir.join("payload.img");
    std::fs::write(&p, payload).unwrap();
    Inputs { tree, payload: p }
}

fn spec(inp: &Inputs, epoch: i64) -> DiskSpec {
    let mut esp = FatTree::new();
    esp.add_bytes("EFI/BOOT/BOOTX64.EFI", noise(4, 200_000))
        .unwrap();
    esp.add_file(
        "vmlinuz-6.1.0-28-amd64",
        inp.tree.join("boot/vmlinuz-6.1.0-28-amd64"),
    )
    .unwrap();
    esp.add_bytes("loader/entries/debian.conf", b"title Debian\n".to_vec())
        .unwrap();
    DiskSpec {
        disk_guid: forja::ids::guid("test-site", "disk"),
        epoch,
        partitions: vec![
            PartitionSpec {
                name: "ESP".into(),
                guid: forja::ids::guid("test-site", "partition/ESP"),
                kind: PartitionType::Esp,
                size: Some(40 << 20),
                attributes: 0,
                content: Content::Fat {
                    tree: esp,
                    label: "ESP".into(),
                    volume_id: forja::ids::volume_id("test-site", "fs/ESP"),
                },
            },
            PartitionSpec {
                name: "root".into(),
                guid: forja::ids::guid("test-site", "partition/root"),
                kind: PartitionType::RootX86_64,
                size: None,
                attributes: 0,
                content: Content::Ext4 {
                    tree: inp.tree.clone(),
                    label: "root".into(),
                    uuid: forja::ids::guid("test-site", "fs/root"),
                },
            },
            PartitionSpec {
                name: "payload".into(),
                guid: forja::ids::guid("test-site", "partition/payload"),
                kind: PartitionType::LinuxData,
                size: None,
                attributes: attr::READ_ONLY,
                content: Content::Raw(inp.payload.clone()),
            },
            PartitionSpec {
                name: "vmstore".into(),
                guid: forja::ids::guid("test-site", "partition/vmstore"),
                kind: PartitionType::LinuxLuks,
                size: Some(8 << 20),
                attributes: 0,
                content: Content::Empty,
            },
        ],
    }
}

#[test]
fn every_oracle_accepts_the_assembled_disk() {
    let dir = tempfile::tempdir().unwrap();
    let inp = inputs(dir.path());
    let disk = dir.path().join("disk.raw");
    let layout = image::build(&spec(&inp, EPOCH), &disk).unwrap();
    let d = disk.to_str().unwrap();
    let meta = std::fs::metadata(&disk).unwrap();
    assert_eq!(meta.len(), layout.disk_size);
    assert!(
        meta.blocks() * 512 < layout.disk_size / 2,
        "disk.raw is not sparse: {} of {} bytes allocated",
        meta.blocks() * 512,
        layout.disk_size
    );

    // GPT
    let (ok, v, _) = tool("sgdisk", &["-v", d]);
    assert!(ok && v.contains("No problems found"), "{v}");
    for p in &layout.partitions {
        let (_, info, _) = tool("sgdisk", &[&format!("-i{}", p.number), d]);
        assert!(info.contains(&p.guid.to_string().to_uppercase()), "{info}");
        assert!(
            info.contains(&format!("First sector: {} ", p.offset / 512)),
            "{info}"
        );
    }
    let (_, info, _) = tool("sgdisk", &["-i3", d]);
    assert!(info.contains("Attribute flags: 1000000000000000"), "{info}");

    // ESP: fsck.fat has no offset option, so check a copy of the region; mtools reads it in place.
    let esp = &layout.partitions[0];
    let bytes = std::fs::read(&disk).unwrap();
    let esp_img = dir.path().join("esp.img");
    std::fs::write(
        &esp_img,
        &bytes[esp.offset as usize..(esp.offset + esp.size) as usize],
    )
    .unwrap();
    let (ok, text, _) = tool("fsck.fat", &["-n", esp_img.to_str().unwrap()]);
    assert!(ok && text.lines().count() == 2, "{text}");
    let at = format!("{d}@@{}", esp.offset);
    let (ok, text, out) = tool("mtype", &["-i", &at, "::/vmlinuz-6.1.0-28-amd64"]);
    assert!(ok, "{text}");
    assert!(out == noise(1, 900_000), "kernel differs on the ESP");
    let (_, listing, _) = tool("mdir", &["-i", &at, "::/"]);
    assert!(listing.contains(esp.fs_id.as_deref().unwrap()), "{listing}");

    // root
    let root = &layout.partitions[1];
    let dev = ext4::device(&disk, root.offset);
    let (ok, text, _) = tool("e2fsck", &["-fn", &dev]);
    assert!(ok, "{text}");
    let (_, out, _) = tool("dumpe2fs", &["-h", &dev]);
    assert!(out.contains(root.fs_id.as_deref().unwrap()), "{out}");
    let (ok, text, out) = tool("debugfs", &["-R", "cat /etc/hostname", &dev]);
    assert!(ok && out == b"kvm-host\n", "{text}");

    // payload byte-exact, vmstore zero
    let payload = std::fs::read(&inp.payload).unwrap();
    let pl = &layout.partitions[2];
    assert!(bytes[pl.offset as usize..pl.offset as usize + payload.len()] == payload[..]);
    let vm = &layout.partitions[3];
    assert!(
        bytes[vm.offset as usize..(vm.offset + vm.size) as usize]
            .iter()
            .all(|&b| b == 0)
    );
}

#[test]
fn rebuilt_later_the_disk_is_byte_identical_and_the_epoch_shows() {
    let dir = tempfile::tempdir().unwrap();
    let inp = inputs(dir.path());
    let a = dir.path().join("a.raw");
    image::build(&spec(&inp, EPOCH), &a).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // New ctimes in the tree.
    let h = inp.tree.join("etc/hostname");
    std::fs::write(&h, std::fs::read(&h).unwrap()).unwrap();
    let b = dir.path().join("b.raw");
    let layout = image::build(&spec(&inp, EPOCH), &b).unwrap();
    let c = dir.path().join("c.raw");
    image::build(&spec(&inp, EPOCH + 1), &c).unwrap();
    let (a, b, c) = (
        std::fs::read(a).unwrap(),
        std::fs::read(b).unwrap(),
        std::fs::read(c).unwrap(),
    );
    assert!(a == b, "two builds differ");
    assert!(a != c, "SOURCE_DATE_EPOCH does not reach the disk");
    // And the plan says so before building.
    assert_eq!(
        serde_json::to_string(&layout).unwrap(),
        serde_json::to_string(&image::resolve(&spec(&inp, EPOCH)).unwrap()).unwrap()
    );
}
