//! One test per rule of §57–107 and CCN-STIC-807 (protocols, certificates, time, updates, self-checks, SNMP,
//! logs, backups, conference security, operation, cryptography): a minimal change to a shipped profile makes
//! exactly that rule FAIL, naming the field.

#[macro_use]
#[path = "support/policy.rs"]
mod policy_support;

use forja::policy::{self, Status};
use forja::profile::model::*;
use policy_support::{assert_fails, ccn, lab, lab_secrets_with};

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
    a_csr_needs_a_ca_to_sign_it,
    ccn,
    "1616-5.7.d",
    "pexip.certificates.issuer",
    |l| l.profile.pexip.certificates.issuer = Issuer::SelfSigned
);
fails!(
    a_key_made_outside_pexip_needs_its_server_key,
    ccn,
    "1616-5.7.e",
    "pexip.certificates.server-key",
    |l| l.profile.pexip.certificates.server_certificate = Some("node.pem".parse().unwrap())
);

#[test]
fn certificate_steps_left_to_do_are_manual_until_the_ca_has_signed() {
    let r = policy::evaluate(&ccn());
    for id in ["1616-5.7.a", "1616-5.7.d", "1616-5.7.e"] {
        assert_eq!(r.get(id).unwrap().status, Status::Manual, "{id}");
    }
    // ECDSA P-384 is not a key the Management Node generates: the step is openssl (§69).
    assert!(
        r.get("1616-5.7.d")
            .unwrap()
            .reason
            .contains("ec_paramgen_curve:P-384 -sha384")
    );
    assert!(
        r.get("1616-5.7.e")
            .unwrap()
            .reason
            .contains("pexip.certificates.server-certificate")
    );
}

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
    host_chrony_requires_keys,
    ccn,
    "1616-5.8.d",
    "host.ntp[1].key",
    |l| l.profile.host.ntp[1].key = None
);
fails!(
    host_ntp_keys_are_installed_on_site,
    ccn,
    "1616-5.8.e",
    "host.ntp[2].key-id",
    |l| l.profile.host.ntp[2].key_id = Some(0)
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
    backups_never_upload_over_ftp,
    ccn,
    "1616-5.14.c",
    "pexip.backup.upload-url",
    |l| l.profile.pexip.backup.upload_url =
        Some("ftp://backup.sede.example/pexip/".parse().unwrap())
);

#[test]
fn sftp_and_ftps_uploads_leave_a_step_for_the_operator() {
    let mut l = ccn();
    for (url, says) in [
        (
            "ftps://backup.sede.example/pexip/",
            "record the accreditation's acceptance of FTPS",
        ),
        (
            "sftp://backup.sede.example/pexip/",
            "Confirm that this v25.4 Management Node accepts sftp://",
        ),
    ] {
        l.profile.pexip.backup.upload_url = Some(url.parse().unwrap());
        let r = policy::evaluate(&l);
        let r = r.get("1616-5.14.c").unwrap();
        assert_eq!(r.status, Status::Manual, "{url}");
        assert!(r.reason.contains(says), "{url}: {}", r.reason);
        assert!(r.reason.contains("finding-backup-upload-scheme"));
    }
}

fails!(
    management_node_vm_is_copied,
    ccn,
    "1616-5.14.d",
    "pexip.backup.management-snapshots",
    |l| l.profile.pexip.backup.management_snapshots = false
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
    break_in_thresholds_below_five_are_refused,
    ccn,
    "1616-5.15.e",
    "pexip.break-in.max-pin-failures",
    |l| l.profile.pexip.break_in.max_pin_failures = 3
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
    vmstore_passphrase_is_added_on_site,
    ccn,
    "1616-5.15.j",
    "storage.passphrase",
    |l| l.profile.storage.passphrase = None
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
    "807-tls-ldap",
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
    rejects_host_syslog_below_tls_1_2,
    ccn,
    "807-tls",
    "host.syslog.tls-min-version",
    |l| l.profile.host.syslog.as_mut().unwrap().tls_min_version = TlsVersion::V1_1
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
