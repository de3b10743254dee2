//! Chapter 4, deployment and installation (§10–31).
//!
//! MANUAL rules and their levers:
//! - `1616-4.2` (§14–16, site firewalls between nodes): the lever is the node addressing (`gateway` must lie in the
//!   node's own subnet, or the traffic the site must allow cannot even be routed).
//! - `1616-4.4.b` (§18–21, licence upload): `pexip.licence.activation` (`online` fails).
//! - `1616-4.6.b` (§30, firmware password): `boot.firmware.admin-password`, `secure-boot`, `boot-order`.
//!
//! Lab-only relaxations: stand-in images (`1616-4.1.a`) and the published test secrets (`1616-4.6.e`) are WAIVED
//! in a lab profile and FAIL in a production one.

use crate::profile::model::{BootDevice, ImageRole, ImageSource, NodeRole, Reservation};
use crate::profile::net::AddressMode;

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::{judge_secrets, password_problems};

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-4.1.a"),
        paragraph: "§10",
        statement: "Pexip node images come from Pexip (download site or vendor support), never stand-ins",
        enforcement: Enforcement::Profile,
        how: "pexip.images[].source must be \"vendor\"",
        checklist: Some(Checklist::Integrity),
        check: images_from_vendor,
    },
    Rule {
        id: RuleId("1616-4.1.b"),
        paragraph: "§11, §13",
        statement: "Every node image's SHA-256 is checked against the vendor's README.TXT before use",
        enforcement: Enforcement::Generated,
        how: "forja build hashes each image while reading it and refuses a mismatch or a missing SHA-256 line",
        checklist: Some(Checklist::Integrity),
        check: images_verified,
    },
    Rule {
        id: RuleId("1616-4.2"),
        paragraph: "§14–16",
        statement: "Site firewalls and proxies let the Pexip nodes reach each other (docs.pexip.com port_usage)",
        enforcement: Enforcement::Manual,
        how: "On the site firewalls between the node addresses, allow the ports listed at https://docs.pexip.com/admin/port_usage.htm (at least IP protocol 50 and UDP/TCP 500 between nodes, HTTPS 443 to the Management Node from the admin networks).",
        checklist: None,
        check: nodes_routable,
    },
    Rule {
        id: RuleId("1616-4.3"),
        paragraph: "§17",
        statement: "The deployment has a Management Node and at least one transcoding Conferencing Node",
        enforcement: Enforcement::Profile,
        how: "checked on pexip.conferencing[].role",
        checklist: None,
        check: has_transcoding_node,
    },
    Rule {
        id: RuleId("1616-4.4.a"),
        paragraph: "§19",
        statement: "The Management Node is isolated: no internet route, no error reports or analytics sent out",
        enforcement: Enforcement::Profile,
        how: "pexip.licence.management-internet-access, pexip.management.error-reports and analytics must be false",
        checklist: Some(Checklist::Licences),
        check: management_isolated,
    },
    Rule {
        id: RuleId("1616-4.4.b"),
        paragraph: "§18–21",
        statement: "Licences are activated offline through Pexip support",
        enforcement: Enforcement::Manual,
        how: "On the Management Node: Platform > Licenses > Add license, tick offline activation and save the request; carry it (signed, hashed bundle) to a connected machine, get the response from Pexip support (§20) and upload it on the same page.",
        checklist: Some(Checklist::Licences),
        check: licence_offline,
    },
    Rule {
        id: RuleId("1616-4.5.a"),
        paragraph: "§22, §25",
        statement: "The KVM host is hardened: forja's minimal Debian host with no extra packages",
        enforcement: Enforcement::Generated,
        how: "forja build installs only its minimal host package set and its hardening overlays",
        checklist: None,
        check: host_minimal,
    },
    Rule {
        id: RuleId("1616-4.5.b"),
        paragraph: "§24",
        statement: "The host and every Pexip VM have a static IP address",
        enforcement: Enforcement::Profile,
        how: "addresses must be written as ADDRESS/PREFIX; \"dhcp\" is refused",
        checklist: None,
        check: static_addresses,
    },
    Rule {
        id: RuleId("1616-4.5.c"),
        paragraph: "§26",
        statement: "Two physical NICs separate host management from the Pexip VMs",
        enforcement: Enforcement::Generated,
        how: "forja names the NICs by MAC (systemd .link files) and binds host services to the management NIC only",
        checklist: None,
        check: two_nics,
    },
    Rule {
        id: RuleId("1616-4.5.d"),
        paragraph: "§26",
        statement: "The VM bridge carries no host address",
        enforcement: Enforcement::Generated,
        how: "forja writes the VM NIC as a bridge port and the bridge with no address, no DHCP and no IPv6 autoconf",
        checklist: None,
        check: vm_bridge_unaddressed,
    },
    Rule {
        id: RuleId("1616-4.5.e"),
        paragraph: "§27",
        statement: "Every Pexip VM gets reserved resources (pinned vCPUs, locked memory) within Pexip's sizing",
        enforcement: Enforcement::Generated,
        how: "forja writes libvirt domains with vCPU pinning and locked memory; the host checks capacity at first boot",
        checklist: None,
        check: resources_reserved,
    },
    Rule {
        id: RuleId("1616-4.5.f"),
        paragraph: "§28",
        statement: "No software is added to the Pexip VMs",
        enforcement: Enforcement::Profile,
        how: "pexip.extra-software must be empty",
        checklist: None,
        check: no_extra_software,
    },
    Rule {
        id: RuleId("1616-4.6.a"),
        paragraph: "§29",
        statement: "The Management Node is installed first, from a verified vendor image",
        enforcement: Enforcement::Generated,
        how: "forja's first boot defines and starts the Management Node before any Conferencing Node",
        checklist: None,
        check: management_image_present,
    },
    Rule {
        id: RuleId("1616-4.6.b"),
        paragraph: "§30",
        statement: "The firmware is locked: administrator password, Secure Boot, boot only from the installed disk",
        enforcement: Enforcement::Manual,
        how: "Set the BIOS/UEFI administrator password from the secrets file, enable Secure Boot (with the site's keys) and boot only from the installed disk: `forja firmware apply` sets it through the BMC (Redfish) and `forja firmware audit` checks it; what the BMC does not expose is done in the firmware setup, as firmware-plan.json says.",
        checklist: None,
        check: firmware_locked,
    },
    Rule {
        id: RuleId("1616-4.6.c"),
        paragraph: "§30",
        statement: "The host and the VMs boot only as configured (signed boot images with their command line inside, nothing to edit at boot; fixed VM boot order)",
        enforcement: Enforcement::Generated,
        how: "forja signs systemd-boot and each slot's unified kernel image with the site's db key; the kernel command line (with the root's dm-verity hash) is inside the signed image, systemd-boot's editor is off, and libvirt domains have a fixed boot order and no boot menu",
        checklist: None,
        check: bootloader_locked,
    },
    Rule {
        id: RuleId("1616-4.6.d"),
        paragraph: "§31",
        statement: "The installation wizard's web and console passwords follow the §52 policy",
        enforcement: Enforcement::Generated,
        how: "forja build checks the values and puts only their hashes into the wizard answers",
        checklist: Some(Checklist::Users),
        check: wizard_passwords,
    },
    Rule {
        id: RuleId("1616-4.6.e"),
        paragraph: "§31",
        statement: "No published or default passwords: the secrets file holds the site's own values",
        enforcement: Enforcement::Profile,
        how: "a secrets file marked test-values-only serves lab profiles only",
        checklist: Some(Checklist::Users),
        check: no_published_secrets,
    },
];

