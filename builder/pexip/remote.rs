//! Reading the Management Node for `apply` and `audit`: GET a singleton, list a resource (Tastypie `{meta,
//! objects}`, following `meta.next`), find an object by a field, resolve a plan body's references (secrets,
//! `uri_of`) against what the manager holds, and compare a planned value with the one the manager returns.
//!
//! Comparison rules (what the manager returns is not always what it was sent):
//! - numbers compare by value (`5` and `5.0`);
//! - a related object may come back nested (`{"id", "resource_uri", ...}`, as the SDK's `NTPServer` inside
//!   `ManagementVM`) or as its URI: both compare by `resource_uri`; URIs compare without scheme and host;
//! - a list of related objects compares as a set;
//! - PEM text compares without trailing whitespace.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::client::Client;
use crate::error::{Exit, fail};
use crate::profile::secrets::{SecretRef, Secrets};

/// The manager, as `apply` and `audit` reach it.
#[derive(Debug)]
pub struct Remote<'a> {
    pub client: &'a Client,
    /// `https://manager` (no path).
    pub manager: &'a str,
    pub secrets: &'a Secrets,
}

/// What to do with a reference to an object the manager does not have (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// A dry run or an audit: stand in a description and note the field.
    Describe,
    /// A real run: an earlier step should have made it, so it is an error.
    Fail,
}

/// A body with its references resolved, how to show each field, and the fields whose reference found nothing.
#[derive(Debug, Default)]
pub struct Resolved {
    pub body: Map<String, Value>,
    pub shown: BTreeMap<String, String>,
    pub unresolved: Vec<String>,
}

impl Remote<'_> {
    pub fn url(&self, path: &str) -> String {
        let base = self.manager.trim_end_matches('/');
        match path.strip_prefix('/') {
            Some(rest) => format!("{base}/{rest}"),
            None => format!("{base}/api/admin/{path}"),
        }
    }

    pub fn get_json(&self, path: &str, what: &str) -> anyhow::Result<Value> {
        let r = self.client.expect("GET", &self.url(path), None, what)?;
        serde_json::from_str(&r.body).map_err(|e| {
            fail(
                Exit::Remote,
                format!("{what}: GET {path}: the manager's answer is not JSON: {e}"),
            )
        })
    }

    /// A singleton as an object.
    pub fn object(&self, path: &str, what: &str) -> anyhow::Result<Map<String, Value>> {
        match self.get_json(path, what)? {
            Value::Object(o) => Ok(o),
            _ => Err(fail(
                Exit::Remote,
                format!("{what}: GET {path}: the answer is not a JSON object"),
            )),
        }
    }

    /// All objects of a list resource.
    pub fn list(&self, path: &str, what: &str) -> anyhow::Result<Vec<Map<String, Value>>> {
        let mut out = Vec::new();
        let mut next = Some(format!("{path}?limit=0"));
        while let Some(p) = next.take() {
            let v = self.get_json(&p, what)?;
            let objects = v.get("objects").and_then(Value::as_array).ok_or_else(|| {
                fail(
                    Exit::Remote,
                    format!("{what}: GET {path}: no `objects` list in the answer"),
                )
            })?;
            out.extend(objects.iter().filter_map(|o| o.as_object().cloned()));
            next = v
                .pointer("/meta/next")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        Ok(out)
    }

    /// The object of list `path` whose `field` is `value`.
    pub fn find(
        &self,
        path: &str,
        field: &str,
        value: &Value,
        what: &str,
    ) -> anyhow::Result<Option<Map<String, Value>>> {
        Ok(self
            .list(path, what)?
            .into_iter()
            .find(|o| same(o.get(field), value)))
    }

    /// Resolves every reference of a plan body.
    pub fn resolve(&self, body: &Value, what: &str, missing: Missing) -> anyhow::Result<Resolved> {
        let obj = body.as_object().ok_or_else(|| {
            fail(
                Exit::Input,
                format!("{what}: the plan's body is not a JSON object"),
            )
        })?;
        let mut r = Resolved::default();
        for (k, v) in obj {
            let (value, shown, found) = self.resolve_value(k, v, what, missing)?;
            if !found {
                r.unresolved.push(k.clone());
            }
            r.body.insert(k.clone(), value);
            r.shown.insert(k.clone(), shown);
        }
        Ok(r)
    }

    /// One value: `(resolved, how to show it, whether every reference in it was found)`.
    fn resolve_value(
        &self,
        field: &str,
        v: &Value,
        what: &str,
        missing: Missing,
    ) -> anyhow::Result<(Value, String, bool)> {
        if let Some(name) = secret_name(v) {
            let s = self
                .secrets
                .get(&SecretRef {
                    secret: name.to_owned(),
                })
                .ok_or_else(|| {
                    fail(
                        Exit::Input,
                        format!(
                            "{what}: field `{field}` needs secret `{name}`, which {} does not define",
                            self.secrets.path.display()
                        ),
                    )
                })?;
            return Ok((
                Value::String(s.expose().to_owned()),
                format!("<secret:{name}>"),
                true,
            ));
        }
        if let Some(r) = UriOf::of(v) {
            let found = self.find(r.path, r.field, r.value, what)?;
            return match found.and_then(|o| o.get("resource_uri").cloned()) {
                Some(uri) => Ok((uri.clone(), uri.to_string(), true)),
                None if missing == Missing::Describe => {
                    let d = r.describe();
                    Ok((Value::String(d.clone()), d, false))
                }
                None => Err(fail(
                    Exit::Remote,
                    format!(
                        "{what}: field `{field}` refers to {}, which the manager does not have",
                        r.describe()
                    ),
                )),
            };
        }
        if let Value::Array(items) = v
            && items.iter().any(|i| UriOf::of(i).is_some())
        {
            let mut out = Vec::new();
            let mut shown = Vec::new();
            let mut all = true;
            for i in items {
                let (value, s, found) = self.resolve_value(field, i, what, missing)?;
                all &= found;
                out.push(value);
                shown.push(s);
            }
            return Ok((Value::Array(out), format!("[{}]", shown.join(", ")), all));
        }
        Ok((v.clone(), shorten(&v.to_string()), true))
    }
}

