//! A small, real HTTPS stand-in for a Pexip Management Node and a node's bootstrap port, for `forja pexip apply`
//! tests. Thread per connection over std `TcpListener` + rustls, a minimal HTTP/1.1 parser, `Connection: close`.
//!
//! It keeps the Tastypie shapes the client relies on: lists are `{meta, objects}`, singletons live at `/1/`,
//! POST answers 201 with `Location`, PATCH answers 202. It refuses unknown fields and wrong types with 400,
//! wrong credentials with 401, and can be told to fail one request with 500. `worker_vm` POST returns an XML
//! deployment file; the node port accepts it as `text/xml`; `status/v1/worker_vm/<id>/` reports `SYNCING` once
//! after the bootstrap and `SYNCED` after that.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Map, Value, json};

#[derive(Clone, Copy)]
enum T {
    Str,
    Int,
    Bool,
}

fn schema(resource: &str) -> Option<&'static [(&'static str, T)]> {
    use T::*;
    Some(match resource {
        "global" => &[
            ("session_timeout_enabled", Bool),
            ("management_session_timeout", Int),
            ("logon_banner", Str),
            ("enable_ssh", Bool),
            ("sip_tls_cert_verify_mode", Str),
            ("crypto_mode", Str),
            ("min_pin_length", Int),
            ("bdpm_pin_checks_enabled", Bool),
            ("bdpm_scan_quarantine_enabled", Bool),
            ("bdpm_max_pin_failures_per_window", Int),
            ("bdpm_max_scan_attempts_per_window", Int),
            ("ocsp_state", Str),
            ("ocsp_responder_url", Str),
        ],
        "authentication" => &[
            ("source", Str),
            ("ldap_server", Str),
            ("ldap_base_dn", Str),
            ("ldap_bind_username", Str),
            ("ldap_bind_password", Str),
            ("ldap_permit_no_tls", Bool),
            ("client_certificate", Str),
        ],
        "management_vm" => &[
            ("enable_ssh", Str),
            ("snmp_mode", Str),
            ("snmp_username", Str),
            ("snmp_authentication_password", Str),
            ("snmp_privacy_password", Str),
        ],
        "autobackup" => &[
            ("autobackup_enabled", Bool),
            ("autobackup_passphrase", Str),
            ("autobackup_upload_url", Str),
            ("autobackup_upload_username", Str),
            ("autobackup_upload_password", Str),
        ],
        "ntp_server" => &[("address", Str), ("key_id", Int), ("key", Str)],
        "syslog_server" => &[
            ("address", Str),
            ("port", Int),
            ("transport", Str),
            ("audit_log", Bool),
            ("support_log", Bool),
            ("web_log", Bool),
        ],
        "break_in_allow_list_address" => &[
            ("name", Str),
            ("address", Str),
            ("prefix", Int),
            ("allowlist_entry_type", Str),
        ],
        "conference" => &[
            ("name", Str),
            ("pin", Str),
            ("guest_pin", Str),
            ("allow_guests", Bool),
        ],
        "system_location" => &[("name", Str)],
        "worker_vm" => &[
            ("name", Str),
            ("hostname", Str),
            ("domain", Str),
            ("address", Str),
            ("netmask", Str),
            ("gateway", Str),
            ("password", Str),
            ("node_type", Str),
            ("system_location", Str),
            ("deployment_type", Str),
            ("vm_cpu_count", Int),
            ("vm_system_memory", Int),
            ("enable_ssh", Str),
            ("snmp_mode", Str),
            ("snmp_username", Str),
            ("snmp_authentication_password", Str),
            ("snmp_privacy_password", Str),
        ],
        _ => return None,
    })
}

const SINGLETONS: [&str; 4] = ["global", "authentication", "management_vm", "autobackup"];

/// The manager's state, shared by both ports.
#[derive(Default)]
pub struct State {
    /// resource → id → object (without `id`/`resource_uri`, added when served).
    pub objects: BTreeMap<String, BTreeMap<u64, Map<String, Value>>>,
    next_id: u64,
    /// `(method, path substring)`: the next matching request fails with 500, once.
    pub fail_once: Option<(String, String)>,
    /// worker_vm ids whose deployment file reached the node port, with the number of status polls since.
    pub bootstrapped: BTreeMap<u64, u32>,
    /// Every request: `METHOD path`.
    pub log: Vec<String>,
    /// Requests that changed something (POST, PATCH, bootstrap).
    pub writes: usize,
    /// `generation_time` given to the next offline licence requests (default: the current time).
    pub licence_generation_time: Option<String>,
    /// Sequence number of the last licence request.
    licence_seq: u64,
    /// licence_request id → the entitlement it asks for (not served, as on a real manager).
    licence_entitlements: BTreeMap<u64, String>,
}

