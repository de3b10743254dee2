//! A small, real HTTPS stand-in for a Pexip Management Node and a node's bootstrap port, for `forja pexip apply`
//! and `forja pexip audit` tests. Thread per connection over std `TcpListener` + rustls, a minimal HTTP/1.1
//! parser, `Connection: close`.
//!
//! It is strict where the real API is ([`schema`], from Pexip's SDK and Terraform provider): an unknown resource
//! is 404; an unknown field, a read-only field, a wrong type, a value outside its choices or range, a URI to an
//! object that does not exist, or a missing required field is 400 naming the field, in Tastypie's shape
//! `{"<resource>": {"<field>": ["..."]}}`. Lists are `{meta, objects}`, singletons live at `/1/`, POST answers
//! 201 with `Location`, PATCH 202. Write-only fields (secrets) are never returned; related lists
//! (`ntp_servers`, `syslog_servers`) come back as nested objects, as the SDK reads them.
//!
//! Certificates behave as the provider describes ([`certs`]): a CSR with an `ECDSAP256` key type gets a real CSR
//! (rcgen); PATCHing its signed `certificate` checks the certificate's key against the CSR's and creates the
//! `tls_certificate`; a `tls_certificate` upload must carry the private key of its certificate.
//!
//! Test controls: wrong credentials are 401; [`Server::fail_once`] fails one request with 500; [`Server::set`]
//! changes a field behind forja's back. `worker_vm` POST returns an XML deployment file; the node port accepts
//! it as `text/xml`; `status/v1/worker_vm/<id>/` reports `SYNCING` once after the bootstrap and `SYNCED` after.

#![allow(dead_code)]

mod certs;
mod licence;
mod schema;
mod store;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Map, Value, json};

pub use store::{get_plain, uri};

/// The manager's state, shared by both ports.
#[derive(Default)]
pub struct State {
    /// resource → id → object as stored (write-only fields included; `id`/`resource_uri` added when served).
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
    /// The private keys of the CSRs this manager generated, by CSR id (PKCS#8 PEM).
    csr_keys: BTreeMap<u64, String>,
    /// `generation_time` given to the next offline licence requests (default: the current time).
    pub licence_generation_time: Option<String>,
    /// Sequence number of the last licence request.
    licence_seq: u64,
    /// licence_request id → the entitlement it asks for (not served, as on a real manager).
    licence_entitlements: BTreeMap<u64, String>,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
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
        let mut st = State::default();
        store::defaults(&mut st);
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

    /// An object as stored (write-only fields included).
    pub fn object(&self, resource: &str, id: u64) -> Map<String, Value> {
        self.state.lock().unwrap().objects[resource][&id].clone()
    }

    /// Changes one field of a stored object behind forja's back, as a person in the web interface would.
    pub fn set(&self, resource: &str, id: u64, field: &str, value: Value) {
        let mut st = self.state.lock().unwrap();
        st.objects
            .get_mut(resource)
            .unwrap()
            .get_mut(&id)
            .unwrap()
            .insert(field.into(), value);
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

    /// Every stored object of a resource (write-only fields included), in id order.
    pub fn all(&self, resource: &str) -> Vec<Map<String, Value>> {
        self.all_with_ids(resource)
            .into_iter()
            .map(|(_, o)| o)
            .collect()
    }

    pub fn all_with_ids(&self, resource: &str) -> Vec<(u64, Map<String, Value>)> {
        self.state
            .lock()
            .unwrap()
            .objects
            .get(resource)
            .map(|m| m.iter().map(|(i, o)| (*i, o.clone())).collect())
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

pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub location: Option<String>,
}

pub fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        body: body.to_string().into_bytes(),
        content_type: "application/json",
        location: None,
    }
}

/// Tastypie's validation error: `{"<resource>": {"<field>": ["<message>"]}}`.
pub fn invalid(resource: &str, field: &str, message: impl Into<String>) -> Reply {
    reply(400, json!({ resource: { field: [message.into()] } }))
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

/// The body of a POST or PATCH: a JSON object sent as application/json, or the 400 the manager answers.
pub fn json_body(req: &Request) -> Result<Map<String, Value>, Reply> {
    if req.headers.get("content-type").map(String::as_str) != Some("application/json") {
        return Err(reply(400, json!({"error": "expected application/json"})));
    }
    serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .ok_or_else(|| reply(400, json!({"error": "body is not a JSON object"})))
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
    match (segs[2], resource) {
        ("status", "worker_vm") if req.method == "GET" => status(&mut st, id),
        ("configuration", "licence" | "licence_request") => {
            licence::licence(&mut st, req, resource, id, &shared.manager_origin)
        }
        ("configuration", _) => {
            store::configuration(&mut st, req, resource, id, &shared.manager_origin)
        }
        _ => reply(404, json!({"error": "not found"})),
    }
}

fn status(st: &mut State, id: Option<u64>) -> Reply {
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
    reply(200, json!({"id": id, "sync_status": status}))
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
