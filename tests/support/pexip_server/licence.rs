//! The offline-licence resources of the stand-in. What a real manager does is not public; this server defines
//! the behaviour forja's guesses rely on (documented in docs/licence-runbook.md):
//! - `POST licence/ {"entitlement_id", "offline_mode": true}` stores a `licence_request` (sequence number,
//!   reference, `actions` XML naming both, `generation_time`, `status` "pending", empty `response_xml`) and
//!   creates no licence; online activation (`offline_mode` false) is refused: the site is isolated.
//! - `PATCH licence_request/<id>/ {"response_xml"}` is accepted once, and only for a response that names the
//!   request's `<reference>` (the stand-in for the vendor's own check); then `status` becomes "applied" and
//!   `licence/` lists `{entitlement_id, offline_mode, status: "active"}`.

use serde_json::{Value, json};

use super::{Reply, Request, State, get_plain, json_body, reply, uri};

pub fn licence(
    st: &mut State,
    req: &Request,
    resource: &str,
    id: Option<u64>,
    origin: &str,
) -> Reply {
    match (req.method.as_str(), id) {
        ("GET", _) => get_plain(st, resource, id),
        ("POST", None) if resource == "licence" => request(st, req, origin),
        ("PATCH", Some(id)) if resource == "licence_request" => response(st, req, id),
        _ => reply(405, json!({"error": "method not allowed"})),
    }
}

/// `POST licence/`: an offline licence request.
fn request(st: &mut State, req: &Request, origin: &str) -> Reply {
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

/// `PATCH licence_request/<id>/`: the vendor's response, once.
fn response(st: &mut State, req: &Request, id: u64) -> Reply {
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
