//! The ESP writer checked by dosfstools (`fsck.fat -n`) and read back with mtools.

#[path = "support/oracle.rs"]
mod oracle;
use oracle::{noise, tool};

use std::path::Path;

use forja::fs::fat::{FatParams, FatTree};

const EPOCH: i64 = 1_700_000_000;

struct Fixture {
    files: Vec<(&'static str, Vec<u8>)>,
}

fn fixture() -> Fixture {
    let mut files = vec![
        ("EFI/BOOT/BOOTX64.EFI", noise(1, 300_000)),
        ("vmlinuz-6.1.0-28-amd64", noise(2, 1_500_000)),
        ("initrd.img-6.1.0-28-amd64", noise(3, 700_001)),
        (
            "loader/loader.conf",
            b"default debian.conf\ntimeout 0\n".to_vec(),
        ),
        (
            "loader/entries/debian.conf",
            b"title Debian\nlinux /vmlinuz-6.1.0-28-amd64\n".to_vec(),
        ),
        ("EMPTY.TXT", Vec::new()),
        ("zeros.bin", vec![0u8; 10_000]),
    ];
    // Enough long names that the directory spans several clusters.
    let many: Vec<(&'static str, Vec<u8>)> = (0..40)
        .map(|i| {
            let name: &'static str = Box::leak(
                format!("many/a rather long file name number {i:02}.data").into_boxed_str(),
            );
            (name, noise(100 + i, 100 + i as usize))
        })
        .collect();
    files.extend(many);
    Fixture { files }
}

fn build(dir: &Path, name: &str, epoch: i64) -> std::path::PathBuf {
    let fx = fixture();
    let mut tree = FatTree::new();
    tree.add_dir("EFI/Linux").unwrap();
    for (path, bytes) in &fx.files {
        if *path == "vmlinuz-6.1.0-28-amd64" {
            // One file from a host path, the way the kernel comes from the rootfs.
            let src = dir.join(format!("{name}.kernel"));
            std::fs::write(&src, bytes).unwrap();
            tree.add_file(path, &src).unwrap();
        } else {
            tree.add_bytes(path, bytes.clone()).unwrap();
        }
    }
    let img = dir.join(name);
    let layout = tree
        .write_image(
            &img,
            &FatParams {
                size: 40 << 20,
                volume_id: 0x1234_abcd,
                label: "ESP".into(),
                epoch,
                hidden_sectors: 2048,
            },
        )
        .unwrap();
    assert!(layout.clusters >= 65525, "{layout:?}");
    img
}

#[test]
fn fsck_fat_finds_nothing_and_mtools_reads_every_file_back() {
    let dir = tempfile::tempdir().unwrap();
    let img = build(dir.path(), "esp.img", EPOCH);
    let p = img.to_str().unwrap();

    let (ok, text, _) = tool("fsck.fat", &["-n", "-V", p]);
    assert!(ok, "fsck.fat -n -V failed:\n{text}");
    let complaints: Vec<&str> = text
        .lines()
        .filter(|l| {
            !l.starts_with("fsck.fat ")
                && !l.contains(" files, ")
                && !l.starts_with("Starting")
                && !l.starts_with("Checking")
        })
        .collect();
    assert!(complaints.is_empty(), "fsck.fat -n reported:\n{text}");

    let (ok, listing, _) = tool("mdir", &["-i", p, "::/EFI/BOOT"]);
    assert!(ok, "{listing}");
    assert!(listing.contains("BOOTX64  EFI"), "{listing}");
    assert!(listing.contains("Volume in drive : is ESP"), "{listing}");
    assert!(listing.contains("1234-ABCD"), "{listing}");

    for (path, bytes) in fixture().files {
        let (ok, text, out) = tool("mtype", &["-i", p, &format!("::/{path}")]);
        assert!(ok, "{path}: {text}");
        assert!(
            out == bytes,
            "{path}: mtype returned {} bytes, expected {}",
            out.len(),
            bytes.len()
        );
    }
    // mcopy too, since mtype may translate text files.
    let copy = dir.path().join("kernel.out");
    let (ok, text, _) = tool(
        "mcopy",
        &[
            "-n",
            "-i",
            p,
            "::/vmlinuz-6.1.0-28-amd64",
            copy.to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    assert_eq!(std::fs::read(copy).unwrap(), noise(2, 1_500_000));
}

#[test]
fn same_inputs_same_bytes_and_the_epoch_shows() {
    let dir = tempfile::tempdir().unwrap();
    let a = build(dir.path(), "a.img", EPOCH);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = build(dir.path(), "b.img", EPOCH);
    let c = build(dir.path(), "c.img", EPOCH + 86_400);
    let (a, b, c) = (
        std::fs::read(a).unwrap(),
        std::fs::read(b).unwrap(),
        std::fs::read(c).unwrap(),
    );
    assert!(a == b, "two builds of the same inputs differ");
    assert!(a != c, "SOURCE_DATE_EPOCH does not reach the volume");
    let (ok, listing, _) = tool(
        "mdir",
        &["-i", dir.path().join("a.img").to_str().unwrap(), "::/"],
    );
    assert!(ok);
    assert!(listing.contains("2023-11-14"), "{listing}");
}
