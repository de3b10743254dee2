//! The boot lock (§30 spirit for the host): GRUB with a PBKDF2 superuser password.
//!
//! The menu cannot be edited, and no other entry booted, without the password; the default entry is
//! `--unrestricted`, so the host still boots unattended. systemd-boot has no password, hence GRUB. GRUB is built
//! as a single EFI binary whose memdisk holds this `grub.cfg` ([`crate::boot::grub`]). The password's hash is a
//! template piece: the build computes it from the secret with a salt derived from the build seed
//! ([`crate::crypt`]), so a rebuild gives the same bytes and two sites never share a salt.

use indoc::formatdoc;

use super::{ComposeInput, GenFile};
use crate::crypt::Scheme;
use crate::plan::files::{Piece, SecretHash};
use crate::profile::Loaded;

const R_BOOT: &str = "1616-4.6.c";

/// Where the generated `grub.cfg` sits in the root tree (the build embeds it in the GRUB image).
pub const GRUB_CFG: &str = "/usr/share/forja/grub.cfg";

/// The kernel command line of the installed host.
pub fn kernel_cmdline(input: &ComposeInput) -> String {
    format!(
        "root=PARTUUID={} ro console=tty0 console=ttyS0,115200n8 systemd.show_status=auto",
        input.root_partuuid
    )
}

/// The `grub.cfg` embedded in the GRUB image, as template pieces (the password hash is rendered by the build).
/// Kernel and initrd are on the ESP, found by its label.
pub fn grub_cfg(l: &Loaded, input: &ComposeInput) -> anyhow::Result<Vec<Piece>> {
    let title = super::syntax::grub_word("host.hostname", &l.profile.host.hostname)?;
    let mut pieces = Vec::new();
    let mut text = String::from(
        "# forja: locked boot menu. Editing an entry or the command line asks for the superuser password.\n",
    );
    match &l.profile.boot.bootloader_password {
        Some(r) => {
            text.push_str("set superusers=\"root\"\npassword_pbkdf2 root ");
            pieces.push(Piece::Text(std::mem::take(&mut text)));
            pieces.push(Piece::Secret(SecretHash {
                secret: r.name().to_owned(),
                scheme: Scheme::GrubPbkdf2,
                salt: "grub-pbkdf2-salt".into(),
            }));
            text.push('\n');
        }
        None => text
            .push_str("# no bootloader password: refused by the policy for production profiles\n"),
    }
    text.push_str(&formatdoc! {"
        set timeout=1
        set default=0
        insmod part_gpt
        insmod fat
        search --no-floppy --set=root --label FORJA-ESP
        menuentry {title} --unrestricted --id forja {{
            linux /vmlinuz {cmdline}
            initrd /initrd.img
        }}
    ", cmdline = kernel_cmdline(input)});
    pieces.push(Piece::Text(text));
    Ok(pieces)
}

/// Generated files: the `grub.cfg` the build embeds in the GRUB image, kept in the root tree too so the
/// self-check and the boot test can read what the image is locked with.
pub fn files(l: &Loaded, input: &ComposeInput) -> anyhow::Result<Vec<GenFile>> {
    Ok(vec![GenFile::template(
        GRUB_CFG,
        0o600,
        grub_cfg(l, input)?,
        &[R_BOOT],
    )])
}
