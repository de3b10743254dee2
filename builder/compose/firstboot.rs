//! First boot: per-device storage keys and the Pexip VMs (§27, §105).
//!
//! The image carries no volume key. On first boot `forja-firstboot` (in `overlays/usr/lib/forja/`) grows the
//! `vmstore` partition to the rest of the disk, formats it LUKS2 with a fresh random key, enrols the TPM2 (PCR 7,
//! only when Secure Boot is on: with it off, PCR 7 vouches for nothing) and a recovery key (sealed to the site's
//! escrow key, or shown once on the console), removes the setup key, imports the verified node images from the
//! read-only payload partition (re-checking their hashes against `nodes.lock`) and defines the Pexip domains.
//! This module writes its settings file, the static `fstab`/`crypttab` of the read-only root, and the units.
//!
//! At every boot after that (§27, §29): `forja-capacity` compares the host's CPUs, memory and vmstore size with
//! what the VMs reserve, writes `/var/lib/forja/capacity.json` and raises an alarm when they do not fit, and
//! `forja-nodes` starts the Management Node, waits until it runs, then starts the Conferencing Nodes, only on a
//! host whose capacity check passed. `forja-snapshot.timer` copies the Management Node's disk daily into vmstore
//! (§92–93) when the profile asks for it. Everything they write is under `/var` (or vmstore).

use indoc::formatdoc;

use super::{GenFile, MGMT_IF};
use crate::profile::Loaded;
use crate::profile::model::{KdfCost, Unlock};

const R_ENCRYPT: &str = "1616-5.15.h";
const R_RESERVE: &str = "1616-4.5.e";
const R_KDF: &str = "1616-5.15.i";
const R_CAPACITY: &str = "1616-4.5.g";
const R_FIRST: &str = "1616-4.6.a";
const R_SNAPSHOTS: &str = "1616-5.14.d";

/// Memory kept for the host itself on top of the VMs' reservations.
pub const HOST_MEMORY_MIB: u64 = crate::profile::site::HOST_MEMORY_MIB;
/// Management Node copies kept in vmstore.
pub const SNAPSHOTS_KEPT: u32 = 7;

/// Files that first boot rewrites on purpose, so the self-check must not guard them (none: the root is read-only;
/// what first boot writes is on the state partition).
pub const REWRITTEN: &[&str] = &[];

/// Where libvirt keeps the node disks: the mount point of the opened vmstore.
pub const VMSTORE_MOUNT: &str = "/var/lib/libvirt/images";

/// What the VMs this host runs need from it: (CPUs, MiB, GiB); see [`crate::profile::site::capacity_needed`].
pub fn capacity_needed(l: &Loaded) -> (u64, u64, u64) {
    crate::profile::site::capacity_needed(l)
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
        FORJA_TPM2_WITHOUT_SECURE_BOOT=0
        FORJA_RECOVERY_KEY={recovery}
        FORJA_RECOVERY_ESCROW=\"{escrow}\"
        FORJA_PAYLOAD_LABEL=payload
        FORJA_CPUS_NEEDED={cpus}
        FORJA_MEMORY_MIB_NEEDED={memory}
        FORJA_DISK_GIB_NEEDED={disk}
        FORJA_MANAGEMENT_DOMAIN={mgr}
        FORJA_NODE_DOMAINS=\"{nodes}\"
        FORJA_SNAPSHOTS_KEPT={SNAPSHOTS_KEPT}
        FORJA_MGMT_IF={MGMT_IF}
        FORJA_MGMT_ADDRESS={mgmt_address}
    ",
        // A site's host without the Management Node starts only its conferencing nodes.
        mgr = if l.site.as_ref().is_none_or(|m| m.runs_management) { p.management.name.as_str() } else { "" },
        nodes = nodes.join(" "),
        grow = matches!(s.vmstore_size, crate::profile::model::VolumeSize::Rest) as u8,
        tpm2 = tpm2 as u8,
        recovery = s.recovery_key as u8,
        escrow = s.recovery_escrow.as_deref().unwrap_or(""),
        // The health check (forja-health) waits for this address on the management NIC.
        mgmt_address = l.profile.network.management.address.static_cidr().map(|c| c.to_string()).unwrap_or_default(),
    }
}

pub fn files(l: &Loaded, input: &super::ComposeInput) -> Vec<GenFile> {
    let p = &l.profile.pexip;
    let tpm2 = l.profile.storage.unlock.contains(&Unlock::Tpm2);
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
        // Boot assessment: boot-complete.target requires the health check, so systemd-bless-boot marks a slot on
        // trial good only once it passed; on a good slot multi-user.target runs it for its alarms.
        GenFile::requires(
            "boot-complete.target",
            "forja-health.service",
            "/usr/lib/systemd/system",
        ),
        GenFile::wants(
            "multi-user.target",
            "forja-health.service",
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
    let runs_management = l.site.as_ref().is_none_or(|m| m.runs_management);
    if !runs_management {
        out.push(conferencing_only_start());
    }
    if p.backup.management_snapshots && runs_management {
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

/// A site's host without the Management Node: `forja-nodes` starts its conferencing nodes without waiting for a
/// Management Node that runs on another host (§29's order is kept by the host that runs it). A drop-in, so the
/// reviewed unit and script stay the same bytes for every host.
fn conferencing_only_start() -> GenFile {
    GenFile::text(
        "/etc/systemd/system/forja-nodes.service.d/50-site-host.conf",
        0o644,
        indoc::indoc! {r#"
            # forja: this host of the site runs no Management Node; start only its Conferencing Nodes.
            # ($$ is a literal $ for the shell: systemd expands $VAR itself.)
            [Service]
            EnvironmentFile=/etc/forja/firstboot.env
            ExecStart=
            ExecStart=/bin/sh -c 'for d in $$FORJA_NODE_DOMAINS; do [ "$$(virsh --connect qemu:///system domstate "$$d")" = running ] || virsh --connect qemu:///system start "$$d" || exit 1; done'
        "#},
        &[R_FIRST],
    )
}

/// `/etc/fstab`, static in the read-only image: the verity root, the state partition on `/var` (mounted by the
/// initrd already; listed so systemd knows it), `/tmp` in RAM, the ESP on `/efi` (where systemd-bless-boot marks
/// a slot good and `forja update apply` writes a slot's image; `nofail`: a damaged ESP is a failed health check,
/// not an emergency shell), and vmstore with `noauto` (the forja-vmstore
/// generator requires it once first boot has made it). With nobody at the console a vmstore that the TPM refuses
/// waits at the recovery prompt (`device-timeout=infinity`) instead of dropping to emergency mode.
fn fstab(input: &super::ComposeInput) -> String {
    format!(
        "# forja appliance: / is the dm-verity root opened by the initrd from the signed command line\n\
         /dev/mapper/root / erofs ro 0 0\n\
         PARTUUID={state} /var ext4 rw,nodev,nosuid 0 0\n\
         tmpfs /tmp tmpfs rw,nodev,nosuid,size=25% 0 0\n\
         PARTUUID={esp} /efi vfat rw,nodev,nosuid,noexec,umask=0077,nofail 0 0\n\
         /dev/mapper/vmstore {VMSTORE_MOUNT} ext4 noauto,nodev,nosuid,x-systemd.device-timeout=infinity 0 2\n",
        state = input.state,
        esp = input.esp,
    )
}
