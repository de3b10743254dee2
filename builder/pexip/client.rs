//! The HTTPS client `apply` talks to the Management Node (and the nodes' bootstrap port) with.
//!
//! HTTPS only: an `http://` URL is refused before anything is sent. The peer's certificate is checked against the
//! CA file given on the command line and nothing else (no system roots, no "insecure" switch). rustls speaks only
//! TLS 1.2 and 1.3, which is the floor the guide sets (§57, CCN-STIC-807). No proxy is used, whatever the
//! environment says (§55: the product treats interception as an attack). Redirects are not followed.
//!
//! Errors name the request (method, resource), the status and the server's message, with every secret value
//! removed; the Authorization header is never logged.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

use crate::error::{Exit, fail};
use crate::profile::secrets::{Secret, Secrets};

/// A response: status, body text and `Location`.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An HTTPS client bound to one CA and one set of credentials.
pub struct Client {
    agent: ureq::Agent,
    authorization: Option<String>,
    /// Values to scrub from any error text.
    redact: Vec<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client { .. }")
    }
}

/// Refuses anything but `https://`.
pub fn require_https(url: &str, what: &str) -> anyhow::Result<()> {
    if url.len() > 8 && url[..8].eq_ignore_ascii_case("https://") {
        Ok(())
    } else {
        Err(fail(
            Exit::Input,
            format!(
                "{what} `{url}` is not an https:// URL; forja talks to Pexip over HTTPS only, with the certificate checked against --ca"
            ),
        ))
    }
}

/// Reads the CA certificates (PEM) the peer must chain to.
pub fn load_ca(path: &Path) -> anyhow::Result<Vec<Certificate<'static>>> {
    parse_ca(&read_ca(path)?, path)
}

/// The CA file's bytes.
pub fn read_ca(path: &Path) -> anyhow::Result<Vec<u8>> {
    crate::inbound::read_capped(path, crate::inbound::MAX_PEM)
        .map_err(|e| fail(Exit::Input, format!("cannot read the CA file: {e:#}")))
}

/// The certificates in `pem`, read from `path` (named in errors).
pub fn parse_ca(pem: &[u8], path: &Path) -> anyhow::Result<Vec<Certificate<'static>>> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(fail(
                    Exit::Input,
                    format!("{}: not a PEM certificate file: {e}", path.display()),
                ));
            }
        }
    }
    if certs.is_empty() {
        return Err(fail(
            Exit::Input,
            format!("{}: holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

impl Client {
    /// A client trusting only `ca`, optionally with HTTP basic credentials.
    pub fn new(
        ca: Vec<Certificate<'static>>,
        timeout: Duration,
        basic: Option<(&str, &Secret)>,
        secrets: &Secrets,
    ) -> Self {
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(Arc::new(ca)))
            .build();
        let config = ureq::Agent::config_builder()
            .https_only(true)
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_global(Some(timeout))
            .tls_config(tls)
            .build();
        let authorization = basic.map(|(user, pw)| {
            let raw = format!("{user}:{}", pw.expose());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        });
        let mut redact: Vec<String> = secrets
            .values()
            .map(|s| s.expose().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        if let Some(a) = &authorization {
            redact.push(a.clone());
        }
        // Longest first, so a secret that contains another is removed whole.
        redact.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Client {
            agent: config.into(),
            authorization,
            redact,
        }
    }

    /// Removes every secret value from a text meant for the user.
    pub fn scrub(&self, text: &str) -> String {
        let mut t = text.to_owned();
        for v in &self.redact {
            t = t.replace(v.as_str(), "<redacted>");
        }
        t
    }

    /// Sends one request. Transport failures (TLS, connection, timeout) are [`Exit::Remote`] errors naming
    /// `what`; HTTP statuses are returned for the caller to judge (see [`Client::expect`]).
    pub fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<(&str, Vec<u8>)>,
        what: &str,
    ) -> anyhow::Result<Response> {
        require_https(url, what)?;
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Accept", "application/json");
        let builder = match &self.authorization {
            Some(a) => builder.header("Authorization", a),
            None => builder,
        };
        let result = match body {
            Some((ctype, bytes)) => {
                let req = builder
                    .header("Content-Type", ctype)
                    .body(bytes)
                    .context("building a request")?;
                self.agent.run(req)
            }
            None => {
                let req = builder.body(()).context("building a request")?;
                self.agent.run(req)
            }
        };
        let mut resp = result.map_err(|e| {
            let kind = match &e {
                ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
                    "TLS failure (is --ca the CA that signed this server's certificate?)"
                }
                ureq::Error::Timeout(_) => "timed out",
                ureq::Error::RequireHttpsOnly(_) => "refused: not https",
                ureq::Error::HostNotFound => "host not found",
                ureq::Error::ConnectionFailed => "connection failed",
                ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
                    "TLS failure (is --ca the CA that signed this server's certificate?)"
                }
                _ => "request failed",
            };
            fail(
                Exit::Remote,
                self.scrub(&format!("{what}: {method} {url}: {kind}: {e}")),
            )
        })?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_string()
            .unwrap_or_default();
        Ok(Response {
            status,
            body,
            location,
        })
    }

    /// Like [`Client::send`], but a non-2xx status becomes an [`Exit::Remote`] error with status, resource and
    /// the server's message (scrubbed, shortened).
    pub fn expect(
        &self,
        method: &str,
        url: &str,
        body: Option<(&str, Vec<u8>)>,
        what: &str,
    ) -> anyhow::Result<Response> {
        let r = self.send(method, url, body, what)?;
        if r.ok() {
            return Ok(r);
        }
        let mut msg: String = r.body.trim().chars().take(400).collect();
        if msg.is_empty() {
            msg = "(no message)".into();
        }
        Err(fail(
            Exit::Remote,
            self.scrub(&format!(
                "{what}: {method} {url} returned HTTP {}: {msg}",
                r.status
            )),
        ))
    }
}
