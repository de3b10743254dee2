//! One test per guide rule: a minimal change to a shipped profile makes exactly that rule FAIL, and the reason
//! names the field (and, where the field is written out, its file:line:col). The last test checks that every
//! rule id appears in this file, so a new rule cannot land without its lever being pulled here.

use std::collections::BTreeSet;
use std::path::Path;

use forja::policy::{self, Status};
use forja::profile::model::*;
use forja::profile::net::AddressMode;
use forja::profile::secrets::Secrets;
use forja::profile::{Loaded, SecretsNeed, load};

fn lab() -> Loaded {
    load(Path::new("profiles/lab.toml"), SecretsNeed::Required).unwrap()
}

/// The production profile, checked without its secrets file (as an auditor would).
fn ccn() -> Loaded {
    load(
        Path::new("profiles/ccn-stic-1616.toml"),
        SecretsNeed::IfPresent,
    )
    .unwrap()
}

/// The lab's test secrets with one value replaced.
fn lab_secrets_with(name: &str, value: &str) -> Secrets {
    let text = std::fs::read_to_string("profiles/lab.secrets.toml").unwrap();
    let v: toml::Table = toml::from_str(&text).unwrap();
    let mut pairs: Vec<(String, String)> = v["secrets"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    for p in &mut pairs {
        if p.0 == name {
            p.1 = value.to_owned();
        }
    }
    Secrets::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))
}

/// Asserts the rule passes (or is MANUAL/WAIVED) before the edit, FAILs after it, and the reason names `field`.
fn assert_fails(mut l: Loaded, id: &str, field: &str, edit: impl FnOnce(&mut Loaded)) -> String {
    let before = policy::evaluate(&l);
    assert_ne!(
        before.get(id).unwrap().status,
        Status::Fail,
        "{id} already fails"
    );
    edit(&mut l);
    let report = policy::evaluate(&l);
    let r = report.get(id).unwrap_or_else(|| panic!("no rule {id}"));
    assert_eq!(r.status, Status::Fail, "{id}: {}", r.reason);
    assert!(
        r.reason.contains(field),
        "{id}: reason does not name {field}: {}",
        r.reason
    );
    assert!(
        r.reason.contains(&l.path.display().to_string()),
        "{id}: reason does not name the file: {}",
        r.reason
    );
    r.reason.clone()
}

macro_rules! fails {
    ($name:ident, $base:ident, $id:literal, $field:literal, |$l:ident| $edit:expr) => {
        #[test]
        fn $name() {
            assert_fails($base(), $id, $field, |$l: &mut Loaded| {
                $edit;
            });
        }
    };
}

/// Rewrites a shipped profile's text, loads it from a temp folder (with the lab's secrets beside it).
fn from_text(base: &str, from: &str, to: &str) -> (tempfile::TempDir, Loaded) {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(base).unwrap();
    assert!(text.contains(from), "{from} not in {base}");
    let p = d.path().join(Path::new(base).file_name().unwrap());
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    let s = d.path().join("lab.secrets.toml");
    std::fs::copy("profiles/lab.secrets.toml", &s).unwrap();
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o600)).unwrap();
    let l = load(&p, SecretsNeed::IfPresent).unwrap();
    (d, l)
}

fn fail_reason(l: &Loaded, id: &str) -> String {
    let r = policy::evaluate(l);
    let r = r.get(id).unwrap();
    assert_eq!(r.status, Status::Fail, "{id}: {}", r.reason);
    r.reason.clone()
}

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
    "1616-4.4.a",
    "pexip.licence.management-internet-access",
    |l| l.profile.pexip.licence.management_internet_access = true
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
    bootloader_needs_a_password,
    ccn,
    "1616-4.6.c",
    "boot.bootloader-password",
    |l| l.profile.boot.bootloader_password = None
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

// ---- §32–35: secure mode (securitywizard) ----

