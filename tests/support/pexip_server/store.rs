//! The configuration resources of the stand-in: defaults, validation against [`super::schema`], and GET, POST
//! and PATCH as Tastypie answers them.

use serde_json::{Map, Value, json};

use super::schema::{Access, Resource, T, resource};
use super::{Reply, Request, State, certs, invalid, json_body, reply};

/// Where the manager serves one object of a configuration resource.
pub fn uri(resource: &str, id: u64) -> String {
    format!("/api/admin/configuration/v1/{resource}/{id}/")
}

/// The singletons as a fresh Management Node has them (the guide's §34 secure mode not yet applied).
pub fn defaults(st: &mut State) {
    let defaults: [(&str, Value); 4] = [
        (
            "global",
            json!({
                "session_timeout_enabled": false, "management_session_timeout": 30, "logon_banner": "",
                "enable_ssh": true, "legacy_api_http": false, "error_reporting_enabled": true,
                "enable_analytics": true, "sip_tls_cert_verify_mode": "OFF", "crypto_mode": "besteffort",
                "min_pin_length": 4, "bdpm_pin_checks_enabled": true, "bdpm_scan_quarantine_enabled": true,
                "bdpm_max_pin_failures_per_window": 20, "bdpm_max_scan_attempts_per_window": 20,
                "ocsp_state": "OFF", "ocsp_responder_url": ""
            }),
        ),
        (
            "authentication",
            json!({"source": "LOCAL", "ldap_server": "", "ldap_base_dn": "", "ldap_bind_username": "",
                   "ldap_permit_no_tls": false, "ldap_use_global_catalog": false, "client_certificate": "NO"}),
        ),
        (
            "management_vm",
            json!({"name": "pexmgr", "enable_ssh": "GLOBAL", "snmp_mode": "DISABLED", "snmp_username": "",
                   "ntp_servers": [], "syslog_servers": [], "tls_certificate": null, "primary": true}),
        ),
        (
            "autobackup",
            json!({"autobackup_enabled": false, "autobackup_interval": 24, "autobackup_start_hour": 1,
                   "autobackup_upload_url": "", "autobackup_upload_username": ""}),
        ),
    ];
    for (r, v) in defaults {
        st.objects
            .entry(r.into())
            .or_default()
            .insert(1, v.as_object().unwrap().clone());
    }
}

