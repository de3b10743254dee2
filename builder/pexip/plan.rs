//! The guide's Management Node configuration as an ordered list of REST requests (the "plan"), each naming the
//! guide rules it satisfies.
//!
//! Each entry is `{"method", "path", "body", "rules"}` plus, for list resources, `key` (the field that identifies
//! an existing object: `address` or `name`) and, for nodes, `then` (the node bootstrap that follows the POST).
//! Paths are relative to `https://<manager>/api/admin/`. Secrets appear as `{"secret": NAME}` and are resolved
//! only by `apply`; a printed plan holds no secret value.
//!
//! Each entry's `rules` are ids of the policy table ([`crate::policy::rules`]): the rules whose setting the
//! request writes. Rules the plan cannot write (§56 HTTP access for external systems, §101 room locking) are
//! cited nowhere here; `tests/rule_refs.rs` checks that every id cited exists in the policy table.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::nodes::{self, SYSTEM_LOCATION, WORKER_VM, secret_ref, snmp_fields};
use crate::profile::Loaded;
use crate::profile::model::{ClientCertificate, MediaEncryption, Ocsp, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    #[serde(rename = "PATCH")]
    Patch,
    #[serde(rename = "POST")]
    Post,
}

/// What follows a node's registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Then {
    /// The node's bootstrap endpoint; the deployment file returned by the POST goes there as `text/xml`.
    pub bootstrap: String,
    /// Poll `status/v1/worker_vm/<id>/` until `sync_status` is this value.
    pub wait_for_sync_status: String,
}

/// One request of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub method: Method,
    pub path: String,
    pub body: Value,
    pub rules: Vec<String>,
    /// For POSTs to list resources: the body field that identifies an existing object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Then>,
}

fn patch(path: &str, body: Value, rules: &[&str]) -> Entry {
    Entry {
        method: Method::Patch,
        path: path.into(),
        body,
        rules: rules.iter().map(|s| s.to_string()).collect(),
        key: None,
        then: None,
    }
}

fn post(path: &str, key: &str, body: Value, rules: &[&str]) -> Entry {
    Entry {
        method: Method::Post,
        path: path.into(),
        body,
        rules: rules.iter().map(|s| s.to_string()).collect(),
        key: Some(key.into()),
        then: None,
    }
}

pub const GLOBAL: &str = "configuration/v1/global/1/";
pub const AUTHENTICATION: &str = "configuration/v1/authentication/1/";
/// GUESS: the Management Node is object 1 of `management_vm` (true on a single-manager deployment).
pub const MANAGEMENT_VM: &str = "configuration/v1/management_vm/1/";
pub const NTP_SERVER: &str = "configuration/v1/ntp_server/";
pub const SYSLOG_SERVER: &str = "configuration/v1/syslog_server/";
pub const AUTOBACKUP: &str = "configuration/v1/autobackup/1/";
pub const ALLOW_LIST: &str = "configuration/v1/break_in_allow_list_address/";
pub const CONFERENCE: &str = "configuration/v1/conference/";

