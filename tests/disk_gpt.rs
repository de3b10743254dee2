//! The partition table checked by gdisk's `sgdisk`, an implementation we did not write.

#[path = "support/oracle.rs"]
mod oracle;
use oracle::tool;

use std::path::Path;

use forja::disk::gpt::{ALIGN, Entry, PartitionType, SECTOR, Table, attr};
use forja::ids;

/// A fresh image file of the table's disk size holding just `table`.
fn write_table(path: &Path, table: &Table) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.set_len(table.disk_size).unwrap();
    table.write(&mut f).unwrap();
}

fn entry(
    n: u32,
    kind: PartitionType,
    name: &str,
    start_mib: u64,
    mib: u64,
    attributes: u64,
) -> Entry {
    Entry {
        number: n,
        kind,
        type_guid: kind.guid(),
        guid: ids::guid("test", &format!("partition/{name}")),
        name: name.into(),
        first_lba: start_mib * ALIGN / SECTOR,
        last_lba: (start_mib + mib) * ALIGN / SECTOR - 1,
        attributes,
    }
}

#[test]
fn sgdisk_verifies_the_table_and_reads_back_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.raw");
    let table = Table {
        disk_guid: ids::guid("test", "disk"),
        disk_size: 20 * ALIGN,
        entries: vec![
            entry(1, PartitionType::Esp, "ESP", 1, 4, 0),
            entry(2, PartitionType::RootX86_64, "root", 5, 8, 0),
            entry(
                3,
                PartitionType::LinuxData,
                "payload",
                13,
                3,
                attr::READ_ONLY,
            ),
            entry(4, PartitionType::LinuxLuks, "vmstore", 16, 3, 0),
        ],
    };
    write_table(&path, &table);
    let p = path.to_str().unwrap();

    // Never `-q`: with it sgdisk can write nothing and still exit 0 (DESIGN.md).
    let (ok, v, _) = tool("sgdisk", &["-v", p]);
    assert!(ok, "{v}");
    assert!(v.contains("No problems found"), "{v}");

    let (ok, listing, _) = tool("sgdisk", &["-p", p]);
    assert!(ok, "{listing}");
    let disk_guid = table.disk_guid.to_string().to_uppercase();
    assert!(
        listing.contains(&format!("Disk identifier (GUID): {disk_guid}")),
        "{listing}"
    );
    assert!(
        listing.contains("Partition table holds up to 128 entries"),
        "{listing}"
    );

    for e in &table.entries {
        let (ok, info, _) = tool("sgdisk", &[&format!("-i{}", e.number), p]);
        assert!(ok, "{info}");
        let want = [
            format!(
                "Partition GUID code: {}",
                e.type_guid.to_string().to_uppercase()
            ),
            format!(
                "Partition unique GUID: {}",
                e.guid.to_string().to_uppercase()
            ),
            format!("First sector: {} ", e.first_lba),
            format!("Last sector: {} ", e.last_lba),
            format!("Attribute flags: {:016X}", e.attributes),
            format!("Partition name: '{}'", e.name),
        ];
        for w in want {
            assert!(
                info.contains(&w),
                "partition {}: missing {w:?} in\n{info}",
                e.number
            );
        }
    }
}

#[test]
fn the_table_only_touches_its_own_sectors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.raw");
    let table = Table {
        disk_guid: ids::guid("test", "disk"),
        disk_size: 4 * ALIGN,
        entries: vec![entry(1, PartitionType::Esp, "ESP", 1, 2, 0)],
    };
    write_table(&path, &table);
    let bytes = std::fs::read(&path).unwrap();
    let first = ALIGN as usize;
    let backup = bytes.len() - 33 * SECTOR as usize;
    assert!(bytes[34 * SECTOR as usize..first].iter().all(|&b| b == 0));
    assert!(
        bytes[first..backup].iter().all(|&b| b == 0),
        "partition area untouched"
    );
    assert_eq!(&bytes[510..512], &[0x55, 0xaa], "protective MBR signature");
    assert_eq!(bytes[446 + 4], 0xee, "protective MBR partition type");
}
