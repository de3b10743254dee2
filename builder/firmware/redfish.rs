//! Talking Redfish: requests over a [`Transport`] (HTTPS in use, an in-memory BMC in unit tests), DMTF error
//! bodies turned into messages that name the resource, and typed reads of the fields forja needs.
//!
//! The HTTPS transport is the Pexip client ([`crate::pexip::client::Client`]): https only, the certificate
//! checked against `--ca` and nothing else, no proxy, no redirects, HTTP basic authentication, every secret
//! value scrubbed from error text. rustls speaks TLS 1.2 and 1.3; sushy-emulator (the test BMC) speaks only 1.2.
//!
//! Every link forja follows comes from the BMC's own answers (`@odata.id`, action `target`), so a path must be a
//! path on this service: an absolute URL to another host is refused, never sent the credentials.

use serde_json::Value;

use crate::error::{Exit, fail};
use crate::pexip::client::Client;

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends one request to the BMC. `path` is a path on the service (`/redfish/v1/...`).
pub trait Transport {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Reply>;
    /// Removes secret values from a text meant for people.
    fn scrub(&self, text: &str) -> String {
        text.to_owned()
    }
}

/// The BMC over HTTPS.
#[derive(Debug)]
pub struct Https {
    client: Client,
    base: String,
}

impl Https {
    /// `base` is the BMC's URL (`https://bmc.example`); a trailing slash or `/redfish/v1` is dropped.
    pub fn new(client: Client, base: &str) -> Self {
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/redfish/v1").unwrap_or(base);
        Https {
            client,
            base: base.to_owned(),
        }
    }
}

impl Transport for Https {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Reply> {
        let body = match body {
            Some(v) => Some(("application/json", serde_json::to_vec(v)?)),
            None => None,
        };
        let r = self.client.send(
            method,
            &format!("{}{path}", self.base),
            body,
            &format!("{method} {path}"),
        )?;
        Ok(Reply {
            status: r.status,
            body: r.body,
            location: r.location,
        })
    }

    fn scrub(&self, text: &str) -> String {
        self.client.scrub(text)
    }
}

/// Redfish requests with DMTF error decoding.
pub struct Redfish<'a> {
    t: &'a dyn Transport,
}

impl std::fmt::Debug for Redfish<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redfish { .. }")
    }
}

impl<'a> Redfish<'a> {
    pub fn new(t: &'a dyn Transport) -> Self {
        Redfish { t }
    }

    /// Sends a request and returns whatever status came back; only the transport can fail here.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Reply> {
        check_path(path)?;
        self.t.call(method, path, body)
    }

    /// GETs a resource, which must exist and be a JSON object.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        match self.get_if_exists(path)? {
            Some(v) => Ok(v),
            None => Err(fail(
                Exit::Remote,
                format!("GET {path}: the BMC answered 404: the resource does not exist"),
            )),
        }
    }

    /// GETs a resource; `None` when the BMC answers 404 (not there) or 405/501 (not implemented).
    pub fn get_if_exists(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let r = self.send("GET", path, None)?;
        if matches!(r.status, 404 | 405 | 501) {
            return Ok(None);
        }
        if !r.ok() {
            return Err(self.refused("GET", path, &r));
        }
        let v: Value = serde_json::from_str(&r.body).map_err(|e| {
            fail(
                Exit::Remote,
                format!("GET {path}: the BMC's answer is not JSON: {e}"),
            )
        })?;
        if !v.is_object() {
            return Err(fail(
                Exit::Remote,
                format!("GET {path}: the BMC's answer is not a JSON object"),
            ));
        }
        Ok(Some(v))
    }

    /// A write that must succeed (any 2xx).
    pub fn write(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<Reply> {
        let r = self.send(method, path, Some(body))?;
        if r.ok() {
            Ok(r)
        } else {
            Err(self.refused(method, path, &r))
        }
    }

    /// The error for a refused request: status, resource and the BMC's own message.
    pub fn refused(&self, method: &str, path: &str, r: &Reply) -> anyhow::Error {
        fail(
            Exit::Remote,
            self.t.scrub(&format!(
                "{method} {path}: the BMC answered HTTP {}: {}",
                r.status,
                dmtf_message(&r.body)
            )),
        )
    }
}

/// Refuses anything but a path on the same service.
fn check_path(path: &str) -> anyhow::Result<()> {
    if path.starts_with('/') && !path.starts_with("//") {
        Ok(())
    } else {
        Err(fail(
            Exit::Remote,
            format!(
                "the BMC linked to `{path}`, which is not a path on this service; forja does not follow it"
            ),
        ))
    }
}

/// The message of a DMTF error body (`error.@Message.ExtendedInfo[]`: MessageId, Message, RelatedProperties),
/// or the body itself, shortened, when it is not one (sushy answers some errors in plain text).
pub fn dmtf_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let Some(err) = parsed.as_ref().and_then(|v| v.get("error")) else {
        let t: String = body.trim().chars().take(300).collect();
        return if t.is_empty() {
            "(no message)".into()
        } else {
            t
        };
    };
    let mut parts = Vec::new();
    let infos = err
        .get("@Message.ExtendedInfo")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for i in &infos {
        let id = i.get("MessageId").and_then(Value::as_str).unwrap_or("");
        let msg = i.get("Message").and_then(Value::as_str).unwrap_or("");
        let props: Vec<&str> = i
            .get("RelatedProperties")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut p = format!("{id}: {msg}");
        if !props.is_empty() {
            p.push_str(&format!(" [{}]", props.join(", ")));
        }
        parts.push(p);
    }
    if parts.is_empty() {
        let code = err.get("code").and_then(Value::as_str).unwrap_or("");
        let msg = err.get("message").and_then(Value::as_str).unwrap_or("");
        parts.push(format!("{code}: {msg}"));
    }
    parts.join("; ")
}

