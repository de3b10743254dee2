//! `forja licence apply`: at the site, checks an inbound bundle and hands the vendor's answer to the
//! Management Node. Checks, in order, each with its own message:
//! 1. archive shape ([`Exit::BadArchive`]); the courier signature by the key the site pinned (`--courier-pubkey`):
//!    a missing one is [`Exit::Unverified`], a broken one [`Exit::BadSignature`]. Only with the explicit
//!    `--accept-unsigned-response` does an answer go on without it, and the audit trail records that override;
//! 2. every hash ([`Exit::HashMismatch`]): a tampered bundle stops here;
//! 3. **wrong site**: the outbound bundle it answers is not in this site's state ([`Exit::Refused`]);
//! 4. **mismatch**: its reference, sequence number or manager differ from what the site recorded;
//! 5. **replay**: the site already applied an answer to that request;
//! 6. **expired**: the request is older than `--max-age-days`;
//! 7. on the manager: the request is still stored with the same reference and sequence number (else mismatch)
//!    and not answered yet (else replay).
//!
//! Then (GUESS, the mechanism is not public) `PATCH configuration/v1/licence_request/<id>/ {"response_xml"}`,
//! and the licence counts as active once `configuration/v1/licence/` lists our `entitlement_id`. Only then is the
//! request marked applied in the state.

use std::path::Path;

use serde_json::{Value, json};

use super::audit::Trail;
use super::bundle;
use super::request::{api, stored_requests};
use super::state::{Issued, State, Status};
use super::{
    COURIER_PUB, RESPONSE_FORMAT, RESPONSE_JSON, RESPONSE_XML, ResponseMeta, check_fresh, host_of,
    time,
};
use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::pexip::client::Client;
use crate::sign::keys::PublicKey;

/// What `apply` needs besides the client and the state.
#[derive(Debug)]
pub struct Options<'a> {
    pub inbound: &'a Path,
    pub manager: &'a str,
    /// The courier key the site pinned; the bundle must carry a signature that verifies with it.
    pub courier: Option<&'a PublicKey>,
    /// The operator's explicit override: apply an answer without a courier signature (logged and audited).
    pub accept_unsigned: bool,
    pub max_age_days: u64,
    pub now: i64,
}

/// The override's name in the audit trail and in messages.
pub const ACCEPT_UNSIGNED: &str = "--accept-unsigned-response";

/// What was applied.
#[derive(Debug, Clone)]
pub struct Applied {
    pub meta: ResponseMeta,
    pub request_id: String,
    pub licence: Value,
}

fn refused(msg: String) -> anyhow::Error {
    fail(Exit::Refused, format!("refused: {msg}"))
}

/// Checks and applies an inbound bundle; see the module comment.
pub fn apply(
    client: &Client,
    opts: &Options<'_>,
    state: &mut State,
    trail: &mut Trail,
) -> anyhow::Result<Applied> {
    let b = bundle::read(opts.inbound)?;
    trail.bundle_sha256 = Some(b.sha256);
    check_courier(&b, opts, trail)?;
    let (meta, answer) = contents(&b, trail)?;
    let issued = check_issued(&b, &meta, opts, state)?;
    let stored = stored_requests(client, opts.manager)?;
    let on_manager = stored
        .iter()
        .find(|s| s.reference == issued.reference)
        .ok_or_else(|| {
            refused(format!(
                "mismatched request: the manager no longer holds request {} (sequence {}); \
             it was replaced or removed: make a new request",
                issued.reference, issued.sequence_number
            ))
        })?;
    if on_manager.sequence_number != issued.sequence_number {
        return Err(refused(format!(
            "mismatched request: the manager's request {} has sequence {}, the answer is for sequence {}",
            issued.reference, on_manager.sequence_number, issued.sequence_number
        )));
    }
    // The same answer already on the manager: an earlier run submitted it and stopped before recording it
    // (e.g. the confirmation failed). Confirm and record instead of sending it again.
    let resumed = on_manager.response_xml.trim() == answer.trim();
    if on_manager.answered() && !resumed {
        return Err(refused(format!(
            "replay: the manager's request {} is already answered (status {:?})",
            issued.reference, on_manager.status
        )));
    }
    if !resumed {
        let url = api(opts.manager, &format!("licence_request/{}/", on_manager.id));
        client.expect(
            "PATCH",
            &url,
            Some((
                "application/json",
                json!({ "response_xml": answer }).to_string().into_bytes(),
            )),
            "submitting the licence response",
        )?;
    }
    let licence = active_licence(client, opts.manager, &issued.entitlement_id)?;
    state.mark_applied(
        &issued.bundle_sha256,
        time::format(opts.now),
        Sha256::of(answer.as_bytes()),
    )?;
    Ok(Applied {
        meta,
        request_id: on_manager.id.clone(),
        licence,
    })
}