/// The plan for a loaded profile, in the order it is applied.
pub fn plan(l: &Loaded) -> anyhow::Result<Vec<Entry>> {
    let p = &l.profile.pexip;
    let mut out = Vec::new();

    out.push(patch(
        GLOBAL,
        json!({
            "session_timeout_enabled": true,
            "management_session_timeout": p.session.timeout_minutes,
            "logon_banner": p.session.banner.trim_end(),
        }),
        &["1616-5.4.3.a", "1616-5.4.3.b"],
    ));
    out.push(patch(
        GLOBAL,
        json!({ "enable_ssh": p.management.enable_ssh }),
        &["1616-5.4.1.b"],
    ));
    out.push(patch(
        GLOBAL,
        json!({
            "sip_tls_cert_verify_mode": if p.sip.tls_verify { "ON" } else { "OFF" },
            "crypto_mode": match p.sip.media_encryption {
                MediaEncryption::Required => "on",
                MediaEncryption::BestEffort => "besteffort",
                MediaEncryption::Off => "off",
            },
        }),
        &["1616-5.6.b", "1616-5.6.c"],
    ));
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
    out.push(patch(GLOBAL, Value::Object(ocsp), &["1616-5.7.c"]));
    out.push(patch(
        GLOBAL,
        json!({ "min_pin_length": p.vmr.min_pin_length }),
        &["1616-5.15.a"],
    ));
    out.push(patch(
        GLOBAL,
        json!({
            "bdpm_pin_checks_enabled": p.break_in.pin_checks,
            "bdpm_scan_quarantine_enabled": p.break_in.scanner_protection,
            "bdpm_max_pin_failures_per_window": p.break_in.max_pin_failures,
            "bdpm_max_scan_attempts_per_window": p.break_in.max_scan_attempts,
        }),
        &["1616-5.15.e", "1616-5.15.f"],
    ));

    let auth = &p.admin_auth;
    let mut a = Map::new();
    a.insert(
        "source".into(),
        json!(match auth.source {
            crate::profile::model::AuthSource::Local => "LOCAL",
            crate::profile::model::AuthSource::Ldap => "LDAP",
            crate::profile::model::AuthSource::LdapAndLocal => "LDAP+LOCAL",
        }),
    );
    a.insert(
        "client_certificate".into(),
        json!(match auth.client_certificate {
            ClientCertificate::NotRequired => "NO",
            ClientCertificate::Cn => "CN",
            ClientCertificate::Upn => "UPN",
        }),
    );
    let auth_rules: &[&str] = if auth.ldap.is_some() {
        &[
            "1616-5.2.a",
            "1616-5.2.b",
            "1616-5.3.b",
            "1616-5.3.c",
            "1616-5.4.2",
        ]
    } else {
        &["1616-5.2.b", "1616-5.4.2"]
    };
    if let Some(ldap) = &auth.ldap {
        a.insert("ldap_server".into(), json!(ldap.server));
        a.insert("ldap_base_dn".into(), json!(ldap.base_dn));
        a.insert("ldap_bind_username".into(), json!(ldap.bind_user));
        a.insert(
            "ldap_bind_password".into(),
            secret_ref(ldap.bind_password.name()),
        );
        a.insert(
            "ldap_permit_no_tls".into(),
            json!(ldap.allow_insecure_transport),
        );
    }
    out.push(patch(AUTHENTICATION, Value::Object(a), auth_rules));

    let mut mgr = Map::new();
    mgr.insert(
        "enable_ssh".into(),
        json!(if p.management.enable_ssh { "ON" } else { "OFF" }),
    );
    mgr.extend(snmp_fields(l));
    out.push(patch(
        MANAGEMENT_VM,
        Value::Object(mgr),
        &["1616-5.4.1.b", "1616-5.11.a", "1616-5.11.b"],
    ));

    for address in &p.management.ntp {
        let mut b = Map::new();
        b.insert("address".into(), json!(address));
        if let Some(ntp) = l.profile.host.ntp.iter().find(|n| &n.address == address) {
            if let Some(id) = ntp.key_id {
                b.insert("key_id".into(), json!(id));
            }
            if let Some(k) = &ntp.key {
                b.insert("key".into(), secret_ref(k.name()));
            }
        }
        out.push(post(
            NTP_SERVER,
            "address",
            Value::Object(b),
            &["1616-5.8.a", "1616-5.8.c"],
        ));
    }

    for s in &p.syslog {
        out.push(post(
            SYSLOG_SERVER,
            "address",
            json!({
                "address": s.address,
                "port": s.port,
                "transport": match s.transport {
                    Transport::Udp => "udp",
                    Transport::Tcp => "tcp",
                    Transport::Tls => "tls",
                },
                "audit_log": s.audit_log,
                "support_log": s.support_log,
                "web_log": s.web_log,
            }),
            &["1616-5.13.a", "1616-5.13.b"],
        ));
    }

    let b = &p.backup;
    let mut bk = Map::new();
    bk.insert("autobackup_enabled".into(), json!(b.enabled));
    if let Some(r) = &b.passphrase {
        bk.insert("autobackup_passphrase".into(), secret_ref(r.name()));
    }
    if let Some(u) = &b.upload_url {
        bk.insert("autobackup_upload_url".into(), json!(u));
    }
    if let Some(u) = &b.upload_username {
        bk.insert("autobackup_upload_username".into(), json!(u));
    }
    if let Some(r) = &b.upload_password {
        bk.insert("autobackup_upload_password".into(), secret_ref(r.name()));
    }
    out.push(patch(
        AUTOBACKUP,
        Value::Object(bk),
        &["1616-5.14.a", "1616-5.14.b", "1616-5.14.c"],
    ));

    for e in &p.break_in.allow_list {
        out.push(post(
            ALLOW_LIST,
            "name",
            json!({
                "name": e.name,
                "address": e.network.addr.to_string(),
                "prefix": e.network.prefix,
                "allowlist_entry_type": "user",
            }),
            &["1616-5.15.g"],
        ));
    }

    for room in &p.vmr.rooms {
        let mut c = Map::new();
        c.insert("name".into(), json!(room.name));
        if let Some(r) = &room.host_pin {
            c.insert("pin".into(), secret_ref(r.name()));
        }
        if let Some(r) = &room.guest_pin {
            c.insert("guest_pin".into(), secret_ref(r.name()));
        }
        c.insert("allow_guests".into(), json!(room.allow_guests));
        out.push(post(
            CONFERENCE,
            "name",
            Value::Object(c),
            &["1616-5.15.b", "1616-5.15.c"],
        ));
    }

    let locations: BTreeSet<&str> = p.conferencing.iter().map(|n| n.location.as_str()).collect();
    for loc in locations {
        out.push(post(
            SYSTEM_LOCATION,
            "name",
            json!({ "name": loc }),
            &["1616-4.3"],
        ));
    }
    for n in nodes::worker_vm_bodies(l)? {
        let mut e = post(
            WORKER_VM,
            "name",
            n.body,
            &[
                "1616-4.3",
                "1616-4.5.b",
                "1616-4.5.e",
                "1616-5.4.1.b",
                "1616-5.4.4.b",
                "1616-5.11.a",
                "1616-5.11.b",
            ],
        );
        e.then = Some(Then {
            bootstrap: n.bootstrap_url,
            wait_for_sync_status: "SYNCED".into(),
        });
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn securitywizard_rules_are_the_policy_rows_in_order() {
        let m: crate::profile::model::SecureMode = toml::from_str(
            "fips-140-2 = true\ndisable-system-admin-account = true\naccept-icmpv6-redirects = false\n\
             drop-closed-ports = true\naccept-multicast-icmpv6-echo = false\nipv6-dad = false\n\
             max-management-sessions = 100\nmax-per-user-sessions = 10\ntls-min-version = \"1.2\"\n\
             anonymous-dh-outbound-sip = false\ninbound-https-tls-min-version = \"1.2\"\nfir = true\n\
             aes128-sha = false\naes128-sha-outbound-sip = false\n",
        )
        .unwrap();
        let rows = super::super::sheets::securitywizard_answers(&m);
        let ids: Vec<&str> = rows.iter().map(|q| q.rule).collect();
        // The policy's §34 rows: every `1616-5.1.<letter>` that is a securitywizard question.
        let table: Vec<&str> = crate::policy::rules::all()
            .filter(|r| {
                r.id.0.starts_with("1616-5.1.") && r.statement.starts_with("securitywizard:")
            })
            .map(|r| r.id.0)
            .collect();
        assert_eq!(ids, table);
        assert!(rows.iter().all(|q| q.answer == q.guide));
    }
}
