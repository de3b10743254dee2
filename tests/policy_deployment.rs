//! One test per rule of chapter 4 (deployment and installation, §10–31): a minimal change to a shipped profile
//! makes exactly that rule FAIL, and the reason names the field (and, where it is written out, its file:line:col).

#[macro_use]
#[path = "support/policy.rs"]
mod policy_support;

use forja::policy::{self, Status};
use forja::profile::model::*;
use forja::profile::net::AddressMode;
use policy_support::{assert_fails, fail_reason, from_text, lab, lab_secrets_with};

// ---- Chapter 4: deployment and installation (§10–31) ----

fails!(
    stand_in_images_fail_a_production_profile,
    ccn,
    "1616-4.1.a",
    "pexip.images[0].source",
    |l| l.profile.pexip.images[0].source = ImageSource::StandIn
);

#[test]
fn stand_in_images_are_waived_in_the_lab() {
    let r = policy::evaluate(&lab());
    assert_eq!(r.get("1616-4.1.a").unwrap().status, Status::Waived);
}

fails!(
    image_hash_check_cannot_be_turned_off,
    lab,
    "1616-4.1.b",
    "pexip.images[0].verify",
    |l| l.profile.pexip.images[0].verify = false
);
fails!(
    node_gateway_must_lie_in_its_subnet,
    ccn,
    "1616-4.2",
    "pexip.conferencing[0].gateway",
    |l| l.profile.pexip.conferencing[0].gateway = "203.0.113.1".parse().unwrap()
);
fails!(
    deployment_needs_a_transcoding_node,
    ccn,
    "1616-4.3",
    "pexip.conferencing",
    |l| l
        .profile
        .pexip
        .conferencing
        .retain(|n| n.role == NodeRole::Proxying)
);
fails!(
    management_node_stays_off_the_internet,
    ccn,
    "1616-4.4.c",
    "pexip.licence.management-internet-access",
    |l| l.profile.pexip.licence.management_internet_access = true
);
fails!(
    management_node_sends_nothing_out,
    ccn,
    "1616-4.4.a",
    "pexip.management.error-reports",
    |l| l.profile.pexip.management.error_reports = true
);
fails!(
    licences_are_activated_offline,
    ccn,
    "1616-4.4.b",
    "pexip.licence.activation",
    |l| l.profile.pexip.licence.activation = Activation::Online
);
fails!(
    host_takes_no_extra_packages,
    ccn,
    "1616-4.5.a",
    "base.extra-packages",
    |l| l
        .profile
        .base
        .extra_packages
        .push("telnetd".parse().unwrap())
);

#[test]
fn rejects_dhcp_management_address() {
    let (_d, l) = from_text(
        "profiles/ccn-stic-1616.toml",
        "address = \"192.0.2.10/24\"",
        "address = \"dhcp\"",
    );
    let reason = fail_reason(&l, "1616-4.5.b");
    let expect = format!(
        "{}:68:11: network.management.address = \"dhcp\"",
        l.path.display()
    );
    assert!(reason.contains(&expect), "{reason}");
    assert!(reason.contains("static address"), "{reason}");
}

fails!(
    conferencing_nodes_need_static_addresses,
    ccn,
    "1616-4.5.b",
    "pexip.conferencing[1].address",
    |l| l.profile.pexip.conferencing[1].address = AddressMode::Dhcp
);
fails!(
    management_and_vm_nics_are_distinct,
    ccn,
    "1616-4.5.c",
    "network.vm.mac",
    |l| l.profile.network.vm.mac = l.profile.network.management.mac
);
fails!(
    vm_bridge_has_no_host_address,
    ccn,
    "1616-4.5.d",
    "network.vm.address",
    |l| l.profile.network.vm.address = Some("198.51.100.2/24".parse().unwrap())
);
fails!(
    vm_resources_are_pinned,
    ccn,
    "1616-4.5.e",
    "pexip.management.reservation.pinned",
    |l| l.profile.pexip.management.reservation.pinned = false
);
fails!(
    management_node_gets_pexip_minimum_sizing,
    ccn,
    "1616-4.5.e",
    "pexip.management.reservation.vcpus",
    |l| l.profile.pexip.management.reservation.vcpus = 2
);
fails!(
    vmstore_holds_every_vm_disk,
    ccn,
    "1616-4.5.g",
    "storage.vmstore-size",
    |l| l.profile.storage.vmstore_size = "100G".parse().unwrap()
);
fails!(
    no_extra_software_in_pexip_vms,
    ccn,
    "1616-4.5.f",
    "pexip.extra-software",
    |l| l.profile.pexip.extra_software.push("tcpdump".into())
);
fails!(
    management_node_image_is_required,
    ccn,
    "1616-4.6.a",
    "pexip.images",
    |l| l
        .profile
        .pexip
        .images
        .retain(|i| i.role != ImageRole::Management)
);
fails!(
    firmware_needs_an_admin_password,
    ccn,
    "1616-4.6.b",
    "boot.firmware.admin-password",
    |l| l.profile.boot.firmware.admin_password = None
);
fails!(
    boot_chain_needs_the_sites_keys,
    ccn,
    "1616-4.6.c",
    "boot.firmware.secure-boot-keys",
    |l| l.profile.boot.firmware.secure_boot_keys = None
);
fails!(
    secure_boot_without_keys_would_brick_the_host,
    ccn,
    "1616-4.6.b",
    "boot.firmware.secure-boot-keys",
    |l| l.profile.boot.firmware.secure_boot_keys = None
);

#[test]
fn wizard_passwords_follow_the_password_policy() {
    let reason = assert_fails(
        lab(),
        "1616-4.6.d",
        "pexip.management.web-admin-password",
        |l| {
            l.secrets = Some(lab_secrets_with("pexip-web-admin", "Abc1!xyz"));
        },
    );
    assert!(!reason.contains("Abc1!xyz"), "a secret leaked: {reason}");
    assert!(reason.contains("needs at least 12"), "{reason}");
}

fails!(
    production_refuses_published_test_secrets,
    ccn,
    "1616-4.6.e",
    "profile.secrets",
    |l| l.secrets = Some(lab_secrets_with("none", ""))
);

#[test]
fn lab_relaxations_are_waived_only_in_the_lab() {
    let r = policy::evaluate(&lab());
    for id in ["1616-4.1.a", "1616-4.6.e", "1616-5.15.i"] {
        assert_eq!(r.get(id).unwrap().status, Status::Waived, "{id}");
    }
}
