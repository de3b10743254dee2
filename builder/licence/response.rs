//! `forja licence response`: on the connected side, packs the vendor's answer into an inbound bundle bound to
//! the outbound bundle it answers: `response.xml` (the answer, opaque), `response.json` (the outbound bundle's
//! SHA-256, reference, sequence number) and `SHA256SUMS`.
//!
//! The connected machine has no site secret key, so the site does not sign this bundle. Its integrity is checked
//! at the site by its hashes and by the binding to an outbound bundle the site recorded; the answer itself is
//! judged by the Management Node. `--signing-key KEY` adds a signify signature by a separate courier key
//! (`SHA256SUMS.sig`, `courier.pub`), which `apply --courier-pubkey` then requires.
//!
//! The outbound bundle is fully checked first (pinned key, hashes, age), so an answer is never packed for a
//! request that would not pass `inspect`. The bundle is a pure function of its inputs ([`inbound`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::Context;

use super::audit::Trail;
use super::bundle::{self, MAX_BUNDLE};
use super::inspect::{self, Report};
use super::{COURIER_PUB, RESPONSE_FORMAT, RESPONSE_JSON, RESPONSE_XML, ResponseMeta};
use crate::artifact::write_atomic;
use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::sign::keys::{PublicKey, SigningKey};

/// What `response` needs.
#[derive(Debug)]
pub struct Options<'a> {
    pub outbound: &'a Path,
    pub response: &'a Path,
    pub site_key: &'a PublicKey,
    pub courier: Option<&'a SigningKey>,
    pub max_age_days: u64,
    pub now: i64,
    pub out: &'a Path,
}

/// The metadata binding an answer to the request a checked outbound bundle carries.
pub fn meta_for(report: &Report) -> ResponseMeta {
    ResponseMeta {
        format: RESPONSE_FORMAT.into(),
        request_bundle_sha256: report.bundle_sha256,
        reference: report.reference.clone(),
        sequence_number: report.sequence_number,
        entitlement_id: report.entitlement_id.clone(),
        manager_host: report.manager_host.clone(),
        generation_time_utc: report.generation_time_utc.clone(),
        forja_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The inbound bundle's bytes.
pub fn inbound(
    meta: &ResponseMeta,
    response: &[u8],
    courier: Option<&SigningKey>,
) -> anyhow::Result<Vec<u8>> {
    let mtime = super::time::parse(&meta.generation_time_utc)
        .and_then(|t| u64::try_from(t).ok())
        .unwrap_or(0);
    let payload = BTreeMap::from([
        (RESPONSE_XML.to_owned(), response.to_vec()),
        (RESPONSE_JSON.to_owned(), crate::artifact::json_lines(meta)?),
    ]);
    bundle::pack(
        &bundle::seal(payload, courier.map(|k| (k, COURIER_PUB)))?,
        mtime,
    )
}

/// Checks the outbound bundle, reads the answer and writes the inbound bundle.
pub fn response(opts: &Options<'_>, trail: &mut Trail) -> anyhow::Result<(ResponseMeta, Sha256)> {
    let report = inspect::inspect(
        opts.outbound,
        Some(opts.site_key),
        opts.max_age_days,
        opts.now,
        trail,
    )?;
    trail.request_bundle_sha256 = trail.bundle_sha256.take();
    let label = opts.response.display();
    let file =
        crate::inbound::open_regular(opts.response).context("cannot read the vendor's response")?;
    let mut answer = Vec::new();
    file.take(MAX_BUNDLE / 2 + 1)
        .read_to_end(&mut answer)
        .map_err(|e| {
            fail(
                Exit::Input,
                format!("{label}: cannot read the vendor's response: {e}"),
            )
        })?;
    if answer.len() as u64 > MAX_BUNDLE / 2 {
        return Err(fail(
            Exit::Input,
            format!(
                "{label}: larger than {} bytes; not a licence response",
                MAX_BUNDLE / 2
            ),
        ));
    }
    if answer.iter().all(u8::is_ascii_whitespace) {
        return Err(fail(
            Exit::Input,
            format!("{label}: the response file is empty"),
        ));
    }
    if std::str::from_utf8(&answer).is_err() {
        // GUESS: the manager takes the answer as the text field `response_xml`; a binary file cannot be sent so.
        return Err(fail(
            Exit::Input,
            format!(
                "{label}: the response is not UTF-8 text; the manager takes it as the text field response_xml"
            ),
        ));
    }
    let meta = meta_for(&report);
    let bytes = inbound(&meta, &answer, opts.courier)?;
    let sha = Sha256::of(&bytes);
    trail.bundle_sha256 = Some(sha);
    write_atomic(opts.out, &bytes)?;
    Ok((meta, sha))
}
