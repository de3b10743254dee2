//! The singleton resources (always object 1, PATCHed): `global`, `authentication`, `management_vm`,
//! `autobackup`. One entry per group of rules, so `forja pexip audit` names exactly the rules a changed field
//! breaks.
//!
//! Sources (field names and value sets): pexip/go-infinity-sdk `config/global_configuration_model.go`,
//! `authentication_model.go`, `management_vm_model.go`, `autobackup_model.go`; pexip/terraform-provider-pexip
//! `resource_infinity_global_configuration.go` (crypto_mode `besteffort|on|off`, sip_tls_cert_verify_mode
//! `OFF|ON`, ocsp_state `OFF|ON|OVERRIDE`, bdpm windows 5..200, management_session_timeout 5..1440),
//! `resource_infinity_authentication.go` (source, client_certificate `NO|CN|UPN`), `resource_infinity_management_vm.go`
//! (enable_ssh `GLOBAL|OFF|ON`, snmp_mode `DISABLED|STANDARD|AUTHPRIV`, ntp_servers/syslog_servers as resource
//! URIs). `legacy_api_http` is GUESS (see `policy::rules::session`).

use serde_json::{Map, Value, json};

use super::{
    AUTHENTICATION, AUTOBACKUP, CertPlan, Entry, GLOBAL, MANAGEMENT_VM, NTP_SERVER, SYSLOG_SERVER,
    patch, secret_ref, uri_where,
};
use crate::pexip::nodes::snmp_fields;
use crate::profile::Loaded;
use crate::profile::model::{AuthSource, ClientCertificate, MediaEncryption, Ocsp};

/// SNMP passwords: the provider keeps them from its own state, the API does not return them.
pub const SNMP_WRITE_ONLY: [&str; 2] = ["snmp_authentication_password", "snmp_privacy_password"];

pub fn global(l: &Loaded) -> Vec<Entry> {
    let p = &l.profile.pexip;
    let mut ocsp = Map::new();
    ocsp.insert(
        "ocsp_state".into(),
        json!(match p.sip.ocsp {
            Ocsp::On => "ON",
            Ocsp::Off => "OFF",
            Ocsp::Override => "OVERRIDE",
        }),
    );
    if let Some(url) = &p.sip.ocsp_responder_url {
        ocsp.insert("ocsp_responder_url".into(), json!(url));
    }
    vec![
        patch(
            GLOBAL,
            json!({
                "session_timeout_enabled": true,
                "management_session_timeout": p.session.timeout_minutes,
                "logon_banner": p.session.banner.trim_end(),
            }),
            &["1616-5.4.3.a", "1616-5.4.3.b"],
        ),
        patch(
            GLOBAL,
            json!({ "enable_ssh": p.management.enable_ssh }),
            &["1616-5.4.1.b"],
        ),
        patch(
            GLOBAL,
            json!({ "legacy_api_http": p.management.http_access_for_external_systems }),
            &["1616-5.5.b"],
        ),
        patch(
            GLOBAL,
            json!({
                "error_reporting_enabled": p.management.error_reports,
                "enable_analytics": p.management.analytics,
            }),
            &["1616-4.4.a"],
        ),
        patch(
            GLOBAL,
            json!({ "sip_tls_cert_verify_mode": if p.sip.tls_verify { "ON" } else { "OFF" } }),
            &["1616-5.6.b"],
        ),
        patch(
            GLOBAL,
            json!({ "crypto_mode": match p.sip.media_encryption {
                MediaEncryption::Required => "on",
                MediaEncryption::BestEffort => "besteffort",
                MediaEncryption::Off => "off",
            } }),
            &["1616-5.6.c"],
        ),
        patch(GLOBAL, Value::Object(ocsp), &["1616-5.7.c"]),
        patch(
            GLOBAL,
            json!({ "min_pin_length": p.vmr.min_pin_length }),
            &["1616-5.15.a"],
        ),
        patch(
            GLOBAL,
            json!({
                "bdpm_pin_checks_enabled": p.break_in.pin_checks,
                "bdpm_max_pin_failures_per_window": p.break_in.max_pin_failures,
            }),
            &["1616-5.15.e"],
        ),
        patch(
            GLOBAL,
            json!({
                "bdpm_scan_quarantine_enabled": p.break_in.scanner_protection,
                "bdpm_max_scan_attempts_per_window": p.break_in.max_scan_attempts,
            }),
            &["1616-5.15.f"],
        ),
    ]
}

