//! Chapter 4 from §22: the virtualisation host, the VMs' resources and the installation (§22–31).
//!
//! MANUAL rules and their levers:
//! - `1616-4.6.b` (§30, firmware password): `boot.firmware.admin-password`, `secure-boot`, `boot-order`.
//!
//! DECLARED rules and their levers:
//! - `1616-4.5.f` (§28, no software added to the Pexip VMs): `pexip.extra-software`. forja stages the vendor
//!   images unchanged (hash-checked); what is installed into a running VM later is out of its sight.
//!
//! Lab-only relaxation: the published test secrets (`1616-4.6.e`) are WAIVED in a lab profile and FAIL in a
//! production one.

use crate::profile::model::{BootDevice, ImageRole, Reservation, VolumeSize};
use crate::profile::net::AddressMode;

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::super::secret_values;
use super::{judge_secrets, password_problems, proof};

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-4.5.a"),
        paragraph: "§22, §25",
        statement: "The KVM host is hardened: forja's minimal Debian host with no extra packages",
        enforcement: Enforcement::HostArtifact,
        how: "the image is forja's minimal package set (listed in plan.json and sbom.json) with its hardening overlays",
        proof: &[
            "tests/plan_golden.rs::lab_plan_matches_golden",
            "tests/build_lab.rs::lab_build_is_reproducible_verifiable_and_secret_free",
        ],
        checklist: None,
        check: host_minimal,
    },
    Rule {
        id: RuleId("1616-4.5.b"),
        paragraph: "§24",
        statement: "The host and every Pexip VM have a static IP address",
        enforcement: Enforcement::HostArtifact,
        how: "the host's management NIC gets its address from a static systemd-networkd file; the plan registers each node with its static address (worker_vm address/netmask/gateway) and the installation wizard gets the Management Node's",
        proof: &[proof::BOOT_NETWORK, proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: None,
        check: static_addresses,
    },
    Rule {
        id: RuleId("1616-4.5.c"),
        paragraph: "§26",
        statement: "Two physical NICs separate host management from the Pexip VMs",
        enforcement: Enforcement::HostArtifact,
        how: "systemd .link files name the NICs by MAC (mgmt0, vmnic0); host services listen on the management NIC only",
        proof: &[proof::BOOT_NETWORK],
        checklist: None,
        check: two_nics,
    },
    Rule {
        id: RuleId("1616-4.5.d"),
        paragraph: "§26",
        statement: "The VM bridge carries no host address",
        enforcement: Enforcement::HostArtifact,
        how: "the VM NIC is a bridge port and the bridge has no address, no DHCP and no IPv6 autoconfiguration",
        proof: &[proof::BOOT_NETWORK],
        checklist: None,
        check: vm_bridge_unaddressed,
    },
    Rule {
        id: RuleId("1616-4.5.e"),
        paragraph: "§27",
        statement: "Every Pexip VM gets reserved resources (pinned vCPUs, locked memory) within Pexip's sizing",
        enforcement: Enforcement::HostArtifact,
        how: "the libvirt domains pin each vCPU to its own host CPU and lock the VM's memory",
        proof: &[proof::BOOT_DOMAINS],
        checklist: None,
        check: resources_reserved,
    },
    Rule {
        id: RuleId("1616-4.5.g"),
        paragraph: "§27",
        statement: "The host is checked for enough CPUs, memory and disk for every VM before any VM starts",
        enforcement: Enforcement::HostArtifact,
        how: "first boot compares the host's CPUs, memory and vmstore space with the reservations (/var/lib/forja/capacity.json) and raises an alarm when they do not fit; forja-nodes.service starts the VMs only on a host that passed",
        proof: &[proof::BOOT_CAPACITY],
        checklist: None,
        check: capacity_known,
    },
    Rule {
        id: RuleId("1616-4.5.f"),
        paragraph: "§28",
        statement: "No software is added to the Pexip VMs",
        enforcement: Enforcement::Declared,
        how: "pexip.extra-software = []: forja stages the vendor images unchanged and nobody installs anything into the VMs",
        proof: &["tests/policy_deployment.rs::no_extra_software_in_pexip_vms"],
        checklist: None,
        check: no_extra_software,
    },
    Rule {
        id: RuleId("1616-4.6.a"),
        paragraph: "§29",
        statement: "The Management Node is installed first, from a verified vendor image",
        enforcement: Enforcement::HostArtifact,
        how: "forja-nodes.service starts the Management Node's domain and waits until it runs before it starts any Conferencing Node; its disk is the staged image checked against nodes.lock at first boot",
        proof: &[proof::NODES_START, proof::BOOT_CAPACITY, proof::BOOT_NODES],
        checklist: None,
        check: management_image_present,
    },
    Rule {
        id: RuleId("1616-4.6.b"),
        paragraph: "§30",
        statement: "The firmware is locked: administrator password, Secure Boot, boot only from the installed disk",
        enforcement: Enforcement::Manual,
        how: "Set the BIOS/UEFI administrator password from the secrets file, enable Secure Boot (with the site's keys) and boot only from the installed disk: `forja firmware apply` sets it through the BMC (Redfish) and `forja firmware audit` checks it; what the BMC does not expose is done in the firmware setup, as firmware-plan.json says.",
        proof: &[
            "tests/policy_deployment.rs::firmware_needs_an_admin_password",
            "tests/policy_deployment.rs::secure_boot_without_keys_would_brick_the_host",
        ],
        checklist: None,
        check: firmware_locked,
    },
    Rule {
        id: RuleId("1616-4.6.c"),
        paragraph: "§30",
        statement: "The host and the VMs boot only as configured (signed boot images with their command line inside, nothing to edit at boot; fixed VM boot order)",
        enforcement: Enforcement::HostArtifact,
        how: "forja signs systemd-boot and each slot's unified kernel image with the site's db key; the kernel command line (with the root's dm-verity hash) is inside the signed image, systemd-boot's editor is off, and libvirt domains have a fixed boot order and no boot menu",
        proof: &[proof::BOOT_CHAIN, proof::BOOT_DOMAINS],
        checklist: None,
        check: bootloader_locked,
    },
    Rule {
        id: RuleId("1616-4.6.d"),
        paragraph: "§31",
        statement: "The installation wizard's web and console passwords follow the §52 policy",
        enforcement: Enforcement::BuildCheck,
        how: "forja build and forja pexip generate check both values against host.password-policy and write only their hashes into the wizard answers",
        proof: &[
            "tests/pexip_generate.rs::a_weak_web_password_is_refused_without_printing_it",
            "tests/policy_deployment.rs::wizard_passwords_follow_the_password_policy",
        ],
        checklist: Some(Checklist::Users),
        check: wizard_passwords,
    },
    Rule {
        id: RuleId("1616-4.6.e"),
        paragraph: "§31, §52, §98",
        statement: "No published, placeholder or weak secrets: the secrets file holds the site's own values",
        enforcement: Enforcement::BuildCheck,
        how: "forja refuses a production secrets file marked test-values-only, any value equal to a shipped example or lab value or that looks like a placeholder, and a build seed with fewer than 32 random bytes",
        proof: &[
            "tests/policy_secrets.rs::the_shipped_example_secrets_are_refused_naming_each_secret",
            "tests/policy_secrets.rs::a_short_build_seed_is_refused",
        ],
        checklist: Some(Checklist::Users),
        check: no_published_secrets,
    },
];