fails!(
    fips_mode_is_enabled,
    ccn,
    "1616-5.1.a",
    "pexip.secure-mode.fips-140-2",
    |l| l.profile.pexip.secure_mode.fips_140_2 = false
);
fails!(
    system_admin_account_is_disabled,
    ccn,
    "1616-5.1.b",
    "pexip.secure-mode.disable-system-admin-account",
    |l| l.profile.pexip.secure_mode.disable_system_admin_account = false
);
fails!(
    icmpv6_redirects_are_refused,
    ccn,
    "1616-5.1.c",
    "pexip.secure-mode.accept-icmpv6-redirects",
    |l| l.profile.pexip.secure_mode.accept_icmpv6_redirects = true
);
fails!(
    closed_ports_drop_rather_than_reject,
    ccn,
    "1616-5.1.d",
    "pexip.secure-mode.drop-closed-ports",
    |l| l.profile.pexip.secure_mode.drop_closed_ports = false
);
fails!(
    multicast_icmpv6_echo_is_refused,
    ccn,
    "1616-5.1.e",
    "pexip.secure-mode.accept-multicast-icmpv6-echo",
    |l| l.profile.pexip.secure_mode.accept_multicast_icmpv6_echo = true
);
fails!(
    ipv6_duplicate_address_detection_is_off,
    ccn,
    "1616-5.1.f",
    "pexip.secure-mode.ipv6-dad",
    |l| l.profile.pexip.secure_mode.ipv6_dad = true
);
fails!(
    management_web_sessions_are_capped_at_100,
    ccn,
    "1616-5.1.g",
    "pexip.secure-mode.max-management-sessions",
    |l| l.profile.pexip.secure_mode.max_management_sessions = 500
);
fails!(
    per_user_web_sessions_are_capped_at_10,
    ccn,
    "1616-5.1.h",
    "pexip.secure-mode.max-per-user-sessions",
    |l| l.profile.pexip.secure_mode.max_per_user_sessions = 50
);

#[test]
fn rejects_tls_below_1_2() {
    let (_d, l) = from_text(
        "profiles/ccn-stic-1616.toml",
        "tls-min-version = \"1.2\"\nanonymous",
        "tls-min-version = \"1.0\"\nanonymous",
    );
    let reason = fail_reason(&l, "1616-5.1.i");
    assert!(
        reason.contains(&format!(
            "{}:157:19: pexip.secure-mode.tls-min-version = \"1.0\"",
            l.path.display()
        )),
        "{reason}"
    );
    assert!(fail_reason(&l, "807-tls").contains("pexip.secure-mode.tls-min-version"));
}

fails!(
    anonymous_dh_is_refused_for_outbound_sip,
    ccn,
    "1616-5.1.j",
    "pexip.secure-mode.anonymous-dh-outbound-sip",
    |l| l.profile.pexip.secure_mode.anonymous_dh_outbound_sip = true
);
fails!(
    rejects_inbound_https_below_tls_1_2,
    ccn,
    "1616-5.1.k",
    "pexip.secure-mode.inbound-https-tls-min-version",
    |l| l.profile.pexip.secure_mode.inbound_https_tls_min_version = TlsVersion::V1_1
);
fails!(
    full_intra_request_is_enabled,
    ccn,
    "1616-5.1.l",
    "pexip.secure-mode.fir",
    |l| l.profile.pexip.secure_mode.fir = false
);
fails!(
    aes128_sha_is_disabled,
    ccn,
    "1616-5.1.m",
    "pexip.secure-mode.aes128-sha",
    |l| l.profile.pexip.secure_mode.aes128_sha = true
);
fails!(
    aes128_sha_is_disabled_for_outbound_sip,
    ccn,
    "1616-5.1.n",
    "pexip.secure-mode.aes128-sha-outbound-sip",
    |l| l.profile.pexip.secure_mode.aes128_sha_outbound_sip = true
);
fails!(
    securitywizard_answers_cover_v25_4,
    ccn,
    "1616-5.1.o",
    "pexip.version",
    |l| l.profile.pexip.version = "26.0".parse().unwrap()
);