/// A `{"uri_of": {"path", "where": {FIELD: VALUE}}}` reference.
#[derive(Debug)]
pub struct UriOf<'v> {
    pub path: &'v str,
    pub field: &'v str,
    pub value: &'v Value,
}

impl<'v> UriOf<'v> {
    pub fn of(v: &'v Value) -> Option<UriOf<'v>> {
        let o = v.as_object().filter(|o| o.len() == 1)?;
        let inner = o.get("uri_of")?.as_object()?;
        let w = inner.get("where")?.as_object().filter(|w| w.len() == 1)?;
        let (field, value) = w.iter().next()?;
        Some(UriOf {
            path: inner.get("path")?.as_str()?,
            field,
            value,
        })
    }

    pub fn describe(&self) -> String {
        let resource = self
            .path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("");
        format!(
            "<{resource} with {} = {}, made by an earlier step>",
            self.field,
            shorten(&self.value.to_string())
        )
    }
}

fn secret_name(v: &Value) -> Option<&str> {
    let o = v.as_object().filter(|o| o.len() == 1)?;
    o.get("secret")?.as_str()
}

/// A value short enough for one line of a report (PEM text is long).
pub fn shorten(s: &str) -> String {
    if s.chars().count() <= 72 {
        return s.to_owned();
    }
    let head: String = s.chars().take(60).collect();
    format!("{head}…({} characters)", s.chars().count())
}

/// Whether the value the manager returns is the planned one (rules in the module comment).
pub fn same(current: Option<&Value>, want: &Value) -> bool {
    let Some(current) = current else {
        return false;
    };
    match (current, want) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            let mut a: Vec<String> = a.iter().map(comparable).collect();
            let mut b: Vec<String> = b.iter().map(comparable).collect();
            a.sort();
            b.sort();
            a == b
        }
        (a, b) => comparable(a) == comparable(b),
    }
}

/// A related object by its URI, a URI without scheme and host, PEM without trailing whitespace.
fn comparable(v: &Value) -> String {
    match v {
        Value::Object(o) if o.contains_key("resource_uri") => comparable(&o["resource_uri"]),
        Value::String(s) if s.contains("/api/admin/") => {
            s[s.find("/api/admin/").unwrap_or(0)..].to_owned()
        }
        Value::String(s) if s.contains("-----BEGIN ") => s.trim_end().to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(same(Some(&json!(5.0)), &json!(5)));
        assert!(!same(None, &json!(false)));
    }

    #[test]
    fn nested_objects_and_uris_compare_by_uri_and_lists_as_sets() {
        let nested = json!([
            {"id": 2, "resource_uri": "/api/admin/configuration/v1/ntp_server/2/"},
            {"id": 1, "resource_uri": "/api/admin/configuration/v1/ntp_server/1/"}
        ]);
        let want = json!([
            "https://m/api/admin/configuration/v1/ntp_server/1/",
            "/api/admin/configuration/v1/ntp_server/2/"
        ]);
        assert!(same(Some(&nested), &want));
        assert!(!same(Some(&json!([])), &want));
    }

    #[test]
    fn uri_of_reads_its_where_clause() {
        let v = json!({"uri_of": {"path": "configuration/v1/system_location/", "where": {"name": "x"}}});
        let r = UriOf::of(&v).unwrap();
        assert_eq!(
            (r.path, r.field, r.value),
            ("configuration/v1/system_location/", "name", &json!("x"))
        );
        assert!(
            r.describe()
                .starts_with("<system_location with name = \"x\"")
        );
    }
}