fn host_minimal(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let extra = &ctx.p.base.extra_packages;
    c.expect(
        extra.is_empty(),
        "base.extra-packages",
        val(extra),
        "§22, §28: the host runs forja's minimal package set only: set extra-packages = []",
    );
    c.verdict("minimal host package set")
}

fn static_addresses(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let fix = "§24: a static address is required: write ADDRESS/PREFIX, e.g. \"192.0.2.10/24\"";
    let mut check = |field: String, a: &AddressMode| {
        c.expect(*a != AddressMode::Dhcp, &field, val(a), fix);
    };
    check(
        "network.management.address".into(),
        &ctx.p.network.management.address,
    );
    check(
        "pexip.management.address".into(),
        &ctx.p.pexip.management.address,
    );
    for (i, n) in ctx.p.pexip.conferencing.iter().enumerate() {
        check(format!("pexip.conferencing[{i}].address"), &n.address);
    }
    c.verdict("all addresses static")
}

fn two_nics(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let n = &ctx.p.network;
    c.expect(
        n.management.mac != n.vm.mac,
        "network.vm.mac",
        val(&n.vm.mac.to_string()),
        "§26: the VM NIC must be a second physical NIC: give it a MAC other than network.management.mac",
    );
    c.verdict("management and VM traffic on separate NICs")
}