// ---- §36–56: authentication and administration ----

fails!(
    administrators_authenticate_against_ldap,
    ccn,
    "1616-5.2.a",
    "pexip.admin-auth.source",
    |l| l.profile.pexip.admin_auth.source = AuthSource::Local
);
fails!(
    client_certificates_need_their_ca,
    ccn,
    "1616-5.2.b",
    "pexip.certificates.ca-certificate",
    |l| {
        l.profile.pexip.admin_auth.client_certificate = ClientCertificate::Cn;
        l.profile.pexip.certificates.ca_certificate = None;
    }
);
fails!(
    conference_users_use_active_directory,
    ccn,
    "1616-5.2.c",
    "pexip.admin-auth.directory-integration",
    |l| l.profile.pexip.admin_auth.directory_integration = false
);
fails!(
    ldap_bind_account_is_read_only,
    ccn,
    "1616-5.3.a",
    "pexip.admin-auth.ldap.bind-account-read-only",
    |l| l
        .profile
        .pexip
        .admin_auth
        .ldap
        .as_mut()
        .unwrap()
        .bind_account_read_only = false
);
fails!(
    ldap_uses_starttls_on_port_389,
    ccn,
    "1616-5.3.b",
    "pexip.admin-auth.ldap.transport",
    |l| l.profile.pexip.admin_auth.ldap.as_mut().unwrap().transport = LdapTransport::Plain
);
fails!(
    ldap_insecure_transport_is_off,
    ccn,
    "1616-5.3.c",
    "pexip.admin-auth.ldap.allow-insecure-transport",
    |l| l
        .profile
        .pexip
        .admin_auth
        .ldap
        .as_mut()
        .unwrap()
        .allow_insecure_transport = true
);
fails!(
    host_ssh_takes_keys_only,
    ccn,
    "1616-5.4.1.a",
    "host.ssh.password-authentication",
    |l| {
        l.profile.host.ssh.enabled = true;
        l.profile.host.ssh.password_authentication = true;
        l.profile.host.ssh.authorized_keys = vec!["ssh-ed25519 AAAA admin".parse().unwrap()];
    }
);
fails!(
    node_ssh_is_disabled,
    ccn,
    "1616-5.4.1.b",
    "pexip.management.enable-ssh",
    |l| l.profile.pexip.management.enable_ssh = true
);
fails!(
    auth_source_is_ldap_and_local,
    ccn,
    "1616-5.4.2",
    "pexip.admin-auth.source",
    |l| l.profile.pexip.admin_auth.source = AuthSource::Ldap
);
fails!(
    login_banner_is_shown,
    ccn,
    "1616-5.4.3.a",
    "pexip.session.banner",
    |l| l.profile.pexip.session.banner = "  ".parse().unwrap()
);
fails!(
    web_sessions_time_out_after_5_minutes,
    ccn,
    "1616-5.4.3.b",
    "pexip.session.timeout-minutes",
    |l| l.profile.pexip.session.timeout_minutes = 30
);
fails!(
    password_policy_needs_12_characters,
    ccn,
    "1616-5.4.4.a",
    "host.password-policy.min-length",
    |l| l.profile.host.password_policy.min_length = 8
);

#[test]
fn chosen_passwords_follow_the_password_policy() {
    let reason = assert_fails(lab(), "1616-5.4.4.b", "boot.bootloader-password", |l| {
        l.secrets = Some(lab_secrets_with("grub-password", "grubgrubgrubgrub"));
    });
    assert!(
        !reason.contains("grubgrubgrubgrub"),
        "a secret leaked: {reason}"
    );
    assert!(reason.contains("character classes"), "{reason}");
}

#[test]
fn secret_rules_are_manual_without_the_secrets_file() {
    let r = policy::evaluate(&ccn());
    for id in ["1616-4.6.d", "1616-5.4.4.b", "1616-5.15.c", "1616-5.11.b"] {
        let r = r.get(id).unwrap();
        assert_eq!(r.status, Status::Manual, "{id}");
        assert_eq!(
            r.reason,
            "secrets file not available here; forja build checks the values"
        );
    }
}

