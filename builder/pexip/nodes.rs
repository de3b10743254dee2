//! Conferencing and proxying nodes: the `worker_vm` request body per node (PEXIP.md, from Pexip's Terraform
//! provider) and where its deployment file goes afterwards.
//!
//! The body's `password` is a `{"secret": NAME}` reference and `system_location` a `{"uri_of": ...}` reference:
//! `apply` resolves both (the location's `resource_uri` is known only once it exists on the manager).
//! The response to the POST is the node's XML deployment file; `apply` sends it to
//! `https://<node>:8443/configuration/bootstrap` as `text/xml` and waits for `sync_status == "SYNCED"`.

use serde_json::{Value, json};

use super::plan::{secret_ref, uri_where};
use crate::error::{Exit, fail};
use crate::profile::model::{NodeRole, SnmpMode};
use crate::profile::net::AddressMode;
use crate::profile::{FieldPath, Loaded};

pub const WORKER_VM: &str = "configuration/v1/worker_vm/";
pub const SYSTEM_LOCATION: &str = "configuration/v1/system_location/";
pub const BOOTSTRAP_PORT: u16 = 8443;
pub const BOOTSTRAP_PATH: &str = "/configuration/bootstrap";

/// One node's registration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeRequest {
    pub name: String,
    /// Where the deployment file is POSTed (the node's own address).
    pub bootstrap_url: String,
    pub body: Value,
}

/// `hostname.domain` of the Management Node, then of every Conferencing Node: the names its certificate covers.
pub fn node_names(l: &Loaded) -> Vec<String> {
    let p = &l.profile.pexip;
    std::iter::once(format!("{}.{}", p.management.hostname, p.management.domain))
        .chain(
            p.conferencing
                .iter()
                .map(|n| format!("{}.{}", n.hostname, p.management.domain)),
        )
        .collect()
}

/// SNMP fields for a node body (§81–83); shared with `management_vm`.
pub fn snmp_fields(l: &Loaded) -> serde_json::Map<String, Value> {
    let s = &l.profile.pexip.snmp;
    let mut m = serde_json::Map::new();
    match s.mode {
        SnmpMode::V3ReadOnly => {
            m.insert("snmp_mode".into(), json!("AUTHPRIV"));
            m.insert(
                "snmp_username".into(),
                json!(s.username.as_deref().unwrap_or_default()),
            );
            if let Some(r) = &s.auth_password {
                m.insert("snmp_authentication_password".into(), secret_ref(r.name()));
            }
            if let Some(r) = &s.privacy_password {
                m.insert("snmp_privacy_password".into(), secret_ref(r.name()));
            }
        }
        // v1/v2c is refused by the policy (§81); the plan never enables it.
        SnmpMode::Off | SnmpMode::V2c => {
            m.insert("snmp_mode".into(), json!("DISABLED"));
        }
    }
    m
}

/// The `worker_vm` bodies, in profile order. Node passwords are references; [`super::bootstrap::check_secrets`]
/// checks their values against §52 before a build or an apply.
pub fn worker_vm_bodies(l: &Loaded) -> anyhow::Result<Vec<NodeRequest>> {
    let p = &l.profile.pexip;
    let mut out = Vec::new();
    for (i, n) in p.conferencing.iter().enumerate() {
        let field = format!("pexip.conferencing[{i}].address");
        let cidr = match n.address {
            AddressMode::Static(c) if c.addr.is_ipv4() => c,
            other => {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "{}: {field} is `{other}`; a conferencing node needs a static IPv4 address with its prefix (§24)",
                        l.locate(&FieldPath::parse(&field))
                    ),
                ));
            }
        };
        let mut body = serde_json::Map::new();
        body.insert("name".into(), json!(n.name));
        body.insert("hostname".into(), json!(n.hostname));
        body.insert("domain".into(), json!(p.management.domain));
        body.insert("address".into(), json!(cidr.addr.to_string()));
        body.insert(
            "netmask".into(),
            json!(cidr.netmask_v4().map(|m| m.to_string()).unwrap_or_default()),
        );
        body.insert("gateway".into(), json!(n.gateway.to_string()));
        body.insert("password".into(), secret_ref(n.password.name()));
        body.insert(
            "node_type".into(),
            json!(match n.role {
                NodeRole::Transcoding => "CONFERENCING",
                NodeRole::Proxying => "PROXYING",
            }),
        );
        body.insert(
            "system_location".into(),
            uri_where(SYSTEM_LOCATION, "name", &n.location),
        );
        body.insert("deployment_type".into(), json!("MANUAL-PROVISION-ONLY"));
        body.insert("vm_cpu_count".into(), json!(n.reservation.vcpus));
        body.insert("vm_system_memory".into(), json!(n.reservation.memory_mb));
        body.insert(
            "enable_ssh".into(),
            json!(if n.enable_ssh { "ON" } else { "OFF" }),
        );
        body.extend(snmp_fields(l));
        out.push(NodeRequest {
            name: n.name.to_string(),
            bootstrap_url: format!("https://{}:{BOOTSTRAP_PORT}{BOOTSTRAP_PATH}", cidr.addr),
            body: Value::Object(body),
        });
    }
    Ok(out)
}
