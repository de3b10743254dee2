//! The list resources (POSTed once, found again by their `key`): NTP and syslog servers, the break-in allow
//! list, meeting rooms, system locations and the Conferencing Nodes.
//!
//! Sources: pexip/go-infinity-sdk `config/ntp_server_model.go` (address, key_id, key: "stored as a SHA1 hash",
//! so never read back), `syslog_server_model.go` (transport `udp|tcp|tls`), `break_in_allow_list_address_model.go`
//! (allowlist_entry_type `user|proxy`), `conference_model.go`, `system_location_model.go` (ntp_servers and
//! syslog_servers as resource URIs: the Conferencing Nodes of a location take their time and log servers from
//! it), `worker_vm_model.go` (tls_certificate as a resource URI).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::singletons::{SNMP_WRITE_ONLY, ntp_refs, syslog_refs};
use super::{
    ALLOW_LIST, CONFERENCE, CertPlan, Entry, NTP_SERVER, SYSLOG_SERVER, Then, post, secret_ref,
};
use crate::pexip::nodes::{self, SYSTEM_LOCATION, WORKER_VM};
use crate::profile::Loaded;
use crate::profile::model::Transport;

pub fn time_and_logs(l: &Loaded) -> Vec<Entry> {
    let p = &l.profile.pexip;
    let mut out = Vec::new();
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
        out.push(
            post(
                NTP_SERVER,
                "address",
                Value::Object(b),
                &["1616-5.8.a", "1616-5.8.b"],
            )
            .write_only(&["key"]),
        );
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
    out
}

pub fn rooms_and_allow_list(l: &Loaded) -> Vec<Entry> {
    let p = &l.profile.pexip;
    let mut out = Vec::new();
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
        // PINs are read back (the provider reads `pin`/`guest_pin` from the API), so they are compared.
        out.push(post(
            CONFERENCE,
            "name",
            Value::Object(c),
            &["1616-5.15.b", "1616-5.15.c"],
        ));
    }
    out
}

/// One system location per location the profile's nodes name, carrying the NTP and syslog servers its nodes use.
pub fn locations(l: &Loaded) -> Vec<Entry> {
    let p = &l.profile.pexip;
    let names: BTreeSet<&str> = p.conferencing.iter().map(|n| n.location.as_str()).collect();
    names
        .into_iter()
        .map(|name| {
            post(
                SYSTEM_LOCATION,
                "name",
                json!({
                    "name": name,
                    "ntp_servers": ntp_refs(l),
                    "syslog_servers": syslog_refs(l),
                }),
                &["1616-4.3", "1616-5.8.c", "1616-5.13.a"],
            )
        })
        .collect()
}

pub fn nodes(l: &Loaded, certs: &CertPlan) -> anyhow::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for n in nodes::worker_vm_bodies(l)? {
        let mut body = n.body;
        let mut rules = vec![
            "1616-4.3",
            "1616-4.5.b",
            "1616-4.5.e",
            "1616-5.4.1.b",
            "1616-5.11.a",
            "1616-5.11.b",
        ];
        if let (Some(tls), Some(b)) = (certs.node_certificate(), body.as_object_mut()) {
            b.insert("tls_certificate".into(), tls);
            rules.push("1616-5.7.a");
        }
        let mut write_only = vec!["password"];
        write_only.extend(SNMP_WRITE_ONLY);
        let mut e = post(WORKER_VM, "name", body, &rules).write_only(&write_only);
        e.then = Some(Then {
            bootstrap: n.bootstrap_url,
            wait_for_sync_status: "SYNCED".into(),
        });
        out.push(e);
    }
    Ok(out)
}