fails!(
    firewall_is_not_opened_to_everyone,
    ccn,
    "1616-5.5.a",
    "network.management.admin-networks[1]",
    |l| l
        .profile
        .network
        .management
        .admin_networks
        .push("0.0.0.0/0".parse().unwrap())
);
fails!(
    http_access_for_external_systems_is_off,
    ccn,
    "1616-5.5.b",
    "pexip.management.http-access-for-external-systems",
    |l| l.profile.pexip.management.http_access_for_external_systems = true
);

// ---- §57–80: protocols, certificates, time, updates, self-checks ----

fails!(
    every_node_has_its_own_address,
    ccn,
    "1616-5.6.a",
    "pexip.conferencing[0].address",
    |l| l.profile.pexip.conferencing[0].address = l.profile.pexip.management.address
);
fails!(
    sip_tls_verification_is_required,
    ccn,
    "1616-5.6.b",
    "pexip.sip.tls-verify",
    |l| l.profile.pexip.sip.tls_verify = false
);
fails!(
    media_encryption_is_required,
    ccn,
    "1616-5.6.c",
    "pexip.sip.media-encryption",
    |l| l.profile.pexip.sip.media_encryption = MediaEncryption::BestEffort
);
fails!(
    self_signed_certificates_are_replaced,
    ccn,
    "1616-5.7.a",
    "pexip.certificates.issuer",
    |l| l.profile.pexip.certificates.issuer = Issuer::SelfSigned
);
fails!(
    ca_certificate_is_imported,
    ccn,
    "1616-5.7.b",
    "pexip.certificates.ca-certificate",
    |l| l.profile.pexip.certificates.ca_certificate = None
);
fails!(
    ocsp_checking_is_on,
    ccn,
    "1616-5.7.c",
    "pexip.sip.ocsp",
    |l| l.profile.pexip.sip.ocsp = Ocsp::Off
);
fails!(
    ntp_is_authenticated,
    ccn,
    "1616-5.8.a",
    "host.ntp[0].key-id",
    |l| l.profile.host.ntp[0].key_id = None
);
fails!(
    ntp_rejects_md5_keys,
    ccn,
    "1616-5.8.a",
    "host.ntp[2].key-type",
    |l| l.profile.host.ntp[2].key_type = Some(NtpKeyType::Md5)
);
fails!(
    ntp_uses_three_time_sources,
    ccn,
    "1616-5.8.b",
    "host.ntp",
    |l| l.profile.host.ntp.truncate(2)
);
fails!(
    nodes_use_the_hosts_time_sources,
    ccn,
    "1616-5.8.c",
    "pexip.management.ntp[0]",
    |l| l.profile.pexip.management.ntp[0] = "pool.ntp.org".parse().unwrap()
);
fails!(
    updates_are_checked_with_sha256,
    ccn,
    "1616-5.9",
    "operation.update-verification-hash",
    |l| l.profile.operation.update_verification_hash = HashAlg::Md5
);
fails!(
    config_self_check_runs_periodically,
    ccn,
    "1616-5.10",
    "host.self-check-minutes",
    |l| l.profile.host.self_check_minutes = 0
);

// ---- §81–105: SNMP, audit, backups, conference security ----

