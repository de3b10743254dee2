//! Offline ("air-gapped") licence activation for the Management Node (guide §18–21, GitHub issue 8).
//!
//! The isolated site never talks to Pexip's licence servers (§19). Instead:
//! 1. **request** (site): ask the Management Node for an offline licence request, fetch the stored request and
//!    write an *outbound bundle*: a deterministic tar holding the request document, its metadata, `SHA256SUMS`
//!    and a signify signature by the site key. The bundle's SHA-256 is recorded in the site's state folder.
//! 2. **inspect** (connected machine): check the outbound bundle against the site's *pinned* public key, its
//!    hashes and its age, and show what is being requested before anyone uploads it.
//! 3. **response** (connected machine): pack the vendor's answer into an *inbound bundle* bound to the outbound
//!    bundle's SHA-256, reference and sequence number. The connected side has no site secret key, so the inbound
//!    bundle is not signed by the site (optionally by a separate courier key); its integrity rests on its hashes
//!    and on the binding to an outbound bundle the site recorded.
//! 4. **apply** (site): check the inbound bundle, that it answers a request this site issued and that is still
//!    pending (locally and on the manager), not expired and not applied before; submit the answer and confirm the
//!    licence is active.
//!
//! Every step appends one JSON line to an audit trail ([`audit`]). Request and response documents are opaque:
//! the activation portal, file formats and encodings are not public (PEXIP.md), so forja never parses them.
//!
//! GUESSES about the vendor API (not public; documented in `docs/licence-runbook.md` too):
//! - which stored request a POST created: the pending one with the highest `sequence_number`;
//! - `generation_time` is ISO 8601, UTC when it carries no offset;
//! - the answer is submitted with `PATCH configuration/v1/licence_request/<id>/ {"response_xml": ...}`;
//! - a request is "already applied" when its `response_xml` is non-empty or its `status` reads `applied`;
//! - the licence is active once `configuration/v1/licence/` lists an object with our `entitlement_id`.

pub mod apply;
pub mod audit;
pub mod bundle;
pub mod inspect;
pub mod request;
pub mod response;
pub mod state;
pub mod time;

use serde::{Deserialize, Serialize};

use crate::error::{Exit, fail};
use crate::hashio::Sha256;

/// Member names inside the bundles.
pub const REQUEST_XML: &str = "request.xml";
pub const REQUEST_JSON: &str = "request.json";
pub const RESPONSE_XML: &str = "response.xml";
pub const RESPONSE_JSON: &str = "response.json";
/// The site's public key, carried for convenience only: verification uses the key the operator pinned.
pub const SITE_PUB: &str = "site.pub";
/// The courier's public key when an inbound bundle is signed with `--signing-key`.
pub const COURIER_PUB: &str = "courier.pub";

/// `format` of `request.json` and `response.json`.
pub const REQUEST_FORMAT: &str = "forja-licence-request/1";
pub const RESPONSE_FORMAT: &str = "forja-licence-response/1";

/// Default for `--max-age-days`: a request older than this is refused.
pub const DEFAULT_MAX_AGE_DAYS: u64 = 30;
/// A generation time this far in the future is still accepted (clocks at the site and the connected machine
/// are not synchronised with each other).
pub const CLOCK_SKEW_SECS: i64 = 300;

/// Which Management Node a request came from: its URL, host and the SHA-256 of the CA file that authenticated
/// its TLS certificate. (The HTTPS client does not expose the peer certificate itself, so its fingerprint is not
/// recorded; the CA pins the trust anchor instead.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manager {
    pub url: String,
    pub host: String,
    pub ca_sha256: Sha256,
}

impl Manager {
    pub fn new(url: &str, ca_pem: &[u8]) -> Self {
        Manager {
            url: url.trim_end_matches('/').to_owned(),
            host: host_of(url),
            ca_sha256: Sha256::of(ca_pem),
        }
    }
}

/// The host (and port) part of an `https://` URL.
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_ascii_lowercase()
}

/// `request.json`: what the site asked for, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestMeta {
    pub format: String,
    pub entitlement_id: String,
    pub reference: String,
    pub sequence_number: u64,
    /// `generation_time` exactly as the manager reported it.
    pub generation_time: String,
    /// The same instant, normalised to UTC (RFC 3339).
    pub generation_time_utc: String,
    /// The manager's `resource_uri` for the stored request (or its id).
    pub request_uri: String,
    pub manager: Manager,
    pub forja_version: String,
    pub created_at: String,
}

impl RequestMeta {
    /// `generation_time` in seconds since the epoch.
    pub fn generation_epoch(&self) -> anyhow::Result<i64> {
        time::parse(&self.generation_time).ok_or_else(|| {
            fail(
                Exit::BadArchive,
                format!(
                    "{REQUEST_JSON}: generation_time {:?} is not an ISO 8601 time",
                    self.generation_time
                ),
            )
        })
    }
}

/// `response.json`: which request the vendor's answer belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseMeta {
    pub format: String,
    /// SHA-256 of the whole outbound bundle this answers.
    pub request_bundle_sha256: Sha256,
    pub reference: String,
    pub sequence_number: u64,
    pub entitlement_id: String,
    pub manager_host: String,
    pub generation_time_utc: String,
    pub forja_version: String,
}

/// Checks that a request is neither too old nor from the future. `Exit::Refused` otherwise.
pub fn check_fresh(generation: i64, now: i64, max_age_days: u64, what: &str) -> anyhow::Result<()> {
    let max_age = i64::try_from(max_age_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
    let age = now.saturating_sub(generation);
    if generation > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(fail(
            Exit::Refused,
            format!(
                "refused: {what} was generated at {} which is {} s in the future (more than the {CLOCK_SKEW_SECS} s \
                 allowed for clock skew); check the clocks of the Management Node and of this machine",
                time::format(generation),
                generation - now
            ),
        ));
    }
    if age > max_age {
        return Err(fail(
            Exit::Refused,
            format!(
                "refused: expired: {what} was generated at {} ({} days ago), more than --max-age-days {max_age_days}; \
                 make a new request at the site",
                time::format(generation),
                age / 86_400
            ),
        ));
    }
    Ok(())
}

/// Seconds since the epoch from the system clock.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The time a bundle is created: `SOURCE_DATE_EPOCH` when set (reproducible runs), else the clock.
pub fn created_at() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_taken_from_the_url() {
        assert_eq!(
            host_of("https://PexMgr.example:8443/x"),
            "pexmgr.example:8443"
        );
        assert_eq!(host_of("https://u@h/"), "h");
    }

    #[test]
    fn freshness_refuses_old_and_future_requests() {
        let now = 1_700_000_000;
        check_fresh(now - 86_400, now, 30, "r").unwrap();
        check_fresh(now + 60, now, 30, "r").unwrap();
        let e = check_fresh(now - 31 * 86_400, now, 30, "r").unwrap_err();
        assert!(format!("{e}").contains("expired"), "{e}");
        let e = check_fresh(now + 3600, now, 30, "r").unwrap_err();
        assert!(format!("{e}").contains("future"), "{e}");
        assert!(check_fresh(now - 10, now, 0, "r").is_err());
    }
}