pub fn authentication(l: &Loaded) -> Vec<Entry> {
    let auth = &l.profile.pexip.admin_auth;
    let source = match auth.source {
        AuthSource::Local => "LOCAL",
        AuthSource::Ldap => "LDAP",
        AuthSource::LdapAndLocal => "LDAP+LOCAL",
    };
    let client = match auth.client_certificate {
        ClientCertificate::NotRequired => "NO",
        ClientCertificate::Cn => "CN",
        ClientCertificate::Upn => "UPN",
    };
    let mut out = vec![
        patch(
            AUTHENTICATION,
            json!({ "source": source }),
            &["1616-5.2.a", "1616-5.4.2"],
        ),
        patch(
            AUTHENTICATION,
            json!({ "client_certificate": client }),
            &["1616-5.2.b"],
        ),
    ];
    if let Some(ldap) = &auth.ldap {
        out.push(
            patch(
                AUTHENTICATION,
                json!({
                    "ldap_server": ldap.server,
                    "ldap_base_dn": ldap.base_dn,
                    "ldap_bind_username": ldap.bind_user,
                    "ldap_bind_password": secret_ref(ldap.bind_password.name()),
                }),
                &["1616-5.2.a"],
            )
            .write_only(&["ldap_bind_password"]),
        );
        out.push(patch(
            AUTHENTICATION,
            json!({ "ldap_permit_no_tls": ldap.allow_insecure_transport }),
            &["1616-5.3.b", "1616-5.3.c"],
        ));
        // The global catalog listens on 3268 (3269 with TLS): off, Pexip uses LDAP on 389 with StartTLS (§41).
        out.push(patch(
            AUTHENTICATION,
            json!({ "ldap_use_global_catalog": false }),
            &["1616-5.3.b"],
        ));
    }
    out
}

/// The Management Node: SSH, SNMP, where its time and logs come from and go to (§73, §89, §91), its
/// certificate (§67).
pub fn management_vm(l: &Loaded, certs: &CertPlan) -> Vec<Entry> {
    let p = &l.profile.pexip;
    let mut out = vec![
        patch(
            MANAGEMENT_VM,
            json!({ "enable_ssh": if p.management.enable_ssh { "ON" } else { "OFF" } }),
            &["1616-5.4.1.b"],
        ),
        patch(
            MANAGEMENT_VM,
            Value::Object(snmp_fields(l)),
            &["1616-5.11.a", "1616-5.11.b"],
        )
        .write_only(&SNMP_WRITE_ONLY),
        patch(
            MANAGEMENT_VM,
            json!({ "ntp_servers": ntp_refs(l) }),
            &["1616-5.8.c"],
        ),
        patch(
            MANAGEMENT_VM,
            json!({ "syslog_servers": syslog_refs(l) }),
            &["1616-5.13.a"],
        ),
    ];
    if let Some(tls) = certs.node_certificate() {
        out.push(patch(
            MANAGEMENT_VM,
            json!({ "tls_certificate": tls }),
            &["1616-5.7.a"],
        ));
    }
    out
}

/// References to the Management Node's NTP servers, as `management_vm` and `system_location` take them.
pub fn ntp_refs(l: &Loaded) -> Value {
    Value::Array(
        l.profile
            .pexip
            .management
            .ntp
            .iter()
            .map(|a| uri_where(NTP_SERVER, "address", a))
            .collect(),
    )
}

/// References to the Pexip syslog servers.
pub fn syslog_refs(l: &Loaded) -> Value {
    Value::Array(
        l.profile
            .pexip
            .syslog
            .iter()
            .map(|s| uri_where(SYSLOG_SERVER, "address", &s.address))
            .collect(),
    )
}

/// Backups (§92–95): enabling and the passphrase together (a write-only field travels with a change of its
/// entry), the upload apart, so a changed URL names its own rule.
pub fn autobackup(l: &Loaded) -> Vec<Entry> {
    let b = &l.profile.pexip.backup;
    let mut on = Map::new();
    on.insert("autobackup_enabled".into(), json!(b.enabled));
    if let Some(r) = &b.passphrase {
        on.insert("autobackup_passphrase".into(), secret_ref(r.name()));
    }
    // The provider calls both secrets write-only ("carry the value from plan/state").
    let mut out = vec![
        patch(
            AUTOBACKUP,
            Value::Object(on),
            &["1616-5.14.a", "1616-5.14.b"],
        )
        .write_only(&["autobackup_passphrase"]),
    ];
    if let Some(u) = &b.upload_url {
        let mut up = Map::new();
        up.insert("autobackup_upload_url".into(), json!(u));
        if let Some(u) = &b.upload_username {
            up.insert("autobackup_upload_username".into(), json!(u));
        }
        if let Some(r) = &b.upload_password {
            up.insert("autobackup_upload_password".into(), secret_ref(r.name()));
        }
        out.push(
            patch(AUTOBACKUP, Value::Object(up), &["1616-5.14.c"])
                .write_only(&["autobackup_upload_password"]),
        );
    }
    out
}