/// GET, POST or PATCH on `configuration/v1/<resource>/[<id>/]`.
pub fn configuration(
    st: &mut State,
    req: &Request,
    name: &str,
    id: Option<u64>,
    origin: &str,
) -> Reply {
    let Some(res) = resource(name) else {
        return reply(404, json!({"error": format!("no resource {name}")}));
    };
    match (req.method.as_str(), id) {
        ("GET", _) => get(st, res, id),
        ("POST", None) if !res.singleton => {
            let body = match json_body(req) {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Err(r) = validate(st, res, &body, true) {
                return r;
            }
            let id = st.next_id();
            match certs::on_create(st, res.name, id, body) {
                Ok(obj) => {
                    st.objects.entry(name.into()).or_default().insert(id, obj);
                    st.writes += 1;
                    created(st, res.name, id, origin)
                }
                Err(r) => r,
            }
        }
        ("PATCH", Some(id)) => {
            let body = match json_body(req) {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Err(r) = validate(st, res, &body, false) {
                return r;
            }
            if st.objects.get(name).and_then(|m| m.get(&id)).is_none() {
                return reply(404, json!({"error": "not found"}));
            }
            let extra = match certs::on_update(st, res.name, id, &body) {
                Ok(x) => x,
                Err(r) => return r,
            };
            let o = st.objects.get_mut(name).unwrap().get_mut(&id).unwrap();
            o.extend(body);
            o.extend(extra);
            st.writes += 1;
            Reply {
                status: 202,
                body: Vec::new(),
                content_type: "application/json",
                location: None,
            }
        }
        _ => reply(405, json!({"error": "method not allowed"})),
    }
}

fn created(st: &State, resource: &str, id: u64, origin: &str) -> Reply {
    let location = Some(format!("{origin}{}", uri(resource, id)));
    if resource != "worker_vm" {
        return Reply {
            status: 201,
            body: Vec::new(),
            content_type: "application/json",
            location,
        };
    }
    let name = st.objects["worker_vm"][&id]
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("");
    Reply {
        status: 201,
        body: format!(
            "<?xml version=\"1.0\"?><deployment><worker_vm_id>{id}</worker_vm_id><name>{name}</name></deployment>"
        )
        .into_bytes(),
        content_type: "text/xml",
        location,
    }
}

/// Checks a POST or PATCH body field by field, as the manager does.
fn validate(
    st: &State,
    res: &Resource,
    body: &Map<String, Value>,
    create: bool,
) -> Result<(), Reply> {
    for (k, v) in body {
        let Some(f) = res.field(k) else {
            return Err(invalid(
                res.name,
                k,
                format!("The '{k}' field is not a valid field for {}", res.name),
            ));
        };
        if f.access == Access::ReadOnly {
            return Err(invalid(res.name, k, "This field is read-only."));
        }
        check_value(st, f.t, v)
            .map_err(|m| invalid(res.name, k, format!("{}.{k}: {m}", res.name)))?;
    }
    if create
        && let Some(f) = res
            .fields
            .iter()
            .find(|f| f.required && !body.contains_key(f.name))
    {
        return Err(invalid(res.name, f.name, "This field is required."));
    }
    Ok(())
}

fn check_value(st: &State, t: T, v: &Value) -> Result<(), String> {
    let text = |max: usize| match v.as_str() {
        Some(s) if s.chars().count() <= max => Ok(s),
        Some(_) => Err(format!("longer than {max} characters")),
        None => Err(format!("wrong type: expected a string, got {v}")),
    };
    match t {
        T::Str(max) => text(max).map(|_| ()),
        T::Bool => v
            .is_boolean()
            .then_some(())
            .ok_or(format!("wrong type: expected a boolean, got {v}")),
        T::Int(lo, hi) => match v.as_i64() {
            Some(n) if (lo..=hi).contains(&n) => Ok(()),
            Some(n) => Err(format!("{n} is out of range {lo} to {hi}")),
            None => Err(format!("wrong type: expected an integer, got {v}")),
        },
        T::Choice(set) => {
            let s = text(64)?;
            set.contains(&s)
                .then_some(())
                .ok_or(format!("'{s}' is not a valid choice ({})", set.join(", ")))
        }
        T::Digits(lo, hi) => {
            let s = text(hi)?;
            (s.len() >= lo && s.bytes().all(|b| b.is_ascii_digit()))
                .then_some(())
                .ok_or(format!("a PIN is {lo} to {hi} digits"))
        }
        T::Url(schemes) => {
            let s = text(255)?;
            let scheme = s.split_once("://").map(|x| x.0.to_ascii_lowercase());
            (s.is_empty() || scheme.is_some_and(|x| schemes.contains(&x.as_str())))
                .then_some(())
                .ok_or(format!(
                    "unsupported URL scheme; supported schemes: {}",
                    schemes.join(", ")
                ))
        }
        T::Pem => forja::certs::parse_pem(text(65536)?.as_bytes()).map(|_| ()),
        T::Uri(r) => match v {
            Value::Null => Ok(()),
            _ => exists(st, r, text(255)?),
        },
        T::UriList(r) => match v.as_array() {
            Some(items) => items.iter().try_for_each(|i| match i.as_str() {
                Some(s) => exists(st, r, s),
                None => Err(format!("wrong type: expected a list of {r} URIs, got {v}")),
            }),
            None => Err(format!("wrong type: expected a list of {r} URIs, got {v}")),
        },
    }
}

/// A URI (absolute or not) of an existing object of `resource`.
fn exists(st: &State, resource: &str, u: &str) -> Result<(), String> {
    let id = u
        .find("/api/admin/configuration/v1/")
        .map(|i| &u[i..])
        .and_then(|p| p.strip_prefix(&format!("/api/admin/configuration/v1/{resource}/")))
        .and_then(|rest| rest.trim_end_matches('/').parse::<u64>().ok());
    match id {
        Some(id)
            if st
                .objects
                .get(resource)
                .is_some_and(|m| m.contains_key(&id)) =>
        {
            Ok(())
        }
        _ => Err(format!("'{u}' is not the URI of an existing {resource}")),
    }
}

/// An object as the manager returns it: with its id and URI, write-only fields left out, related lists nested.
pub fn served(st: &State, res: &Resource, id: u64, o: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (k, v) in o {
        let Some(f) = res.field(k) else { continue };
        match (f.access, f.t) {
            (Access::WriteOnly, _) => {}
            (_, T::UriList(r)) => {
                let nested = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| nested(st, r, u))
                    .collect();
                out.insert(k.clone(), Value::Array(nested));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert("id".into(), json!(id));
    out.insert("resource_uri".into(), json!(uri(res.name, id)));
    Value::Object(out)
}

fn nested(st: &State, resource_name: &str, u: &Value) -> Option<Value> {
    let res = resource(resource_name)?;
    let id: u64 = u
        .as_str()?
        .trim_end_matches('/')
        .rsplit('/')
        .next()?
        .parse()
        .ok()?;
    let o = st.objects.get(resource_name)?.get(&id)?;
    Some(served(st, res, id, o))
}

fn get(st: &State, res: &Resource, id: Option<u64>) -> Reply {
    let objects = st.objects.get(res.name);
    let Some(id) = id else {
        let objs: Vec<Value> = objects
            .map(|m| m.iter().map(|(i, o)| served(st, res, *i, o)).collect())
            .unwrap_or_default();
        return list(objs);
    };
    match objects.and_then(|m| m.get(&id)) {
        Some(o) => reply(200, served(st, res, id, o)),
        None => reply(404, json!({"error": "not found"})),
    }
}

fn list(objs: Vec<Value>) -> Reply {
    reply(
        200,
        json!({"meta": {"limit": 0, "next": null, "offset": 0, "previous": null,
                        "total_count": objs.len()}, "objects": objs}),
    )
}

/// GET of a resource outside the schema (the licence resources), served as stored.
pub fn get_plain(st: &State, resource: &str, id: Option<u64>) -> Reply {
    let with_id = |i: u64, o: &Map<String, Value>| {
        let mut o = o.clone();
        o.insert("id".into(), json!(i));
        o.insert("resource_uri".into(), json!(uri(resource, i)));
        Value::Object(o)
    };
    let objects = st.objects.get(resource);
    let Some(id) = id else {
        return list(
            objects
                .map(|m| m.iter().map(|(i, o)| with_id(*i, o)).collect())
                .unwrap_or_default(),
        );
    };
    match objects.and_then(|m| m.get(&id)) {
        Some(o) => reply(200, with_id(id, o)),
        None => reply(404, json!({"error": "not found"})),
    }
}
