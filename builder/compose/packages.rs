//! The host's package set: Debian minimal base plus exactly what the host's job needs (§28 spirit: no extra
//! software). Each package is listed with the reason it is there; the SBOM lists what apt actually installed.

use crate::profile::Loaded;

/// (package, why) for every package forja asks mmdebstrap for.
pub const HOST_PACKAGES: &[(&str, &str)] = &[
    ("linux-image-amd64", "kernel"),
    ("systemd-sysv", "init"),
    ("udev", "device manager"),
    ("dbus", "libvirt and systemd need the system bus"),
    ("kmod", "module loading (kvm, bridge, nf_tables)"),
    (
        "iproute2",
        "network inspection by the operator and the self-checks",
    ),
    ("libvirt-daemon-system", "runs the Pexip VMs"),
    ("libvirt-clients", "virsh, to define the Pexip domains"),
    ("qemu-system-x86", "KVM machine emulator"),
    ("qemu-utils", "qemu-img, to check the imported node images"),
    ("cryptsetup", "LUKS2 vmstore (§105)"),
    (
        "cryptsetup-bin",
        "systemd-cryptenroll needs cryptsetup's libraries",
    ),
    ("libtss2-esys-3.0.2-0", "TPM2 unlock of vmstore"),
    ("libtss2-rc0", "TPM2 unlock of vmstore"),
    ("nftables", "host firewall"),
    ("chrony", "authenticated NTP (§73)"),
    ("rsyslog", "remote logging (§89)"),
    ("rsyslog-gnutls", "TLS transport for remote logging (§89)"),
    ("auditd", "audit trail (§106)"),
    ("libpam-pwquality", "password policy (§52)"),
    ("e2fsprogs", "formats the opened vmstore"),
    ("fdisk", "sfdisk grows vmstore to the rest of the disk"),
    (
        "signify-openbsd",
        "self-check verifies its signed manifest (§77)",
    ),
    ("logrotate", "bounded logs (§85)"),
    (
        "initramfs-tools",
        "the initrd that opens the dm-verity root and mounts the state partition (forja's hook)",
    ),
    (
        "systemd-boot",
        "the boot manager on the ESP, its EFI stub for the unified kernel images, and boot assessment",
    ),
    (
        "age",
        "seals the vmstore recovery key to the site's escrow key (§105)",
    ),
];

/// Package names for mmdebstrap: forja's set, SSH only when enabled, then the profile's extras.
pub fn package_list(l: &Loaded) -> Vec<String> {
    let mut v: Vec<String> = HOST_PACKAGES.iter().map(|(p, _)| p.to_string()).collect();
    if l.profile.host.ssh.enabled {
        v.push("openssh-server".into());
    }
    v.extend(l.profile.base.extra_packages.iter().map(|p| p.to_string()));
    v.sort();
    v.dedup();
    v
}