fails!(
    snmp_v2c_is_refused,
    ccn,
    "1616-5.11.a",
    "pexip.snmp.mode",
    |l| l.profile.pexip.snmp.mode = SnmpMode::V2c
);
fails!(
    snmpv3_needs_a_privacy_password,
    ccn,
    "1616-5.11.b",
    "pexip.snmp.privacy-password",
    |l| l.profile.pexip.snmp.privacy_password = None
);
fails!(
    logs_go_to_syslog_over_tls,
    ccn,
    "1616-5.13.a",
    "pexip.syslog[0].transport",
    |l| l.profile.pexip.syslog[0].transport = Transport::Udp
);
fails!(
    audit_support_and_web_logs_are_sent,
    ccn,
    "1616-5.13.b",
    "pexip.syslog[0].audit-log",
    |l| l.profile.pexip.syslog[0].audit_log = false
);
fails!(
    host_logs_go_to_syslog_over_tls,
    ccn,
    "1616-5.13.c",
    "host.syslog",
    |l| l.profile.host.syslog = None
);
fails!(
    backups_are_periodic,
    ccn,
    "1616-5.14.a",
    "pexip.backup.enabled",
    |l| l.profile.pexip.backup.enabled = false
);
fails!(
    backups_have_a_passphrase,
    ccn,
    "1616-5.14.b",
    "pexip.backup.passphrase",
    |l| l.profile.pexip.backup.passphrase = None
);
fails!(
    backups_upload_over_sftp_only,
    ccn,
    "1616-5.14.c",
    "pexip.backup.upload-url",
    |l| l.profile.pexip.backup.upload_url =
        Some("ftps://backup.sede.example/pexip/".parse().unwrap())
);
fails!(
    rejects_pins_shorter_than_six_digits,
    ccn,
    "1616-5.15.a",
    "pexip.vmr.min-pin-length",
    |l| l.profile.pexip.vmr.min_pin_length = 4
);
fails!(
    guests_need_a_pin,
    ccn,
    "1616-5.15.b",
    "pexip.vmr.rooms[0].guest-pin",
    |l| l.profile.pexip.vmr.rooms[0].guest_pin = None
);

#[test]
fn rejects_a_four_digit_pin() {
    let reason = assert_fails(lab(), "1616-5.15.c", "pexip.vmr.rooms[0].host-pin", |l| {
        l.secrets = Some(lab_secrets_with("vmr-direccion-host", "4829"));
    });
    assert!(!reason.contains("4829"), "a secret leaked: {reason}");
    assert!(reason.contains("has 4 digits"), "{reason}");
}

#[test]
fn host_and_guest_pins_differ() {
    assert_fails(lab(), "1616-5.15.c", "pexip.vmr.rooms[0].guest-pin", |l| {
        l.secrets = Some(lab_secrets_with("vmr-direccion-guest", "482915"));
    });
}

fails!(
    rooms_are_locked_until_a_host_joins,
    ccn,
    "1616-5.15.d",
    "pexip.vmr.rooms[0].locked",
    |l| l.profile.pexip.vmr.rooms[0].locked = false
);
fails!(
    pin_brute_force_resistance_is_on,
    ccn,
    "1616-5.15.e",
    "pexip.break-in.pin-checks",
    |l| l.profile.pexip.break_in.pin_checks = false
);
fails!(
    voip_scanner_protection_is_on,
    ccn,
    "1616-5.15.f",
    "pexip.break-in.max-scan-attempts",
    |l| l.profile.pexip.break_in.max_scan_attempts = 1000
);
fails!(
    allow_list_names_narrow_networks,
    ccn,
    "1616-5.15.g",
    "pexip.break-in.allow-list[0].network",
    |l| l.profile.pexip.break_in.allow_list[0].network = "10.0.0.0/8".parse().unwrap()
);
fails!(
    vm_storage_is_encrypted,
    ccn,
    "1616-5.15.h",
    "storage.encrypted",
    |l| l.profile.storage.encrypted = false
);
fails!(
    test_only_kdf_cost_fails_in_production,
    ccn,
    "1616-5.15.i",
    "storage.kdf-cost",
    |l| l.profile.storage.kdf_cost = KdfCost::TestOnly
);

#[test]
fn test_only_kdf_cost_is_waived_in_the_lab() {
    let r = policy::evaluate(&lab());
    assert_eq!(r.get("1616-5.15.i").unwrap().status, Status::Waived);
    assert_eq!(r.get("1616-4.6.e").unwrap().status, Status::Waived);
}