fn images_from_vendor(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let mut standins = 0;
    for (i, img) in ctx.p.pexip.images.iter().enumerate() {
        if img.source == ImageSource::StandIn {
            standins += 1;
            c.expect(
                ctx.lab(),
                &format!("pexip.images[{i}].source"),
                val(&img.source),
                "§10: a production profile installs images from Pexip: set source = \"vendor\" and point file at the vendor's OVA",
            );
        }
    }
    if c.failed() {
        return c.verdict("");
    }
    if standins > 0 {
        return Verdict::Waived(format!(
            "lab profile: {standins} stand-in image(s), never deployed"
        ));
    }
    c.verdict(format!("{} vendor image(s)", ctx.p.pexip.images.len()))
}

fn images_verified(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    for (i, img) in ctx.p.pexip.images.iter().enumerate() {
        c.expect(
            img.verify,
            &format!("pexip.images[{i}].verify"),
            img.verify,
            "§11: the image hash must be checked: remove the line or set verify = true",
        );
        c.expect(
            !img.readme.as_os_str().is_empty(),
            &format!("pexip.images[{i}].readme"),
            "\"\"",
            "§13: name the vendor's README.TXT that carries the SHA-256",
        );
    }
    c.verdict("every image is checked against its README.TXT")
}

fn nodes_routable(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let m = &ctx.p.pexip.management;
    if let AddressMode::Static(cidr) = m.address {
        c.expect(
            cidr.contains(m.gateway),
            "pexip.management.gateway",
            val(&m.gateway.to_string()),
            format!("the gateway must lie in {cidr}, or the nodes cannot reach each other through the site network"),
        );
    }
    for (i, n) in ctx.p.pexip.conferencing.iter().enumerate() {
        if let AddressMode::Static(cidr) = n.address {
            c.expect(
                cidr.contains(n.gateway),
                &format!("pexip.conferencing[{i}].gateway"),
                val(&n.gateway.to_string()),
                format!("the gateway must lie in {cidr}, or the node cannot reach the others"),
            );
        }
    }
    c.verdict("node gateways lie in their subnets")
}