pub struct Server {
    pub manager_url: String,
    pub node_url: String,
    pub ca_pem: String,
    pub state: Arc<Mutex<State>>,
}

struct Shared {
    state: Arc<Mutex<State>>,
    auth: String,
    manager_origin: String,
}

impl Server {
    /// Starts both ports on 127.0.0.1 with a fresh test CA. `user`/`password`: the expected basic credentials.
    pub fn start(user: &str, password: &str) -> Server {
        let pki = Pki::new();
        Self::start_with(pki, user, password)
    }

    fn start_with(pki: Pki, user: &str, password: &str) -> Server {
        let mut st = State::default();
        let defaults: [(&str, Value); 4] = [
            (
                "global",
                json!({
                    "session_timeout_enabled": false, "management_session_timeout": 30, "logon_banner": "",
                    "enable_ssh": true, "sip_tls_cert_verify_mode": "OFF", "crypto_mode": "besteffort",
                    "min_pin_length": 4, "bdpm_pin_checks_enabled": false, "bdpm_scan_quarantine_enabled": false,
                    "bdpm_max_pin_failures_per_window": 20, "bdpm_max_scan_attempts_per_window": 20,
                    "ocsp_state": "OFF", "ocsp_responder_url": ""
                }),
            ),
            (
                "authentication",
                json!({"source": "LOCAL", "ldap_server": "", "ldap_base_dn": "", "ldap_bind_username": "",
                       "ldap_bind_password": "", "ldap_permit_no_tls": true, "client_certificate": "NO"}),
            ),
            (
                "management_vm",
                json!({"enable_ssh": "GLOBAL", "snmp_mode": "DISABLED", "snmp_username": "",
                       "snmp_authentication_password": "", "snmp_privacy_password": ""}),
            ),
            (
                "autobackup",
                json!({"autobackup_enabled": false, "autobackup_passphrase": "", "autobackup_upload_url": "",
                       "autobackup_upload_username": "", "autobackup_upload_password": ""}),
            ),
        ];
        for (r, v) in defaults {
            st.objects
                .entry(r.into())
                .or_default()
                .insert(1, v.as_object().unwrap().clone());
        }
        st.next_id = 100;
        let state = Arc::new(Mutex::new(st));
        let config = Arc::new(pki.server_config());
        let manager = TcpListener::bind("127.0.0.1:0").unwrap();
        let node = TcpListener::bind("127.0.0.1:0").unwrap();
        let manager_url = format!("https://127.0.0.1:{}", manager.local_addr().unwrap().port());
        let node_url = format!(
            "https://127.0.0.1:{}/configuration/bootstrap",
            node.local_addr().unwrap().port()
        );
        let shared = Arc::new(Shared {
            state: state.clone(),
            auth: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            manager_origin: manager_url.clone(),
        });
        for (listener, is_node) in [(manager, false), (node, true)] {
            let config = config.clone();
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let config = config.clone();
                    let shared = shared.clone();
                    std::thread::spawn(move || serve(stream, config, &shared, is_node));
                }
            });
        }
        Server {
            manager_url,
            node_url,
            ca_pem: pki.ca_pem,
            state,
        }
    }

    pub fn fail_once(&self, method: &str, path_part: &str) {
        self.state.lock().unwrap().fail_once = Some((method.into(), path_part.into()));
    }

    pub fn writes(&self) -> usize {
        self.state.lock().unwrap().writes
    }

    pub fn object(&self, resource: &str, id: u64) -> Map<String, Value> {
        self.state.lock().unwrap().objects[resource][&id].clone()
    }

    /// Gives the next offline licence requests this `generation_time`.
    pub fn set_licence_generation_time(&self, t: &str) {
        self.state.lock().unwrap().licence_generation_time = Some(t.to_owned());
    }

    /// Forgets a stored licence request (as when the manager replaces it with a newer one).
    pub fn remove_licence_request(&self, reference: &str) {
        let mut st = self.state.lock().unwrap();
        if let Some(m) = st.objects.get_mut("licence_request") {
            m.retain(|_, o| o.get("reference").and_then(Value::as_str) != Some(reference));
        }
    }

    pub fn all(&self, resource: &str) -> Vec<Map<String, Value>> {
        self.state
            .lock()
            .unwrap()
            .objects
            .get(resource)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// A test CA and a server certificate for 127.0.0.1 / localhost.
pub struct Pki {
    pub ca_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl Pki {
    pub fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "forja test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            cert_der: leaf.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }

    fn server_config(&self) -> rustls::ServerConfig {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(self.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        )
        .unwrap()
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

struct Reply {
    status: u16,
    body: Vec<u8>,
    content_type: &'static str,
    location: Option<String>,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        body: body.to_string().into_bytes(),
        content_type: "application/json",
        location: None,
    }
}

fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, shared: &Shared, is_node: bool) {
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let Some(req) = read_request(&mut tls) else {
        return;
    };
    let r = if is_node {
        node(shared, &req)
    } else {
        manager(shared, &req)
    };
    let reason = match r.status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        r.content_type,
        r.body.len()
    );
    if let Some(l) = &r.location {
        head.push_str(&format!("Location: {l}\r\n"));
    }
    head.push_str("\r\n");
    let _ = tls.write_all(head.as_bytes());
    let _ = tls.write_all(&r.body);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn read_request(s: &mut impl Read) -> Option<Request> {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn validate(resource: &str, body: &Map<String, Value>) -> Result<(), String> {
    let fields = schema(resource).ok_or("no schema")?;
    for (k, v) in body {
        let Some((_, t)) = fields.iter().find(|(n, _)| n == k) else {
            return Err(format!(
                "The '{k}' field is not a valid field for {resource}"
            ));
        };
        let ok = match t {
            T::Str => v.is_string(),
            T::Int => v.is_i64() || v.is_u64(),
            T::Bool => v.is_boolean(),
        };
        if !ok {
            return Err(format!("{resource}.{k}: wrong type"));
        }
    }
    Ok(())
}

/// Where the manager serves one object of a configuration resource.
fn uri(resource: &str, id: u64) -> String {
    format!("/api/admin/configuration/v1/{resource}/{id}/")
}

/// An object as the manager returns it: with its id and URI, and without a node's password, which is not
/// readable back (builder/pexip/apply.rs expects this).
fn served(resource: &str, id: u64, o: &Map<String, Value>) -> Value {
    let mut o = o.clone();
    if resource == "worker_vm" {
        o.remove("password");
    }
    o.insert("id".into(), json!(id));
    o.insert("resource_uri".into(), json!(uri(resource, id)));
    Value::Object(o)
}

/// The body of a POST or PATCH: a JSON object sent as application/json, or the 400 the manager answers.
fn json_body(req: &Request) -> Result<Map<String, Value>, Reply> {
    if req.headers.get("content-type").map(String::as_str) != Some("application/json") {
        return Err(reply(400, json!({"error": "expected application/json"})));
    }
    serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .ok_or_else(|| reply(400, json!({"error": "body is not a JSON object"})))
}

/// GET on a configuration resource: the whole list (one page, as the manager sends it) or one object.
fn get(st: &State, resource: &str, id: Option<u64>) -> Reply {
    let Some(id) = id else {
        let objs: Vec<Value> = st
            .objects
            .get(resource)
            .map(|m| m.iter().map(|(i, o)| served(resource, *i, o)).collect())
            .unwrap_or_default();
        return reply(
            200,
            json!({"meta": {"limit": 0, "next": null, "offset": 0, "previous": null,
                            "total_count": objs.len()}, "objects": objs}),
        );
    };
    match st.objects.get(resource).and_then(|m| m.get(&id)) {
        Some(o) => reply(200, served(resource, id, o)),
        None => reply(404, json!({"error": "not found"})),
    }
}

fn manager(shared: &Shared, req: &Request) -> Reply {
    let mut st = shared.state.lock().unwrap();
    st.log.push(format!("{} {}", req.method, req.path));
    if req.headers.get("authorization") != Some(&shared.auth) {
        return reply(401, json!({"error": "authentication required"}));
    }
    if let Some((m, p)) = st.fail_once.clone()
        && m == req.method
        && req.path.contains(&p)
    {
        st.fail_once = None;
        return reply(500, json!({"error": "injected failure"}));
    }
    let path = req.path.split('?').next().unwrap_or("");
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // api/admin/{configuration|status}/v1/<resource>/[<id>]
    if segs.len() < 5 || segs[0] != "api" || segs[1] != "admin" || segs[3] != "v1" {
        return reply(404, json!({"error": "not found"}));
    }
    let resource = segs[4];
    let id: Option<u64> = segs.get(5).and_then(|s| s.parse().ok());
    if segs[2] == "status" {
        if resource != "worker_vm" || req.method != "GET" {
            return reply(404, json!({"error": "not found"}));
        }
        let Some(id) = id.filter(|i| {
            st.objects
                .get("worker_vm")
                .is_some_and(|m| m.contains_key(i))
        }) else {
            return reply(404, json!({"error": "no such node"}));
        };
        let status = match st.bootstrapped.get_mut(&id) {
            None => "UNKNOWN",
            Some(n) => {
                *n += 1;
                if *n > 1 { "SYNCED" } else { "SYNCING" }
            }
        };
        return reply(200, json!({"id": id, "sync_status": status}));
    }
    if segs[2] == "configuration" && (resource == "licence" || resource == "licence_request") {
        return licence(&mut st, req, resource, id, &shared.manager_origin);
    }
    if segs[2] != "configuration" || schema(resource).is_none() {
        return reply(404, json!({"error": "not found"}));
    }
    match (req.method.as_str(), id) {
        ("GET", _) => get(&st, resource, id),
        ("POST", None) if !SINGLETONS.contains(&resource) => {
            let body = match json_body(req) {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Err(e) = validate(resource, &body) {
                return reply(400, json!({ resource: { "error": e } }));
            }
            st.next_id += 1;
            let id = st.next_id;
            st.writes += 1;
            let name = body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            st.objects
                .entry(resource.into())
                .or_default()
                .insert(id, body);
            let location = Some(format!("{}{}", shared.manager_origin, uri(resource, id)));
            if resource == "worker_vm" {
                Reply {
                    status: 201,
                    body: format!(
                        "<?xml version=\"1.0\"?><deployment><worker_vm_id>{id}</worker_vm_id><name>{name}</name></deployment>"
                    )
                    .into_bytes(),
                    content_type: "text/xml",
                    location,
                }
            } else {
                Reply {
                    status: 201,
                    body: Vec::new(),
                    content_type: "application/json",
                    location,
                }
            }
        }
        ("PATCH", Some(id)) => {
            let body = match json_body(req) {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Err(e) = validate(resource, &body) {
                return reply(400, json!({ resource: { "error": e } }));
            }
            let Some(o) = st.objects.get_mut(resource).and_then(|m| m.get_mut(&id)) else {
                return reply(404, json!({"error": "not found"}));
            };
            o.extend(body);
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

fn node(shared: &Shared, req: &Request) -> Reply {
    let mut st = shared.state.lock().unwrap();
    st.log.push(format!("NODE {} {}", req.method, req.path));
    if let Some((m, p)) = st.fail_once.clone()
        && m == "NODE"
        && req.path.contains(&p)
    {
        st.fail_once = None;
        return reply(500, json!({"error": "injected node failure"}));
    }
    if req.method != "POST" || req.path != "/configuration/bootstrap" {
        return reply(404, json!({"error": "not found"}));
    }
    if req.headers.get("content-type").map(String::as_str) != Some("text/xml") {
        return reply(400, json!({"error": "expected text/xml"}));
    }
    let text = String::from_utf8_lossy(&req.body);
    let id = text
        .split("<worker_vm_id>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.parse::<u64>().ok());
    match id {
        Some(id)
            if st
                .objects
                .get("worker_vm")
                .is_some_and(|m| m.contains_key(&id)) =>
        {
            st.bootstrapped.insert(id, 0);
            st.writes += 1;
            reply(200, json!({"status": "success"}))
        }
        _ => reply(
            400,
            json!({"error": "not a deployment file for this system"}),
        ),
    }
}

/// The offline-licence resources. What a real manager does is not public; this server defines the behaviour
/// forja's guesses rely on (documented in docs/licence-runbook.md):
/// - `POST licence/ {"entitlement_id", "offline_mode": true}` stores a `licence_request` (sequence number,
///   reference, `actions` XML naming both, `generation_time`, `status` "pending", empty `response_xml`) and
///   creates no licence; online activation (`offline_mode` false) is refused: the site is isolated.
/// - `PATCH licence_request/<id>/ {"response_xml"}` is accepted once, and only for a response that names the
///   request's `<reference>` (the stand-in for the vendor's own check); then `status` becomes "applied" and
///   `licence/` lists `{entitlement_id, offline_mode, status: "active"}`.
fn licence(st: &mut State, req: &Request, resource: &str, id: Option<u64>, origin: &str) -> Reply {
    match (req.method.as_str(), id) {
        ("GET", _) => get(st, resource, id),
        ("POST", None) if resource == "licence" => {
            let b = match json_body(req) {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Some(k) = b
                .keys()
                .find(|k| *k != "entitlement_id" && *k != "offline_mode")
            {
                return reply(
                    400,
                    json!({"licence": {"error": format!("The '{k}' field is not a valid field for licence")}}),
                );
            }
            let Some(ent) = b
                .get("entitlement_id")
                .and_then(Value::as_str)
                .filter(|e| !e.is_empty())
            else {
                return reply(
                    400,
                    json!({"licence": {"entitlement_id": "This field is required."}}),
                );
            };
            if b.get("offline_mode") != Some(&json!(true)) {
                return reply(
                    400,
                    json!({"licence": {"error": "cannot reach the licensing server (isolated test manager)"}}),
                );
            }
            st.licence_seq += 1;
            st.next_id += 1;
            let (seq, rid) = (st.licence_seq, st.next_id);
            let reference = format!("REF-{seq:04}-{rid}");
            let generation_time = st.licence_generation_time.clone().unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64;
                format!(
                    "{}.000000",
                    forja::licence::time::format(now).trim_end_matches('Z')
                )
            });
            let actions = format!(
                "<?xml version=\"1.0\"?><licence_request><reference>{reference}</reference>\
                 <sequence>{seq}</sequence><entitlement_id>{ent}</entitlement_id></licence_request>"
            );
            let obj = json!({"sequence_number": seq, "reference": reference, "actions": actions,
                             "generation_time": generation_time, "status": "pending", "response_xml": ""});
            st.licence_entitlements.insert(rid, ent.to_owned());
            st.objects
                .entry("licence_request".into())
                .or_default()
                .insert(rid, obj.as_object().unwrap().clone());
            st.writes += 1;
            Reply {
                status: 201,
                body: Vec::new(),
                content_type: "application/json",
                location: Some(format!("{origin}{}", uri("licence_request", rid))),
            }
        }
        ("PATCH", Some(id)) if resource == "licence_request" => {
            let b = match json_body(req) {
                Ok(b) => b,
                Err(r) => return r,
            };
            let Some(response) = b
                .get("response_xml")
                .and_then(Value::as_str)
                .filter(|_| b.len() == 1)
            else {
                return reply(
                    400,
                    json!({"licence_request": {"error": "only response_xml (a string) may be set"}}),
                );
            };
            let Some(o) = st
                .objects
                .get_mut("licence_request")
                .and_then(|m| m.get_mut(&id))
            else {
                return reply(404, json!({"error": "not found"}));
            };
            if o["response_xml"].as_str() != Some("") {
                return reply(
                    400,
                    json!({"licence_request": {"error": "this request is already answered"}}),
                );
            }
            let reference = o["reference"].as_str().unwrap().to_owned();
            if !response.contains(&format!("<reference>{reference}</reference>")) {
                return reply(
                    400,
                    json!({"licence_request": {"response_xml": "the response does not match this request"}}),
                );
            }
            o.insert("response_xml".into(), json!(response));
            o.insert("status".into(), json!("applied"));
            let ent = st.licence_entitlements[&id].clone();
            st.next_id += 1;
            let lid = st.next_id;
            st.objects.entry("licence".into()).or_default().insert(
                lid,
                json!({"entitlement_id": ent, "offline_mode": true, "status": "active"})
                    .as_object()
                    .unwrap()
                    .clone(),
            );
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