fn vm_bridge_unaddressed(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let a = &ctx.p.network.vm.address;
    c.expect(
        a.is_none(),
        "network.vm.address",
        val(&a.map(|a| a.to_string())),
        "§26: the VM bridge is for the Pexip VMs only and has no host address: delete this line",
    );
    c.verdict(format!(
        "bridge {} has no host address",
        ctx.p.network.vm.bridge
    ))
}

fn resources_reserved(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let p = &ctx.p.pexip;
    let nodes = std::iter::once((
        "pexip.management.reservation".to_owned(),
        &p.management.reservation,
    ))
    .chain(p.conferencing.iter().enumerate().map(|(i, n)| {
        (
            format!("pexip.conferencing[{i}].reservation"),
            &n.reservation,
        )
    }));
    for (field, r) in nodes {
        c.expect(
            r.pinned,
            &format!("{field}.pinned"),
            r.pinned,
            "§27: VM resources are reserved: remove the line or set pinned = true",
        );
    }
    let m = &p.management.reservation;
    let f = "pexip.management.reservation";
    c.expect(
        m.vcpus >= 4,
        &format!("{f}.vcpus"),
        m.vcpus,
        "§27: the Management Node needs at least 4 vCPUs",
    );
    c.expect(
        m.memory_mb >= 4096,
        &format!("{f}.memory-mb"),
        m.memory_mb,
        "§27: the Management Node needs at least 4096 MB",
    );
    c.expect(
        m.disk_gb >= 100,
        &format!("{f}.disk-gb"),
        m.disk_gb,
        "§27: the Management Node needs at least 100 GB",
    );
    for (i, n) in p.conferencing.iter().enumerate() {
        conferencing_sizing(
            &mut c,
            &format!("pexip.conferencing[{i}].reservation"),
            &n.reservation,
        );
    }
    c.verdict("every VM pinned and within Pexip's sizing")
}

fn conferencing_sizing(c: &mut super::super::rule::Checks, f: &str, r: &Reservation) {
    c.expect(
        (2..=128).contains(&r.vcpus),
        &format!("{f}.vcpus"),
        r.vcpus,
        "§27: a Conferencing Node takes 2 to 128 vCPUs",
    );
    c.expect(
        (2000..=64000).contains(&r.memory_mb),
        &format!("{f}.memory-mb"),
        r.memory_mb,
        "§27: a Conferencing Node takes 2000 to 64000 MB",
    );
}

/// What can be judged before the host exists: a fixed-size vmstore must hold every VM's disk. The rest (CPUs,
/// memory, a vmstore grown to the disk) is checked by first boot on the real host.
fn capacity_known(ctx: &Ctx) -> Verdict {
    // The VMs this host runs (a site's host may run no Management Node).
    let all: Vec<&Reservation> = crate::profile::site::hosted_nodes(ctx.loaded)
        .into_iter()
        .map(|n| n.reservation)
        .collect();
    let cpus: u32 = all.iter().map(|r| r.vcpus).sum();
    let mem: u32 = all.iter().map(|r| r.memory_mb).sum();
    let disk_gb: u64 = all.iter().map(|r| u64::from(r.disk_gb)).sum();
    let mut c = ctx.checks();
    if let VolumeSize::Fixed(size) = ctx.p.storage.vmstore_size {
        c.expect(
            size.bytes() >= disk_gb << 30,
            "storage.vmstore-size",
            val(&ctx.p.storage.vmstore_size),
            format!("§27: the VMs' disks take {disk_gb} GiB: make vmstore at least that big, or \"rest\""),
        );
    }
    c.verdict(format!(
        "first boot checks for {} host CPUs (CPU 0 stays with the host), {mem} MB and {disk_gb} GiB for the VMs",
        cpus + 1
    ))
}

fn no_extra_software(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let x = &ctx.p.pexip.extra_software;
    c.expect(
        x.is_empty(),
        "pexip.extra-software",
        val(x),
        "§28: the node images hold all the software they need: set extra-software = []",
    );
    c.verdict("no extra software in the VMs")
}