/// Typed reads of a resource's fields: a missing field is `None`, a field of the wrong type is an
/// [`Exit::Remote`] error naming the resource and the field.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'v> {
    pub path: &'v str,
    pub value: &'v Value,
}

impl<'v> Resource<'v> {
    pub fn new(path: &'v str, value: &'v Value) -> Self {
        Resource { path, value }
    }

    fn field(&self, field: &str) -> Option<&'v Value> {
        let mut v = self.value;
        for part in field.split('.') {
            v = v.get(part)?;
        }
        (!v.is_null()).then_some(v)
    }

    fn wrong(&self, field: &str, want: &str) -> anyhow::Error {
        fail(
            Exit::Remote,
            format!(
                "GET {}: field `{field}` is not {want} as Redfish defines it",
                self.path
            ),
        )
    }

    pub fn str(&self, field: &str) -> anyhow::Result<Option<String>> {
        match self.field(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong(field, "a string")),
        }
    }

    pub fn bool(&self, field: &str) -> anyhow::Result<Option<bool>> {
        match self.field(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong(field, "a boolean")),
        }
    }

    pub fn strings(&self, field: &str) -> anyhow::Result<Option<Vec<String>>> {
        match self.field(field) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.wrong(field, "an array of strings")),
            Some(_) => Err(self.wrong(field, "an array of strings")),
        }
    }

    /// A navigation link: `{"@odata.id": "/redfish/v1/..."}`.
    pub fn link(&self, field: &str) -> anyhow::Result<Option<String>> {
        match self.field(field) {
            None => Ok(None),
            Some(v) => match v.get("@odata.id") {
                Some(Value::String(s)) => Ok(Some(s.clone())),
                _ => Err(self.wrong(field, "a link ({\"@odata.id\": ...})")),
            },
        }
    }

    /// An action's target: `Actions["#Name"].target`.
    pub fn action(&self, name: &str) -> anyhow::Result<Option<String>> {
        match self.value.get("Actions").and_then(|a| a.get(name)) {
            None | Some(Value::Null) => Ok(None),
            Some(a) => match a.get("target") {
                Some(Value::String(s)) => Ok(Some(s.clone())),
                _ => Err(self.wrong(&format!("Actions.{name}.target"), "a string")),
            },
        }
    }
}

/// The member paths of a collection, following `Members@odata.nextLink` pages.
pub fn members(rf: &Redfish, path: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(p) = next.take() {
        let v = rf.get(&p)?;
        let r = Resource::new(&p, &v);
        let list = v
            .get("Members")
            .and_then(Value::as_array)
            .ok_or_else(|| r.wrong("Members", "an array of links"))?;
        for m in list {
            match m.get("@odata.id").and_then(Value::as_str) {
                Some(s) => out.push(s.to_owned()),
                None => return Err(r.wrong("Members", "an array of links")),
            }
        }
        next = r.str("Members@odata.nextLink")?;
        if out.len() > 4096 {
            return Err(fail(
                Exit::Remote,
                format!("GET {path}: more than 4096 members; refusing to page further"),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dmtf_errors_name_the_message_and_the_property() {
        let body = json!({"error": {"code": "Base.1.16.GeneralError", "message": "x",
            "@Message.ExtendedInfo": [{"MessageId": "Base.1.16.PropertyValueNotInList",
            "Message": "BootOrder values ['disk'] are not BootOptionReference values",
            "RelatedProperties": ["#/Boot/BootOrder"]}]}});
        assert_eq!(
            dmtf_message(&body.to_string()),
            "Base.1.16.PropertyValueNotInList: BootOrder values ['disk'] are not BootOptionReference values [#/Boot/BootOrder]"
        );
        // sushy-tools 2.2.0 answers some 400s in plain text despite its JSON content type.
        assert_eq!(
            dmtf_message("PATCH only works for Boot and IndicatorLED elements\n"),
            "PATCH only works for Boot and IndicatorLED elements"
        );
        let plain = json!({"error": {"code": "Base.1.0.GeneralError", "message": "Authorization required"}});
        assert_eq!(
            dmtf_message(&plain.to_string()),
            "Base.1.0.GeneralError: Authorization required"
        );
    }

    #[test]
    fn wrong_types_name_the_resource_and_field() {
        let v = json!({"Boot": {"BootOrder": "Boot0001", "BootSourceOverrideTarget": "Hdd"}});
        let r = Resource::new("/redfish/v1/Systems/1", &v);
        assert_eq!(
            r.str("Boot.BootSourceOverrideTarget").unwrap().as_deref(),
            Some("Hdd")
        );
        let err = r.strings("Boot.BootOrder").unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::Remote);
        assert_eq!(
            err.to_string(),
            "GET /redfish/v1/Systems/1: field `Boot.BootOrder` is not an array of strings as Redfish defines it"
        );
        assert_eq!(r.bool("Boot.Missing").unwrap(), None);
    }

    #[test]
    fn links_to_other_hosts_are_not_followed() {
        assert!(check_path("/redfish/v1/Systems").is_ok());
        for p in [
            "https://evil.example/redfish/v1",
            "//evil.example/x",
            "redfish/v1",
        ] {
            let err = check_path(p).unwrap_err();
            assert!(
                err.to_string().contains("not a path on this service"),
                "{p}"
            );
        }
    }
}