fn has_transcoding_node(ctx: &Ctx) -> Verdict {
    let n = ctx
        .p
        .pexip
        .conferencing
        .iter()
        .filter(|n| n.role == NodeRole::Transcoding)
        .count();
    let mut c = ctx.checks();
    c.expect(
        n > 0,
        "pexip.conferencing",
        format!("{} node(s), none transcoding", ctx.p.pexip.conferencing.len()),
        "§17: add a [[pexip.conferencing]] node with role = \"transcoding\" (proxying nodes only forward to one)",
    );
    c.verdict(format!("{n} transcoding node(s)"))
}

fn management_isolated(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let p = &ctx.p.pexip;
    c.expect(
        !p.licence.management_internet_access,
        "pexip.licence.management-internet-access",
        true,
        "§19: isolate the Management Node: set it to false and activate licences offline",
    );
    c.expect(
        !p.management.error_reports,
        "pexip.management.error-reports",
        true,
        "§19: an isolated node sends nothing out: set it to false",
    );
    c.expect(
        !p.management.analytics,
        "pexip.management.analytics",
        true,
        "§19: an isolated node sends nothing out: set it to false",
    );
    c.verdict("no internet route, nothing sent out")
}

fn licence_offline(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let a = ctx.p.pexip.licence.activation;
    c.expect(
        a == crate::profile::model::Activation::Offline,
        "pexip.licence.activation",
        val(&a),
        "§19: an isolated Management Node activates licences offline: set activation = \"offline\"",
    );
    c.verdict("offline activation planned")
}

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
    let mut pinned = |field: &str, r: &Reservation| {
        c.expect(
            r.pinned,
            &format!("{field}.pinned"),
            r.pinned,
            "§27: VM resources are reserved: remove the line or set pinned = true",
        );
    };
    pinned(
        "pexip.management.reservation",
        &ctx.p.pexip.management.reservation,
    );
    for (i, n) in ctx.p.pexip.conferencing.iter().enumerate() {
        pinned(
            &format!("pexip.conferencing[{i}].reservation"),
            &n.reservation,
        );
    }
    let m = &ctx.p.pexip.management.reservation;
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
    for (i, n) in ctx.p.pexip.conferencing.iter().enumerate() {
        let r = &n.reservation;
        let f = format!("pexip.conferencing[{i}].reservation");
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
    c.verdict("every VM pinned and within Pexip's sizing")
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
    c.verdict("Management Node image present, installed first")
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
    if !s.test_values_only {
        return Verdict::Ok("the secrets file holds the site's own values".into());
    }
    if ctx.lab() {
        return Verdict::Waived(
            "lab profile: published test values (test-values-only = true), never deployed".into(),
        );
    }
    let mut c = ctx.checks();
    c.expect(
        false,
        "profile.secrets",
        val(&s.path.display().to_string()),
        "§31: this file holds published test values: point secrets at a file with the site's own values (mode 0600)",
    );
    c.verdict("")
}