fn management_image_present(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let imgs = &ctx.p.pexip.images;
    let has = |role| imgs.iter().any(|i| i.role == role);
    c.expect(
        has(ImageRole::Management),
        "pexip.images",
        format!("{} image(s), none with role = \"management\"", imgs.len()),
        "§29: add the Management Node image ([[pexip.images]] role = \"management\")",
    );
    c.expect(
        ctx.p.pexip.conferencing.is_empty() || has(ImageRole::Conferencing),
        "pexip.images",
        format!("{} image(s), none with role = \"conferencing\"", imgs.len()),
        "add the Conferencing Node image ([[pexip.images]] role = \"conferencing\")",
    );
    c.verdict("Management Node image present; it starts first")
}

fn firmware_locked(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let f = &ctx.p.boot.firmware;
    c.expect(
        f.admin_password.is_some(),
        "boot.firmware.admin-password",
        "(absent)",
        "§30: protect the firmware setup: admin-password = { secret = \"bios-admin-password\" }",
    );
    c.expect(
        f.secure_boot,
        "boot.firmware.secure-boot",
        false,
        "§30: boot only signed code: set secure-boot = true",
    );
    // Secure Boot on without the site's keys would make the firmware refuse forja's own (unsigned) boot
    // images: never emit a plan that bricks the host.
    c.expect(
        !f.secure_boot || f.secure_boot_keys.is_some(),
        "boot.firmware.secure-boot-keys",
        "(absent)",
        "§30: Secure Boot needs the site's keys to sign the boot images: `forja keygen --secure-boot --out keys/secure-boot`, then secure-boot-keys = \"keys/secure-boot\"",
    );
    c.expect(
        f.boot_order == [BootDevice::Disk],
        "boot.firmware.boot-order",
        val(&f.boot_order),
        "§30: boot only from the installed disk: set boot-order = [\"disk\"]",
    );
    let via = if f.redfish_endpoint.is_some() {
        "BMC at redfish-endpoint: forja firmware apply/audit"
    } else {
        "no BMC: by hand"
    };
    c.verdict(via)
}

fn bootloader_locked(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    c.expect(
        ctx.p.boot.firmware.secure_boot_keys.is_some(),
        "boot.firmware.secure-boot-keys",
        "(absent)",
        "§30: sign the boot chain with the site's own keys: `forja keygen --secure-boot --out keys/secure-boot` and secure-boot-keys = \"keys/secure-boot\"",
    );
    c.verdict(
        "signed unified kernel images, command line inside, no boot editor; fixed VM boot order",
    )
}

fn wizard_passwords(ctx: &Ctx) -> Verdict {
    let m = &ctx.p.pexip.management;
    if m.web_admin_user.trim().is_empty() {
        let mut c = ctx.checks();
        c.expect(
            false,
            "pexip.management.web-admin-user",
            "\"\"",
            "§31: name the web administrator the wizard creates",
        );
        return c.verdict("");
    }
    let policy = &ctx.p.host.password_policy;
    judge_secrets(
        ctx,
        [
            (
                "pexip.management.web-admin-password".to_owned(),
                &m.web_admin_password,
            ),
            (
                "pexip.management.console-admin-password".to_owned(),
                &m.console_admin_password,
            ),
        ],
        |pw| password_problems(pw, policy),
        "web and console passwords meet §52",
    )
}

fn no_published_secrets(ctx: &Ctx) -> Verdict {
    let Some(s) = &ctx.loaded.secrets else {
        return Verdict::NeedsSecrets;
    };
    if s.test_values_only {
        if ctx.lab() {
            return Verdict::Waived(
                "lab profile: published test values (test-values-only = true), never deployed"
                    .into(),
            );
        }
        let mut c = ctx.checks();
        c.expect(
            false,
            "profile.secrets",
            val(&s.path.display().to_string()),
            "§31: this file holds published test values: point secrets at a file with the site's own values (mode 0600)",
        );
        return c.verdict("");
    }
    let problems = secret_values::problems(ctx.loaded, s);
    if problems.is_empty() {
        return Verdict::Ok(
            "every secret is the site's own: no shipped, placeholder or too-short value".into(),
        );
    }
    let mut c = ctx.checks();
    for p in problems {
        c.expect_about(false, &p.field, p.what);
    }
    c.verdict("")
}
