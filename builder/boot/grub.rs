//! A single GRUB EFI binary with its `grub.cfg` in a memdisk, built reproducibly.
//!
//! `grub-mkimage -O x86_64-efi` with a memdisk tar built here (sorted entries, root ownership, clamped times):
//! unlike `grub-mkstandalone`, whose memdisk carries copy-time mtimes, the result is byte-identical across builds.

/// GRUB modules in the EFI image: GPT + FAT to find the kernel, Linux loader, the password check, and the menu.
const GRUB_MODULES: &[&str] = &[
    "part_gpt",
    "fat",
    "search",
    "search_label",
    "linux",
    "normal",
    "configfile",
    "echo",
    "test",
    "password_pbkdf2",
    "memdisk",
    "tar",
    "efi_gop",
    "serial",
    "terminal",
];

/// Builds `BOOTX64.EFI` with `grub-mkimage`, its config in a memdisk tar built here with sorted entries, root
/// ownership and clamped times: unlike `grub-mkstandalone`, whose memdisk carries copy-time mtimes, the result
/// is byte-identical across builds.
pub fn build_efi(
    cfg: &str,
    epoch: u64,
    work: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let memdisk = work.join("grub-memdisk.tar");
    {
        let f = fs_err::File::create(&memdisk)?;
        let mut b = tar::Builder::new(f);
        b.mode(tar::HeaderMode::Deterministic);
        for dir in ["boot/", "boot/grub/"] {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_mtime(epoch);
            h.set_size(0);
            b.append_data(&mut h, dir, std::io::empty())?;
        }
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_mtime(epoch);
        h.set_size(cfg.len() as u64);
        b.append_data(&mut h, "boot/grub/grub.cfg", cfg.as_bytes())?;
        b.into_inner()?.sync_all()?;
    }
    crate::exec::Task::new("building the GRUB EFI image", "grub-mkimage")
        .args(["-O", "x86_64-efi", "-p", "(memdisk)/boot/grub", "-m"])
        .arg(&memdisk)
        .arg("-o")
        .arg(out)
        .args(GRUB_MODULES)
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .run()?;
    Ok(())
}
