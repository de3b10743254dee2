//! `forja licence request`: asks the Management Node for an offline licence request and writes the signed
//! outbound bundle (`request.xml`, `request.json`, `SHA256SUMS`, `SHA256SUMS.sig`, `site.pub`).
//!
//! The bundle is a pure function of the stored request, the metadata and the key ([`outbound`]): the same inputs
//! (with `SOURCE_DATE_EPOCH` fixing `created_at`) give the same bytes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::audit::Trail;
use super::state::{Issued, State, Status};
use super::{
    Manager, REQUEST_FORMAT, REQUEST_JSON, REQUEST_XML, RequestMeta, SITE_PUB, bundle, time,
};
use crate::artifact::write_atomic;
use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::pexip::client::Client;
use crate::sign::keys::SigningKey;

/// A stored request as the manager serves it from `configuration/v1/licence_request/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: String,
    pub uri: String,
    pub sequence_number: u64,
    pub reference: String,
    pub actions: String,
    pub generation_time: String,
    pub status: String,
    pub response_xml: String,
}

impl Stored {
    /// Reads one object of the list; `None` for an object without the fields a request must have.
    pub fn from_json(v: &Value) -> Option<Stored> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let sequence_number = match v.get("sequence_number")? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        let id = match v.get("id") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => return None,
        };
        Some(Stored {
            uri: text("resource_uri").unwrap_or_else(|| id.clone()),
            id,
            sequence_number,
            reference: text("reference")?,
            actions: text("actions")?,
            generation_time: text("generation_time")?,
            status: text("status").unwrap_or_default(),
            response_xml: text("response_xml").unwrap_or_default(),
        })
    }

    /// GUESS: a request is answered once it holds a response or its status says `applied`.
    pub fn answered(&self) -> bool {
        !self.response_xml.trim().is_empty() || self.status.trim().eq_ignore_ascii_case("applied")
    }
}

/// `https://manager/api/admin/configuration/v1/<path>`.
pub fn api(manager: &str, path: &str) -> String {
    format!(
        "{}/api/admin/configuration/v1/{path}",
        manager.trim_end_matches('/')
    )
}

/// Every stored request the manager lists.
pub fn stored_requests(client: &Client, manager: &str) -> anyhow::Result<Vec<Stored>> {
    let what = "listing stored licence requests";
    let r = client.expect("GET", &api(manager, "licence_request/?limit=0"), None, what)?;
    let v: Value = serde_json::from_str(&r.body)
        .map_err(|e| fail(Exit::Remote, format!("{what}: the answer is not JSON: {e}")))?;
    let objects = v.get("objects").and_then(Value::as_array).ok_or_else(|| {
        fail(
            Exit::Remote,
            format!("{what}: the answer has no `objects` list"),
        )
    })?;
    Ok(objects.iter().filter_map(Stored::from_json).collect())
}

/// What `request` needs besides the client.
#[derive(Debug)]
pub struct Options<'a> {
    pub manager: Manager,
    pub entitlement_id: String,
    pub key: &'a SigningKey,
    pub out: &'a Path,
    pub created_at: i64,
}

/// The outbound bundle's bytes and its metadata for a stored request.
pub fn outbound(stored: &Stored, meta: &RequestMeta, key: &SigningKey) -> anyhow::Result<Vec<u8>> {
    let mtime = u64::try_from(meta.generation_epoch()?).unwrap_or(0);
    let payload = BTreeMap::from([
        (REQUEST_XML.to_owned(), stored.actions.clone().into_bytes()),
        (REQUEST_JSON.to_owned(), crate::artifact::json_lines(meta)?),
    ]);
    bundle::pack(&bundle::seal(payload, Some((key, SITE_PUB)))?, mtime)
}

/// The metadata of a stored request.
pub fn meta_for(stored: &Stored, opts: &Options<'_>) -> anyhow::Result<RequestMeta> {
    let generation = time::parse(&stored.generation_time).ok_or_else(|| {
        fail(
            Exit::Remote,
            format!(
                "stored licence request {}: generation_time {:?} is not an ISO 8601 time",
                stored.reference, stored.generation_time
            ),
        )
    })?;
    Ok(RequestMeta {
        format: REQUEST_FORMAT.into(),
        entitlement_id: opts.entitlement_id.clone(),
        reference: stored.reference.clone(),
        sequence_number: stored.sequence_number,
        generation_time: stored.generation_time.clone(),
        generation_time_utc: time::format(generation),
        request_uri: stored.uri.clone(),
        manager: opts.manager.clone(),
        forja_version: env!("CARGO_PKG_VERSION").into(),
        created_at: time::format(opts.created_at),
    })
}

/// Creates the request on the manager, writes the outbound bundle and records it in `state`.
pub fn request(
    client: &Client,
    opts: &Options<'_>,
    state: &mut State,
    trail: &mut Trail,
) -> anyhow::Result<(RequestMeta, Sha256)> {
    if opts.entitlement_id.trim().is_empty() {
        return Err(fail(Exit::Input, "--entitlement must not be empty"));
    }
    let manager = &opts.manager.url;
    client.expect(
        "POST",
        &api(manager, "licence/"),
        Some((
            "application/json",
            json!({"entitlement_id": opts.entitlement_id, "offline_mode": true})
                .to_string()
                .into_bytes(),
        )),
        "creating the offline licence request",
    )?;
    // GUESS: the request just created is the unanswered one with the highest sequence number.
    let stored = stored_requests(client, manager)?
        .into_iter()
        .filter(|s| !s.answered())
        .max_by_key(|s| s.sequence_number)
        .ok_or_else(|| {
            fail(
                Exit::Remote,
                "the manager accepted the licence request but lists no pending stored request \
                 (configuration/v1/licence_request/)",
            )
        })?;
    trail.reference = Some(stored.reference.clone());
    trail.sequence_number = Some(stored.sequence_number);
    if stored.actions.trim().is_empty() {
        return Err(fail(
            Exit::Remote,
            format!(
                "stored licence request {} has an empty `actions` document",
                stored.reference
            ),
        ));
    }
    let meta = meta_for(&stored, opts)?;
    let bytes = outbound(&stored, &meta, opts.key)?;
    let sha = Sha256::of(&bytes);
    trail.bundle_sha256 = Some(sha);
    write_atomic(opts.out, &bytes)?;
    state.add(Issued {
        bundle_sha256: sha,
        reference: meta.reference.clone(),
        sequence_number: meta.sequence_number,
        entitlement_id: meta.entitlement_id.clone(),
        manager_url: meta.manager.url.clone(),
        generation_time_utc: meta.generation_time_utc.clone(),
        created_at: meta.created_at.clone(),
        status: Status::Pending,
        applied_at: None,
        response_sha256: None,
    })?;
    Ok((meta, sha))
}
