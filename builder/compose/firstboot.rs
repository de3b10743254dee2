//! First boot: per-device storage keys and the Pexip VMs (§27, §105).
//!
//! The image carries no volume key. On first boot `forja-firstboot` (in `overlays/usr/lib/forja/`) grows the
//! `vmstore` partition to the rest of the disk, formats it LUKS2 with a fresh random key, enrols the TPM2 (PCR 7)
//! when there is one and a recovery key that is shown once on the console and never stored, removes the setup
//! key, imports the verified node images from the read-only payload partition (re-checking their hashes against
//! `nodes.lock`) and defines the Pexip domains. This module writes only its settings file and enables the units.

use indoc::formatdoc;

use super::GenFile;
use crate::profile::Loaded;
use crate::profile::model::{KdfCost, Unlock};

const R_ENCRYPT: &str = "1616-5.15.h";
const R_RESERVE: &str = "1616-4.5.e";

/// Files that first boot rewrites on purpose, so the self-check must not guard them.
pub const REWRITTEN: &[&str] = &["/etc/crypttab", "/etc/fstab", "/etc/machine-id"];

/// Where libvirt keeps the node disks: the mount point of the opened vmstore.
pub const VMSTORE_MOUNT: &str = "/var/lib/libvirt/images";

pub fn files(l: &Loaded, input: &super::ComposeInput) -> Vec<GenFile> {
    let s = &l.profile.storage;
    let kdf = match s.kdf_cost {
        // cryptsetup's own argon2id benchmark-derived cost.
        KdfCost::Default => "--pbkdf argon2id",
        // Lab only: seconds instead of minutes to unlock under QEMU without KVM.
        KdfCost::TestOnly => {
            "--pbkdf argon2id --pbkdf-memory 32768 --pbkdf-force-iterations 4 --pbkdf-parallel 1"
        }
    };
    let tpm2 = s.unlock.contains(&Unlock::Tpm2);
    let env = formatdoc! {"
        # forja: first-boot settings (generated from the profile)
        FORJA_VMSTORE_LABEL=vmstore
        FORJA_VMSTORE_GROW={grow}
        FORJA_VMSTORE_MOUNT={VMSTORE_MOUNT}
        FORJA_LUKS_KDF=\"{kdf}\"
        FORJA_TPM2={tpm2}
        FORJA_TPM2_PCRS=7
        FORJA_RECOVERY_KEY={recovery}
        FORJA_PAYLOAD_LABEL=payload
    ",
        grow = matches!(s.vmstore_size, crate::profile::model::VolumeSize::Rest) as u8,
        tpm2 = tpm2 as u8,
        recovery = s.recovery_key as u8,
    };
    vec![
        GenFile::text(
            "/etc/forja/firstboot.env",
            0o644,
            env,
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
        // The image's machine-id is made on first boot: one per device.
        GenFile::text("/etc/machine-id", 0o444, "uninitialized\n", &[]),
        GenFile::text(
            "/etc/fstab",
            0o644,
            format!(
                "# forja: root by its GPT partition; first boot adds vmstore below\nPARTUUID={root} / ext4 defaults,errors=remount-ro 0 1\n",
                root = input.root_partuuid
            ),
            &[],
        ),
    ]
}
