//! The boot lock (§30 for the host): nothing on the way to the running system can be edited at boot.
//!
//! The kernel command line lives inside each slot's unified kernel image, signed with the site's db key, so it
//! cannot be changed without breaking the signature (and systemd-stub ignores overrides while Secure Boot is on);
//! systemd-boot runs with its editor off, no timeout menu and no firmware or auto entries. The line names the
//! slot's verity root and hash partitions and the root hash the build measured, so the initrd opens `/` only if
//! every block matches (`panic-on-corruption`, and `panic=10` resets a failed boot so the boot counter moves on).
//! GRUB and its password are gone: there is nothing left to protect with one.

use super::{ComposeInput, GenFile};
use crate::plan::ROOTHASH;
use crate::plan::disk::Slot;
use crate::profile::Loaded;

/// The rule the signed images and systemd-boot's settings carry out (cited by the plan for the ESP files).
pub const R_BOOT: &str = "1616-4.6.c";

/// systemd-boot's settings: boot the best slot at once, no editor, no extra entries.
pub const LOADER_CONF: &str = "# forja: boot the newest good slot at once; nothing to edit, nothing else to boot\n\
timeout 0\neditor no\nauto-entries no\nauto-firmware no\nconsole-mode keep\n";

/// The kernel command line of a slot's image (`{roothash}` stands for the root hash measured by the build).
/// PARTUUIDs are lower case: the initrd's klibc tools cannot fold case. `systemd.gpt_auto=0`: every partition the
/// host uses is named here or in the static fstab; nothing is mounted because of its GPT type (the generator's ESP
/// automount failed a boot under load in the media test, and the appliance never needs the ESP mounted).
pub fn kernel_cmdline(input: &ComposeInput, slot: Slot) -> String {
    let (root, verity) = match slot {
        Slot::A => (&input.root_a, &input.verity_a),
        Slot::B => (&input.root_b, &input.verity_b),
    };
    format!(
        "root=/dev/mapper/root rootfstype=erofs ro roothash={ROOTHASH} \
         systemd.verity_root_data=PARTUUID={root} systemd.verity_root_hash=PARTUUID={verity} \
         systemd.verity_root_options=panic-on-corruption forja.state=PARTUUID={state} forja.slot={slot} \
         systemd.gpt_auto=0 console=tty0 console=ttyS0,115200n8 panic=10 systemd.show_status=auto",
        state = input.state,
        slot = slot.name(),
    )
}

/// The unified kernel image's `.osrel`: systemd-boot orders slots by `IMAGE_VERSION`.
pub fn os_release(l: &Loaded, version: &str) -> String {
    format!(
        "ID=forja\nNAME=\"forja host\"\nPRETTY_NAME=\"forja host {host} ({profile})\"\nIMAGE_ID=forja\nIMAGE_VERSION={version}\nVERSION_ID={version}\n",
        host = l.profile.host.hostname,
        profile = l.profile.profile.name,
    )
}

/// Where the root says which release it is (the build's epoch, the images' `IMAGE_VERSION`).
pub const VERSION_FILE: &str = "/usr/lib/forja/image-version";

/// [`VERSION_FILE`]: `IMAGE_VERSION=EPOCH`, the line the slot's `.osrel` has.
pub fn version_file(epoch: u64) -> GenFile {
    GenFile::text(VERSION_FILE, 0o644, format!("IMAGE_VERSION={epoch}\n"), &[])
}

/// Generated files for the boot chain: `systemd-firstboot` masked (it would prompt on the console and cannot write
/// a read-only `/etc`).
pub fn files() -> Vec<GenFile> {
    vec![GenFile::symlink(
        "/etc/systemd/system/systemd-firstboot.service",
        "/dev/null",
    )]
}
