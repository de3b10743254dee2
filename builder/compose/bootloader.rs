//! The boot lock (§30 spirit for the host): GRUB with a PBKDF2 superuser password, computed here.
//!
//! The menu cannot be edited, and no other entry booted, without the password; the default entry is
//! `--unrestricted`, so the host still boots unattended. systemd-boot has no password, hence GRUB. GRUB is built
//! as a single EFI binary whose memdisk holds this `grub.cfg`; `disk::` puts it on the ESP as `BOOTX64.EFI`.
//! The salt is derived from the build seed, so a rebuild gives the same bytes and two sites never share a salt.

use hmac::{Hmac, KeyInit, Mac};
use indoc::formatdoc;

use super::{ComposeInput, GenFile};
use crate::error::{Exit, fail};
use crate::profile::Loaded;

const R_BOOT: &str = "1616-4.6.a";

/// PBKDF2 iterations for the GRUB password (grub-mkpasswd-pbkdf2's default).
pub const GRUB_ITERATIONS: u32 = 10_000;

/// `grub.pbkdf2.sha512.ITER.SALT.HASH` with upper-case hex, as `grub-mkpasswd-pbkdf2` prints it.
pub fn grub_pbkdf2(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut out = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password.as_bytes(), salt, iterations, &mut out);
    format!(
        "grub.pbkdf2.sha512.{iterations}.{}.{}",
        hex::encode_upper(salt),
        hex::encode_upper(out)
    )
}

/// A deterministic salt for `purpose`, derived from the build seed.
pub fn derive_salt(seed: &[u8; 32], purpose: &str, len: usize) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(seed).expect("any key length");
    mac.update(purpose.as_bytes());
    let d = mac.finalize().into_bytes();
    d.iter().copied().cycle().take(len).collect()
}

/// The kernel command line of the installed host.
pub fn kernel_cmdline(input: &ComposeInput) -> String {
    format!(
        "root=PARTUUID={} ro console=tty0 console=ttyS0,115200n8 systemd.show_status=auto",
        input.root_partuuid
    )
}

/// The `grub.cfg` embedded in the GRUB image. Kernel and initrd are on the ESP, found by its GPT partition.
pub fn grub_cfg(l: &Loaded, input: &ComposeInput) -> anyhow::Result<String> {
    let lock = match &l.profile.boot.bootloader_password {
        Some(r) => {
            let secrets = l.secrets.as_ref().ok_or_else(|| {
                fail(
                    Exit::Input,
                    "the bootloader password needs the secrets file",
                )
            })?;
            let pw = secrets.get(r).ok_or_else(|| {
                fail(
                    Exit::Input,
                    format!(
                        "boot.bootloader-password: secret `{}` is not defined",
                        r.name()
                    ),
                )
            })?;
            let salt = derive_salt(&input.salt_seed, "grub-pbkdf2-salt", 32);
            format!(
                "set superusers=\"root\"\npassword_pbkdf2 root {}\n",
                grub_pbkdf2(pw.expose(), &salt, GRUB_ITERATIONS)
            )
        }
        None => String::from(
            "# no bootloader password: refused by the policy for production profiles\n",
        ),
    };
    Ok(formatdoc! {"
        # forja: locked boot menu. Editing an entry or the command line asks for the superuser password.
        {lock}set timeout=1
        set default=0
        insmod part_gpt
        insmod fat
        search --no-floppy --set=root --label FORJA-ESP
        menuentry \"{name}\" --unrestricted --id forja {{
            linux /vmlinuz {cmdline}
            initrd /initrd.img
        }}
    ", name = l.profile.host.hostname, cmdline = kernel_cmdline(input)})
}

/// Generated files: none in the root filesystem (the config lives in the GRUB image on the ESP); a marker file
/// records that the image is boot-locked, for the boot test and the self-check.
pub fn files(l: &Loaded, input: &ComposeInput) -> anyhow::Result<Vec<GenFile>> {
    let cfg = grub_cfg(l, input)?;
    Ok(vec![GenFile::text(
        "/usr/share/forja/grub.cfg",
        0o600,
        cfg,
        &[R_BOOT],
    )])
}

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
pub fn build_grub_efi(
    cfg: &str,
    epoch: u64,
    work: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let memdisk = work.join("grub-memdisk.tar");
    {
        let f = std::fs::File::create(&memdisk)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_hash_matches_an_independent_pbkdf2() {
        // RFC 6070-style check against Python's hashlib.pbkdf2_hmac('sha512', b'password', b'salt', 1, 64).
        let h = grub_pbkdf2("password", b"salt", 1);
        assert_eq!(
            h,
            "grub.pbkdf2.sha512.1.73616C74.867F70CF1ADE02CFF3752599A3A53DC4AF34C7A669815AE5D513554E1C8CF252C02D470A285A0501BAD999BFE943C08F050235D7D68B1DA55E63F73B60A57FCE"
        );
    }

    #[test]
    fn salts_differ_by_seed_and_purpose() {
        let a = derive_salt(&[1; 32], "grub", 16);
        assert_eq!(a, derive_salt(&[1; 32], "grub", 16));
        assert_ne!(a, derive_salt(&[2; 32], "grub", 16));
        assert_ne!(a, derive_salt(&[1; 32], "other", 16));
    }
}
