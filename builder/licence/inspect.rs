//! `forja licence inspect`: on the connected side, checks an outbound bundle before anyone uploads it, in this
//! order: archive shape, signature by the pinned site key ([`Exit::BadSignature`]), every hash
//! ([`Exit::HashMismatch`]), metadata, and freshness ([`Exit::Refused`]). Then it says what is requested.
//!
//! Without a pinned key the signature is checked against the `site.pub` inside the bundle, which proves only
//! that the bundle is intact, not who made it: the report says so and the command exits with
//! [`Exit::Unverified`].

use std::path::Path;

use serde::Serialize;

use super::audit::Trail;
use super::bundle::{self, Bundle};
use super::{REQUEST_FORMAT, REQUEST_JSON, REQUEST_XML, RequestMeta, SITE_PUB, check_fresh, time};
use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::sign::keys::PublicKey;
use crate::sign::signify;

/// How the signature was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// Against the key the operator pinned.
    Pinned,
    /// Only against the key carried in the bundle.
    Unpinned,
}

/// What an outbound bundle asks for, once checked.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bundle: String,
    pub bundle_sha256: Sha256,
    pub signature: Trust,
    pub signer_fingerprint: String,
    pub entitlement_id: String,
    pub reference: String,
    pub sequence_number: u64,
    pub manager_url: String,
    pub manager_host: String,
    pub manager_ca_sha256: Sha256,
    pub generation_time_utc: String,
    pub age_days: i64,
    pub created_at: String,
    pub forja_version: String,
    pub request_xml_sha256: Sha256,
    pub request_xml_bytes: usize,
    #[serde(skip)]
    pub meta: RequestMeta,
}

impl Report {
    /// The lines an operator reads before uploading.
    pub fn text(&self) -> String {
        let trust = match self.signature {
            Trust::Pinned => format!("valid, by the pinned site key {}", self.signer_fingerprint),
            Trust::Unpinned => format!(
                "NOT CHECKED AGAINST A PINNED KEY: valid only for the key inside the bundle ({}); \
                 compare it with the site's key or pass --pubkey",
                self.signer_fingerprint
            ),
        };
        format!(
            "bundle           {}\nsha256           {}\nsignature        {trust}\nhashes           ok\n\
             entitlement      {}\nreference        {}\nsequence number  {}\nmanager          {} (CA sha256 {})\n\
             generated        {} ({} days ago)\ncreated          {} by forja {}\nrequest.xml      {} bytes, sha256 {}\n",
            self.bundle,
            self.bundle_sha256,
            self.entitlement_id,
            self.reference,
            self.sequence_number,
            self.manager_host,
            self.manager_ca_sha256,
            self.generation_time_utc,
            self.age_days,
            self.created_at,
            self.forja_version,
            self.request_xml_bytes,
            self.request_xml_sha256,
        )
    }
}

/// Checks an outbound bundle; see the module comment for the order and exit codes.
pub fn inspect(
    path: &Path,
    key: Option<&PublicKey>,
    max_age_days: u64,
    now: i64,
    trail: &mut Trail,
) -> anyhow::Result<Report> {
    let b = bundle::read(path)?;
    trail.bundle_sha256 = Some(b.sha256);
    check(&b, key, max_age_days, now, trail)
}

/// [`inspect`] on a bundle already read.
pub fn check(
    b: &Bundle,
    key: Option<&PublicKey>,
    max_age_days: u64,
    now: i64,
    trail: &mut Trail,
) -> anyhow::Result<Report> {
    let (trust, signer) = match key {
        Some(k) => (Trust::Pinned, *k),
        None => {
            let carried = signify::decode_public(b.get(SITE_PUB)?).map_err(|m| {
                fail(
                    Exit::BadSignature,
                    format!("{}: {SITE_PUB} is not a signify public key: {m}", b.label),
                )
            })?;
            (Trust::Unpinned, carried)
        }
    };
    b.check_signature(&signer)?;
    b.check_sums(&[REQUEST_XML, REQUEST_JSON])?;
    let meta: RequestMeta = b.json(REQUEST_JSON)?;
    if meta.format != REQUEST_FORMAT {
        return Err(fail(
            Exit::BadArchive,
            format!(
                "{}: {REQUEST_JSON} has format {:?}, expected {REQUEST_FORMAT:?}",
                b.label, meta.format
            ),
        ));
    }
    trail.reference = Some(meta.reference.clone());
    trail.sequence_number = Some(meta.sequence_number);
    let generation = meta.generation_epoch()?;
    check_fresh(
        generation,
        now,
        max_age_days,
        &format!(
            "licence request {} (sequence {})",
            meta.reference, meta.sequence_number
        ),
    )?;
    let xml = b.get(REQUEST_XML)?;
    Ok(Report {
        bundle: b.label.clone(),
        bundle_sha256: b.sha256,
        signature: trust,
        signer_fingerprint: signer.fingerprint(),
        entitlement_id: meta.entitlement_id.clone(),
        reference: meta.reference.clone(),
        sequence_number: meta.sequence_number,
        manager_url: meta.manager.url.clone(),
        manager_host: meta.manager.host.clone(),
        manager_ca_sha256: meta.manager.ca_sha256,
        generation_time_utc: time::format(generation),
        age_days: now.saturating_sub(generation).max(0) / 86_400,
        created_at: meta.created_at.clone(),
        forja_version: meta.forja_version.clone(),
        request_xml_sha256: Sha256::of(xml),
        request_xml_bytes: xml.len(),
        meta,
    })
}
