//! Why forja does not use the `fatfs` crate (0.3.6, the latest release): the FAT32 volumes it writes with a
//! subdirectory fail `fsck.fat -n`. This test keeps the evidence; if a future fatfs passes, it fails and tells us
//! to reconsider.

#[path = "support/oracle.rs"]
mod oracle;
use oracle::tool;

#[test]
fn fatfs_0_3_6_subdirectories_fail_fsck_fat() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("esp.img");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&img)
        .unwrap();
    file.set_len(64 * 1024 * 1024).unwrap();
    fatfs::format_volume(
        &file,
        fatfs::FormatVolumeOptions::new()
            .fat_type(fatfs::FatType::Fat32)
            .volume_id(0x1234_5678),
    )
    .unwrap();
    {
        let fs = fatfs::FileSystem::new(&file, fatfs::FsOptions::new()).unwrap();
        let root = fs.root_dir();
        let efi = root.create_dir("EFI").unwrap();
        let boot = efi.create_dir("BOOT").unwrap();
        use std::io::Write;
        let mut f = boot.create_file("BOOTX64.EFI").unwrap();
        f.write_all(&[0x4d; 5000]).unwrap();
        f.flush().unwrap();
    }
    drop(file);
    let (ok, text, _) = tool("fsck.fat", &["-n", img.to_str().unwrap()]);
    eprintln!("fsck.fat -n on a fatfs 0.3.6 volume:\n{text}");
    assert!(
        !ok,
        "fatfs 0.3.6 now passes fsck.fat -n: reconsider using it instead of fs::fat\n{text}"
    );
    // The defect: the `.`/`..` entries of a new subdirectory are not in slots 0 and 1, and `..` of a directory
    // under the root points at cluster 2 instead of 0.
    assert!(text.contains("Expected a valid '.' entry"), "{text}");
}
