//! Builds a two-partition disk (ESP from a folder, ext4 root from a tree) with forja's disk layer, for
//! `ci/bench-disk`. Usage: `bench_disk ESP_DIR ROOT_TREE OUT EPOCH`; prints the layout as JSON.

use std::path::{Path, PathBuf};

use forja::disk::gpt::PartitionType;
use forja::disk::image::{self, Content, DiskSpec, PartitionSpec};
use forja::fs::fat::FatTree;

fn add_dir(tree: &mut FatTree, root: &Path, dir: &Path) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(root)?.to_string_lossy().into_owned();
        if p.is_dir() {
            tree.add_dir(&rel)?;
            add_dir(tree, root, &p)?;
        } else {
            tree.add_file(&rel, &p)?;
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 5,
        "usage: bench_disk ESP_DIR ROOT_TREE OUT EPOCH"
    );
    let (esp_dir, root, out) = (Path::new(&args[1]), &args[2], Path::new(&args[3]));
    let epoch: i64 = args[4].parse()?;
    let mut esp = FatTree::new();
    add_dir(&mut esp, esp_dir, esp_dir)?;
    let spec = DiskSpec {
        disk_guid: forja::ids::guid("bench", "disk"),
        epoch,
        partitions: vec![
            PartitionSpec {
                name: "ESP".into(),
                guid: forja::ids::guid("bench", "partition/ESP"),
                kind: PartitionType::Esp,
                size: Some(128 << 20),
                attributes: 0,
                content: Content::Fat {
                    tree: esp,
                    label: "ESP".into(),
                    volume_id: forja::ids::volume_id("bench", "fs/ESP"),
                },
            },
            PartitionSpec {
                name: "root".into(),
                guid: forja::ids::guid("bench", "partition/root"),
                kind: PartitionType::RootX86_64,
                size: None,
                attributes: 0,
                content: Content::Ext4 {
                    tree: root.into(),
                    label: "root".into(),
                    uuid: forja::ids::guid("bench", "fs/root"),
                },
            },
        ],
    };
    let layout = image::build(&spec, out)?;
    println!("{}", serde_json::to_string_pretty(&layout)?);
    Ok(())
}
