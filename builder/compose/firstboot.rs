//! First boot: per-device storage keys and the Pexip VMs (§27, §105).
//!
//! The image carries no volume key. On first boot `forja-firstboot` (in `overlays/usr/lib/forja/`) grows the
//! `vmstore` partition to the rest of the disk, formats it LUKS2 with a fresh random key, enrols the TPM2 (PCR 7)
//! when there is one and a recovery key that is shown once on the console and never stored, removes the setup
//! key, imports the verified node images from the read-only payload partition (re-checking their hashes against
//! `nodes.lock`) and defines the Pexip domains. This module writes only its settings file and enables the units.
//!
//! At every boot after that (§27, §29): `forja-capacity` compares the host's CPUs, memory and vmstore size with
//! what the VMs reserve, writes `/var/lib/forja/capacity.json` and raises an alarm when they do not fit, and
//! `forja-nodes` starts the Management Node, waits until it runs, then starts the Conferencing Nodes, only on a
//! host whose capacity check passed. `forja-snapshot.timer` copies the Management Node's disk daily into vmstore
//! (§92–93) when the profile asks for it. Everything they write is under `/var` (or vmstore).

use indoc::formatdoc;

use super::GenFile;
use crate::profile::Loaded;
use crate::profile::model::{KdfCost, Unlock};

const R_ENCRYPT: &str = "1616-5.15.h";
const R_RESERVE: &str = "1616-4.5.e";
const R_KDF: &str = "1616-5.15.i";
const R_CAPACITY: &str = "1616-4.5.g";
const R_FIRST: &str = "1616-4.6.a";
const R_SNAPSHOTS: &str = "1616-5.14.d";

/// Memory kept for the host itself on top of the VMs' reservations.
pub const HOST_MEMORY_MIB: u64 = 1024;
/// Management Node copies kept in vmstore.
pub const SNAPSHOTS_KEPT: u32 = 7;

/// Files that first boot rewrites on purpose, so the self-check must not guard them.
pub const REWRITTEN: &[&str] = &["/etc/crypttab", "/etc/fstab", "/etc/machine-id"];

/// Where libvirt keeps the node disks: the mount point of the opened vmstore.
pub const VMSTORE_MOUNT: &str = "/var/lib/libvirt/images";

/// What the VMs need from the host: (CPUs, MiB, GiB). CPU 0 stays with the host and the VMs' vCPUs are pinned
/// from CPU 1 upwards (`pipeline::resolve::payload`); the host keeps [`HOST_MEMORY_MIB`] for itself.
pub fn capacity_needed(l: &Loaded) -> (u64, u64, u64) {
    let p = &l.profile.pexip;
    let r: Vec<_> = std::iter::once(&p.management.reservation)
        .chain(p.conferencing.iter().map(|n| &n.reservation))
        .collect();
    (
        1 + r.iter().map(|x| u64::from(x.vcpus)).sum::<u64>(),
        HOST_MEMORY_MIB + r.iter().map(|x| u64::from(x.memory_mb)).sum::<u64>(),
        r.iter().map(|x| u64::from(x.disk_gb)).sum::<u64>(),
    )
}

/// `/etc/forja/firstboot.env`: what first boot, the capacity check, the start order and the copies read.
fn settings(l: &Loaded) -> String {
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
    let p = &l.profile.pexip;
    let (cpus, memory, disk) = capacity_needed(l);
    let nodes: Vec<&str> = p.conferencing.iter().map(|n| n.name.as_str()).collect();
    formatdoc! {"
        # forja: first-boot settings (generated from the profile)
        FORJA_VMSTORE_LABEL=vmstore
        FORJA_VMSTORE_GROW={grow}
        FORJA_VMSTORE_MOUNT={VMSTORE_MOUNT}
        FORJA_LUKS_KDF=\"{kdf}\"
        FORJA_TPM2={tpm2}
        FORJA_TPM2_PCRS=7
        FORJA_RECOVERY_KEY={recovery}
        FORJA_PAYLOAD_LABEL=payload
        FORJA_CPUS_NEEDED={cpus}
        FORJA_MEMORY_MIB_NEEDED={memory}
        FORJA_DISK_GIB_NEEDED={disk}
        FORJA_MANAGEMENT_DOMAIN={mgr}
        FORJA_NODE_DOMAINS=\"{nodes}\"
        FORJA_SNAPSHOTS_KEPT={SNAPSHOTS_KEPT}
    ",
        mgr = p.management.name,
        nodes = nodes.join(" "),
        grow = matches!(s.vmstore_size, crate::profile::model::VolumeSize::Rest) as u8,
        tpm2 = tpm2 as u8,
        recovery = s.recovery_key as u8,
    }
}

pub fn files(l: &Loaded, input: &super::ComposeInput) -> Vec<GenFile> {
    let p = &l.profile.pexip;
    let env = settings(l);
    let mut out = vec![
        GenFile::text(
            "/etc/forja/firstboot.env",
            0o644,
            env,
            &[R_ENCRYPT, R_RESERVE, R_KDF, R_CAPACITY, R_FIRST],
        ),
        GenFile::wants(
            "multi-user.target",
            "forja-capacity.service",
            "/usr/lib/systemd/system",
        ),
        GenFile::wants(
            "multi-user.target",
            "forja-nodes.service",
            "/usr/lib/systemd/system",
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
    ];
    if p.backup.management_snapshots {
        out.push(GenFile::wants(
            "timers.target",
            "forja-snapshot.timer",
            "/usr/lib/systemd/system",
        ));
        // Citing the timer's settings file for the rule: the unit itself is a static overlay.
        out[0].rules.push(R_SNAPSHOTS.into());
    }
    out
}