// ---- Chapter 6: operation (§106–107) ----

fails!(
    security_updates_need_a_cadence,
    ccn,
    "1616-6.a",
    "operation.security-updates",
    |l| l.profile.operation.security_updates = Cadence::Never
);
fails!(
    audit_logs_are_reviewed,
    ccn,
    "1616-6.b",
    "operation.audit-log-review",
    |l| l.profile.operation.audit_log_review = Cadence::Never
);
fails!(
    certificates_are_renewed_before_expiry,
    ccn,
    "1616-6.c",
    "pexip.certificates.renew-before-days",
    |l| l.profile.pexip.certificates.renew_before_days = 0
);
fails!(
    backups_are_kept_off_the_node,
    ccn,
    "1616-6.d",
    "pexip.backup.upload-url",
    |l| l.profile.pexip.backup.upload_url = None
);
fails!(
    vm_resource_use_is_reviewed,
    ccn,
    "1616-6.e",
    "operation.resource-review",
    |l| l.profile.operation.resource_review = Cadence::Never
);
fails!(
    security_bulletins_are_read,
    ccn,
    "1616-6.f",
    "operation.bulletin-review",
    |l| l.profile.operation.bulletin_review = Cadence::Never
);

// ---- CCN-STIC-807 ----

fails!(
    rejects_ldap_below_tls_1_2,
    ccn,
    "807-tls",
    "pexip.admin-auth.ldap.tls-min-version",
    |l| l
        .profile
        .pexip
        .admin_auth
        .ldap
        .as_mut()
        .unwrap()
        .tls_min_version = TlsVersion::V1_1
);
fails!(
    rejects_2048_bit_rsa_certificates,
    ccn,
    "807-rsa",
    "pexip.certificates.key-size",
    |l| {
        l.profile.pexip.certificates.key_type = KeyType::Rsa;
        l.profile.pexip.certificates.key_size = 2048;
    }
);
fails!(
    ecdsa_uses_p256_or_p384,
    ccn,
    "807-ecdsa",
    "pexip.certificates.key-size",
    |l| l.profile.pexip.certificates.key_size = 224
);
fails!(
    rejects_sha1_signatures,
    ccn,
    "807-hash",
    "pexip.certificates.signature-hash",
    |l| l.profile.pexip.certificates.signature_hash = HashAlg::Sha1
);
fails!(
    rejects_dh_group_14,
    ccn,
    "807-dh",
    "pexip.sip.dh-groups[3]",
    |l| l.profile.pexip.sip.dh_groups.push(14)
);
fails!(
    rejects_weak_ssh_key_exchange,
    ccn,
    "807-ssh",
    "host.ssh.kex[0]",
    |l| l.profile.host.ssh.kex = vec!["diffie-hellman-group1-sha1".parse().unwrap()]
);

// ---- the table itself ----

#[test]
fn every_rule_has_a_failing_test_here() {
    let me = include_str!("policy_rules.rs");
    let missing: Vec<&str> = policy::rules::all()
        .map(|r| r.id.0)
        .filter(|id| !me.contains(&format!("\"{id}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a lever test: {missing:?}"
    );
}

#[test]
fn rule_ids_are_unique_and_well_formed() {
    let mut seen = BTreeSet::new();
    for r in policy::rules::all() {
        assert!(seen.insert(r.id.0), "duplicate id {}", r.id);
        assert!(
            r.id.0.starts_with("1616-") || r.id.0.starts_with("807-"),
            "{}",
            r.id
        );
        assert!(r.paragraph.starts_with('§'), "{}: {}", r.id, r.paragraph);
        assert!(!r.statement.is_empty() && !r.how.is_empty(), "{}", r.id);
    }
    assert!(seen.len() >= 40, "{} rules", seen.len());
    // §34: each of the fourteen securitywizard answers is its own rule.
    let wizard = policy::rules::all()
        .filter(|r| r.paragraph == "§34")
        .count();
    assert_eq!(wizard, 14);
}
