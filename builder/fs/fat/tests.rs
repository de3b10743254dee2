//! The FAT32 writer's unit tests (`fsck.fat` and `mtools` are the oracles in tests/disk_fat.rs).
use super::*;

#[test]
fn short_names_and_aliases() {
    assert_eq!(short_name("BOOTX64.EFI", &[]), (*b"BOOTX64 EFI", true));
    assert_eq!(short_name("EFI", &[]), (*b"EFI        ", true));
    assert_eq!(short_name("loader", &[]), (*b"LOADER     ", false));
    assert_eq!(
        short_name("Loader", &[*b"LOADER     "]),
        (*b"LOADER~1   ", false)
    );
    let (a, exact) = short_name("vmlinuz-6.1.0-28-amd64", &[]);
    assert!(!exact);
    assert_eq!(&a, b"VMLINU~10-2");
    assert_eq!(
        short_name("vmlinuz-6.1.0-29-amd64", &[a]).0,
        *b"VMLINU~20-2"
    );
}

#[test]
fn dos_dates() {
    // 2023-11-14 22:13:20 UTC
    let (d, t) = dos_datetime(1_700_000_000).unwrap();
    assert_eq!(d, (43 << 9) | (11 << 5) | 14);
    assert_eq!(t, (22 << 11) | (13 << 5) | 10);
    assert!(dos_datetime(0).is_err());
}

#[test]
fn geometry_is_valid_fat32() {
    let g = Geometry::for_size(128 << 20).unwrap();
    assert!(g.clusters >= MIN_CLUSTERS);
    assert!(g.fat_sectors * SECTOR / 4 >= g.clusters + 2);
    assert!(Geometry::for_size(16 << 20).is_err());
}

#[test]
fn refuses_case_duplicates_and_bad_names() {
    let mut t = FatTree::new();
    t.add_bytes("EFI/BOOT/x", b"1".to_vec()).unwrap();
    assert!(t.add_bytes("efi/boot/X", b"2".to_vec()).is_err());
    assert!(t.add_bytes("a:b", b"2".to_vec()).is_err());
    assert!(t.add_dir("EFI/BOOT/x").is_err());
}