/// Step 1: the courier signature, or the operator's logged override.
fn check_courier(b: &bundle::Bundle, opts: &Options<'_>, trail: &mut Trail) -> anyhow::Result<()> {
    if let Some(key) = opts.courier {
        return b.check_signature(key);
    }
    if !opts.accept_unsigned {
        let carried = if b.members.contains_key(COURIER_PUB) {
            "it carries a courier signature, which only the courier key the site pinned can check"
        } else {
            "it is not signed"
        };
        return Err(fail(
            Exit::Unverified,
            format!(
                "{}: not applied: {carried}. Pass --courier-pubkey COURIER.pub (the key the connected side signs \
                 with `forja licence response --sign`, pinned separately); to apply an unsigned answer anyway, \
                 resting only on its hashes and its binding to a request this site issued, pass {ACCEPT_UNSIGNED} \
                 (recorded in the audit trail)",
                b.label
            ),
        ));
    }
    log::warn!(
        "{}: applying WITHOUT a courier signature ({ACCEPT_UNSIGNED}): its integrity rests only on its hashes \
         and on answering a request this site issued",
        b.label
    );
    trail.override_used = Some(ACCEPT_UNSIGNED);
    Ok(())
}

/// Step 2: the hashes, the metadata and the answer's text.
fn contents(b: &bundle::Bundle, trail: &mut Trail) -> anyhow::Result<(ResponseMeta, String)> {
    b.check_sums(&[RESPONSE_XML, RESPONSE_JSON])?;
    let meta: ResponseMeta = b.json(RESPONSE_JSON)?;
    if meta.format != RESPONSE_FORMAT {
        return Err(fail(
            Exit::BadArchive,
            format!(
                "{}: {RESPONSE_JSON} has format {:?}, expected {RESPONSE_FORMAT:?}",
                b.label, meta.format
            ),
        ));
    }
    trail.request_bundle_sha256 = Some(meta.request_bundle_sha256);
    trail.reference = Some(meta.reference.clone());
    trail.sequence_number = Some(meta.sequence_number);
    let answer = std::str::from_utf8(b.get(RESPONSE_XML)?)
        .map_err(|_| {
            fail(
                Exit::BadArchive,
                format!("{}: {RESPONSE_XML} is not UTF-8 text", b.label),
            )
        })?
        .to_owned();
    if answer.trim().is_empty() {
        return Err(fail(
            Exit::BadArchive,
            format!("{}: {RESPONSE_XML} is empty", b.label),
        ));
    }
    Ok((meta, answer))
}

/// Steps 3 to 6: the request it answers is this site's, matches, was not answered, and is fresh.
fn check_issued(
    b: &bundle::Bundle,
    meta: &ResponseMeta,
    opts: &Options<'_>,
    state: &State,
) -> anyhow::Result<Issued> {
    let issued = state.find(&meta.request_bundle_sha256).cloned().ok_or_else(|| {
        refused(format!(
            "wrong site: {} answers request bundle {}, which this site did not issue (not in {}); \
             it belongs to another site or another state folder",
            b.label,
            meta.request_bundle_sha256,
            state.path().display()
        ))
    })?;
    if issued.reference != meta.reference || issued.sequence_number != meta.sequence_number {
        return Err(refused(format!(
            "mismatched request: {} claims reference {} sequence {}, but request bundle {} is reference {} \
             sequence {}",
            b.label,
            meta.reference,
            meta.sequence_number,
            issued.bundle_sha256,
            issued.reference,
            issued.sequence_number
        )));
    }
    if host_of(&issued.manager_url) != host_of(opts.manager) {
        return Err(refused(format!(
            "mismatched request: request {} was made on {}, not on --manager {}",
            issued.reference,
            host_of(&issued.manager_url),
            host_of(opts.manager)
        )));
    }
    if issued.status == Status::Applied {
        return Err(refused(format!(
            "replay: the answer to request {} (sequence {}) was already applied at {}",
            issued.reference,
            issued.sequence_number,
            issued.applied_at.as_deref().unwrap_or("an unrecorded time")
        )));
    }
    let generation = time::parse(&issued.generation_time_utc).ok_or_else(|| {
        fail(
            Exit::Input,
            format!(
                "{}: generation time {:?} of {} is unreadable",
                state.path().display(),
                issued.generation_time_utc,
                issued.reference
            ),
        )
    })?;
    check_fresh(
        generation,
        opts.now,
        opts.max_age_days,
        &format!(
            "licence request {} (sequence {})",
            issued.reference, issued.sequence_number
        ),
    )?;
    Ok(issued)
}

/// GUESS: the licence is active once `configuration/v1/licence/` lists the entitlement.
fn active_licence(client: &Client, manager: &str, entitlement: &str) -> anyhow::Result<Value> {
    let what = "confirming the licence is active";
    let r = client.expect("GET", &api(manager, "licence/?limit=0"), None, what)?;
    let v: Value = serde_json::from_str(&r.body)
        .map_err(|e| fail(Exit::Remote, format!("{what}: the answer is not JSON: {e}")))?;
    v.get("objects")
        .and_then(Value::as_array)
        .and_then(|objs| {
            objs.iter()
                .find(|o| o.get("entitlement_id").and_then(Value::as_str) == Some(entitlement))
        })
        .cloned()
        .ok_or_else(|| {
            fail(
                Exit::Remote,
                format!(
                    "{what}: the manager took the response but lists no licence for entitlement {entitlement}; \
                     check the licensing page of the Management Node"
                ),
            )
        })
}
