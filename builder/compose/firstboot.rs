//! First boot: per-device storage keys and the Pexip VMs (§27, §105).
//!
//! The image carries no volume key. On first boot `forja-firstboot` (in `overlays/usr/lib/forja/`) grows the
//! `vmstore` partition to the rest of the disk, formats it LUKS2 with a fresh random key, enrols the TPM2 (PCR 7,
//! only when Secure Boot is on: with it off, PCR 7 vouches for nothing) and a recovery key (sealed to the site's
//! escrow key, or shown once on the console), removes the setup key, imports the verified node images from the
//! read-only payload partition (re-checking their hashes against `nodes.lock`) and defines the Pexip domains.
//! This module writes its settings file, the static `fstab`/`crypttab` of the read-only root, and the units.

use indoc::formatdoc;

use super::GenFile;
use crate::profile::Loaded;
use crate::profile::model::{KdfCost, Unlock};

const R_ENCRYPT: &str = "1616-5.15.h";
const R_RESERVE: &str = "1616-4.5.e";

/// Files that first boot rewrites on purpose, so the self-check must not guard them (none: the root is read-only;
/// what first boot writes is on the state partition).
pub const REWRITTEN: &[&str] = &[];

/// Where libvirt keeps the node disks: the mount point of the opened vmstore.
pub const VMSTORE_MOUNT: &str = "/var/lib/libvirt/images";

pub fn files(l: &Loaded, input: &super::ComposeInput) -> Vec<GenFile> {
    let s = &l.profile.storage;
    let tpm2 = s.unlock.contains(&Unlock::Tpm2);
    let mut out = vec![
        GenFile::text(
            "/etc/forja/firstboot.env",
            0o644,
            env(l),
            &[R_ENCRYPT, R_RESERVE],
        ),
        GenFile::wants(
            "multi-user.target",
            "forja-firstboot.service",
            "/usr/lib/systemd/system",
        ),
        GenFile::wants(
            "timers.target",
            "forja-selfcheck.timer",
            "/usr/lib/systemd/system",
        ),
        GenFile::wants(
            "multi-user.target",
            "forja-selfcheck.service",
            "/usr/lib/systemd/system",
        ),
        // libvirt's default NAT network would give the host an address on a VM bridge: never start it.
        GenFile::absent("/etc/libvirt/qemu/networks/autostart/default.xml"),
        GenFile::text("/etc/fstab", 0o644, fstab(input), &[R_ENCRYPT]),
        GenFile::text(
            "/etc/crypttab",
            0o644,
            format!(
                "# forja: vmstore, made at first boot (LUKS2, TPM2 PCR 7 + recovery key); opened once firstboot.done exists\n\
                 vmstore PARTLABEL=vmstore none luks,discard{tpm},noauto\n",
                tpm = if tpm2 { ",tpm2-device=auto" } else { "" }
            ),
            &[R_ENCRYPT],
        ),
    ];
    // No login before first boot has finished: its console output (where the recovery key went) comes first.
    for getty in ["getty@.service", "serial-getty@.service"] {
        out.push(GenFile::text(
            &format!("/etc/systemd/system/{getty}.d/forja-after-firstboot.conf"),
            0o644,
            "[Unit]\n# forja: logins start only once first boot has finished\nAfter=forja-firstboot.service\n",
            &[R_ENCRYPT],
        ));
    }
    out
}

/// `/etc/fstab`, static in the read-only image: the verity root, the state partition on `/var` (mounted by the
/// initrd already; listed so systemd knows it), `/tmp` in RAM, and vmstore with `noauto` (the forja-vmstore
/// generator requires it once first boot has made it). With nobody at the console a vmstore that the TPM refuses
/// waits at the recovery prompt (`device-timeout=infinity`) instead of dropping to emergency mode.
fn fstab(input: &super::ComposeInput) -> String {
    format!(
        "# forja appliance: / is the dm-verity root opened by the initrd from the signed command line\n\
         /dev/mapper/root / erofs ro 0 0\n\
         PARTUUID={state} /var ext4 rw,nodev,nosuid 0 0\n\
         tmpfs /tmp tmpfs rw,nodev,nosuid,size=25% 0 0\n\
         /dev/mapper/vmstore {VMSTORE_MOUNT} ext4 noauto,nodev,nosuid,x-systemd.device-timeout=infinity 0 2\n",
        state = input.state,
    )
}

fn env(l: &Loaded) -> String {
    let s = &l.profile.storage;
    let kdf = match s.kdf_cost {
        // cryptsetup's own argon2id benchmark-derived cost.
        KdfCost::Default => "--pbkdf argon2id",
        // Lab only: seconds instead of minutes to unlock under QEMU without KVM.
        KdfCost::TestOnly => {
            "--pbkdf argon2id --pbkdf-memory 32768 --pbkdf-force-iterations 4 --pbkdf-parallel 1"
        }
    };
    formatdoc! {"
        # forja: first-boot settings (generated from the profile)
        FORJA_VMSTORE_LABEL=vmstore
        FORJA_VMSTORE_GROW={grow}
        FORJA_VMSTORE_MOUNT={VMSTORE_MOUNT}
        FORJA_LUKS_KDF=\"{kdf}\"
        FORJA_TPM2={tpm2}
        FORJA_TPM2_PCRS=7
        FORJA_TPM2_WITHOUT_SECURE_BOOT=0
        FORJA_RECOVERY_KEY={recovery}
        FORJA_RECOVERY_ESCROW=\"{escrow}\"
        FORJA_PAYLOAD_LABEL=payload
    ",
        grow = matches!(s.vmstore_size, crate::profile::model::VolumeSize::Rest) as u8,
        tpm2 = s.unlock.contains(&Unlock::Tpm2) as u8,
        recovery = s.recovery_key as u8,
        escrow = s.recovery_escrow.as_deref().unwrap_or(""),
    }
}
