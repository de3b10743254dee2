//! Applies a plan to a running Management Node, idempotently.
//!
//! - Singletons (`.../1/`, PATCH): GET the object, PATCH only the fields that differ.
//! - List resources (POST with a `key`): GET the list, find the object whose `key` field matches; PATCH its
//!   differing fields, or POST it when missing.
//! - Nodes (`worker_vm` with `then`): POST registers the node and returns its XML deployment file, which is sent
//!   to the node's bootstrap endpoint; then `status/v1/worker_vm/<id>/` is polled until `sync_status` is
//!   `SYNCED` (bounded by a timeout, with progress lines).
//!
//! Resuming after a failure relies on that idempotence: run `apply` again and every step already done reports
//! "unchanged". The one thing idempotence cannot recover is a node's deployment file (only its POST returns it),
//! so it is kept beside the plan in `PLAN.state/NAME.deployment.xml` (mode 0600) until the node is SYNCED.
//!
//! Secret fields are compared with what the manager returns. GUESS: if a real manager masks a secret in GET
//! responses, that field is re-sent on every run (a harmless PATCH, reported as a change).
//!
//! The diff names fields and shows plain values; a secret field shows only `<secret:NAME>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Map, Value};

use super::client::Client;
use super::plan::{Entry, Method};
use crate::artifact::write_atomic_private;
use crate::error::{Exit, fail};
use crate::profile::secrets::{SecretRef, Secrets};

/// A node's deployment XML is a few kilobytes.
const MAX_DEPLOYMENT_XML: u64 = 1 << 20;

/// How `apply` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// `https://manager` (no path).
    pub manager: String,
    pub dry_run: bool,
    /// Overrides of nodes' bootstrap URLs by node name (tests, NAT).
    pub node_urls: BTreeMap<String, String>,
    pub sync_timeout: Duration,
    pub poll_interval: Duration,
    /// Where deployment files wait for their node (`PLAN.state/`).
    pub state_dir: PathBuf,
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub changed: usize,
    pub unchanged: usize,
}

/// The state folder beside a plan file.
pub fn state_dir_for(plan: &Path) -> PathBuf {
    let name = plan
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plan".into());
    plan.with_file_name(format!("{name}.state"))
}

struct Ctx<'a> {
    client: &'a Client,
    nodes: &'a Client,
    secrets: &'a Secrets,
    opts: &'a Options,
    out: &'a mut dyn std::io::Write,
}

/// A body value with its references resolved, and how to show each field.
struct Resolved {
    body: Map<String, Value>,
    shown: BTreeMap<String, String>,
}

impl Ctx<'_> {
    fn url(&self, path: &str) -> String {
        if let Some(rest) = path.strip_prefix('/') {
            format!("{}/{rest}", self.opts.manager.trim_end_matches('/'))
        } else {
            format!(
                "{}/api/admin/{path}",
                self.opts.manager.trim_end_matches('/')
            )
        }
    }

    fn say(&mut self, line: String) -> anyhow::Result<()> {
        writeln!(self.out, "{line}").context("writing the report")
    }

    fn get_json(&self, path: &str, what: &str) -> anyhow::Result<Value> {
        let r = self.client.expect("GET", &self.url(path), None, what)?;
        serde_json::from_str(&r.body).map_err(|e| {
            fail(
                Exit::Remote,
                format!("{what}: GET {path}: the manager's answer is not JSON: {e}"),
            )
        })
    }

    /// All objects of a list resource (Tastypie `{meta, objects}`), following `meta.next`.
    fn list(&self, path: &str, what: &str) -> anyhow::Result<Vec<Map<String, Value>>> {
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

    fn resolve(&self, body: &Value, what: &str) -> anyhow::Result<Resolved> {
        let obj = body.as_object().ok_or_else(|| {
            fail(
                Exit::Input,
                format!("{what}: the plan's body is not a JSON object"),
            )
        })?;
        let mut r = Resolved {
            body: Map::new(),
            shown: BTreeMap::new(),
        };
        for (k, v) in obj {
            let (value, shown) = if let Some(name) = secret_name(v) {
                let s = self
                    .secrets
                    .get(&SecretRef {
                        secret: name.to_owned(),
                    })
                    .ok_or_else(|| {
                        fail(
                            Exit::Input,
                            format!(
                                "{what}: field `{k}` needs secret `{name}`, which {} does not define",
                                self.secrets.path.display()
                            ),
                        )
                    })?;
                (
                    Value::String(s.expose().to_owned()),
                    format!("<secret:{name}>"),
                )
            } else if let Some((path, name)) = uri_of(v) {
                let found = self
                    .list(path, what)?
                    .into_iter()
                    .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
                    .and_then(|o| o.get("resource_uri").cloned());
                match found {
                    Some(uri) => {
                        let shown = uri.to_string();
                        (uri, shown)
                    }
                    None if self.opts.dry_run => (
                        Value::String(format!("<{path} `{name}`, created by an earlier step>")),
                        format!("<{path} `{name}`, created by an earlier step>"),
                    ),
                    None => {
                        return Err(fail(
                            Exit::Remote,
                            format!(
                                "{what}: field `{k}` refers to {path} `{name}`, which the manager does not have"
                            ),
                        ));
                    }
                }
            } else {
                (v.clone(), v.to_string())
            };
            r.body.insert(k.clone(), value);
            r.shown.insert(k.clone(), shown);
        }
        Ok(r)
    }

    fn differing(&self, current: &Map<String, Value>, want: &Resolved) -> Vec<String> {
        want.body
            .iter()
            .filter(|(k, v)| !same(current.get(*k), v))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn describe(&self, current: &Map<String, Value>, want: &Resolved, fields: &[String]) -> String {
        fields
            .iter()
            .map(|k| {
                let new = &want.shown[k];
                if new.starts_with("<secret:") {
                    format!("{k} = {new}")
                } else {
                    let old = current
                        .get(k)
                        .map(Value::to_string)
                        .unwrap_or_else(|| "(unset)".into());
                    format!("{k}: {} -> {new}", self.client.scrub(&old))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn patch(
        &mut self,
        url_path: &str,
        fields: &[String],
        want: &Resolved,
        what: &str,
    ) -> anyhow::Result<()> {
        let body: Map<String, Value> = fields
            .iter()
            .map(|k| (k.clone(), want.body[k].clone()))
            .collect();
        let bytes = serde_json::to_vec(&body)?;
        self.client.expect(
            "PATCH",
            &self.url(url_path),
            Some(("application/json", bytes)),
            what,
        )?;
        Ok(())
    }

    fn entry(&mut self, e: &Entry) -> anyhow::Result<bool> {
        let what = format!("{} {}", method_str(e.method), e.path);
        let want = self.resolve(&e.body, &what)?;
        match (e.method, &e.key) {
            (Method::Patch, _) => {
                let current = self
                    .get_json(&e.path, &what)?
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let diff = self.differing(&current, &want);
                if diff.is_empty() {
                    self.say(format!("= {} unchanged", e.path))?;
                    return Ok(false);
                }
                let d = self.describe(&current, &want, &diff);
                self.say(format!("~ {} {d}", e.path))?;
                if !self.opts.dry_run {
                    self.patch(&e.path, &diff, &want, &what)?;
                }
                Ok(true)
            }
            (Method::Post, Some(key)) => {
                let key_value = want.body.get(key).cloned().ok_or_else(|| {
                    fail(
                        Exit::Input,
                        format!("{what}: the body has no `{key}`, the field that identifies it"),
                    )
                })?;
                let label = format!("{} {key}={}", e.path, want.shown[key]);
                let existing = self
                    .list(&e.path, &what)?
                    .into_iter()
                    .find(|o| o.get(key) == Some(&key_value));
                match existing {
                    Some(current) => {
                        // A node's password is not readable back; the other fields are compared.
                        let mut diff = self.differing(&current, &want);
                        if e.then.is_some() {
                            diff.retain(|k| k != "password");
                        }
                        let mut changed = false;
                        if diff.is_empty() {
                            self.say(format!("= {label} unchanged"))?;
                        } else {
                            let d = self.describe(&current, &want, &diff);
                            self.say(format!("~ {label} {d}"))?;
                            changed = true;
                            if !self.opts.dry_run {
                                let uri = current
                                    .get("resource_uri")
                                    .and_then(Value::as_str)
                                    .ok_or_else(|| {
                                        fail(
                                            Exit::Remote,
                                            format!("{what}: object has no resource_uri"),
                                        )
                                    })?
                                    .to_owned();
                                self.patch(&uri, &diff, &want, &what)?;
                            }
                        }
                        if e.then.is_some() {
                            changed |= self.finish_node(e, &current_id(&current)?, None)?;
                        }
                        Ok(changed)
                    }
                    None => {
                        let fields: Vec<String> =
                            want.shown.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        self.say(format!("+ {} {}", e.path, fields.join(", ")))?;
                        if self.opts.dry_run {
                            if let Some(t) = &e.then {
                                self.say(format!(
                                    "+ POST {} (deployment file of {})",
                                    self.node_url(e, t),
                                    want.shown[key]
                                ))?;
                            }
                            return Ok(true);
                        }
                        let bytes = serde_json::to_vec(&want.body)?;
                        let r = self.client.expect(
                            "POST",
                            &self.url(&e.path),
                            Some(("application/json", bytes)),
                            &what,
                        )?;
                        if e.then.is_some() {
                            let id = r
                                .location
                                .as_deref()
                                .and_then(id_from_uri)
                                .ok_or_else(|| {
                                    fail(
                                        Exit::Remote,
                                        format!("{what}: the manager answered {} without a Location naming the new node", r.status),
                                    )
                                })?;
                            self.finish_node(e, &id, Some(r.body))?;
                        }
                        Ok(true)
                    }
                }
            }
            (Method::Post, None) => Err(fail(
                Exit::Input,
                format!(
                    "{what}: a POST in the plan needs a `key` (the field that identifies the object)"
                ),
            )),
        }
    }

    fn node_name(e: &Entry) -> String {
        e.body
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("node")
            .to_owned()
    }

    fn node_url(&self, e: &Entry, t: &super::plan::Then) -> String {
        self.opts
            .node_urls
            .get(&Self::node_name(e))
            .cloned()
            .unwrap_or_else(|| t.bootstrap.clone())
    }

    /// Bootstrap (if a deployment file is at hand) and wait for the node to be in sync. Returns whether
    /// anything was sent.
    fn finish_node(&mut self, e: &Entry, id: &str, fresh: Option<String>) -> anyhow::Result<bool> {
        let Some(t) = &e.then else { return Ok(false) };
        let name = Self::node_name(e);
        let status_path = format!("status/v1/worker_vm/{id}/");
        let saved = self.opts.state_dir.join(format!("{name}.deployment.xml"));
        if let Some(xml) = &fresh {
            std::fs::create_dir_all(&self.opts.state_dir)
                .with_context(|| format!("creating {}", self.opts.state_dir.display()))?;
            write_atomic_private(&saved, xml.as_bytes())?;
        }
        let what = format!("node {name}");
        if fresh.is_none() {
            let st = self.get_json(&status_path, &what)?;
            if st.get("sync_status").and_then(Value::as_str)
                == Some(t.wait_for_sync_status.as_str())
            {
                self.say(format!("= node {name} {}", t.wait_for_sync_status))?;
                let _ = std::fs::remove_file(&saved);
                return Ok(false);
            }
        }
        let mut sent = false;
        if saved.exists() {
            if self.opts.dry_run {
                self.say(format!(
                    "+ POST {} (saved deployment file of {name})",
                    self.node_url(e, t)
                ))?;
                return Ok(true);
            }
            let xml = crate::inbound::read_capped(&saved, MAX_DEPLOYMENT_XML)
                .with_context(|| format!("reading {}", saved.display()))?;
            let url = self.node_url(e, t);
            self.say(format!("> bootstrapping node {name} at {url}"))?;
            self.nodes
                .expect("POST", &url, Some(("text/xml", xml)), &what)?;
            sent = true;
        } else if fresh.is_none() {
            self.say(format!(
                "! node {name} exists but is not {}, and no deployment file is kept in {}; waiting for it",
                t.wait_for_sync_status,
                self.opts.state_dir.display()
            ))?;
        }
        if self.opts.dry_run {
            return Ok(sent);
        }
        let start = Instant::now();
        loop {
            let st = self.get_json(&status_path, &what)?;
            let status = st
                .get("sync_status")
                .and_then(Value::as_str)
                .unwrap_or("(none)")
                .to_owned();
            if status == t.wait_for_sync_status {
                self.say(format!(
                    "  node {name}: {status} after {:.1} s",
                    start.elapsed().as_secs_f64()
                ))?;
                let _ = std::fs::remove_file(&saved);
                return Ok(true);
            }
            if start.elapsed() >= self.opts.sync_timeout {
                return Err(fail(
                    Exit::Remote,
                    format!(
                        "node {name}: still `{status}` after {} s (waiting for {}); check the node's console, then run apply again",
                        self.opts.sync_timeout.as_secs(),
                        t.wait_for_sync_status
                    ),
                ));
            }
            self.say(format!("  node {name}: {status}, waiting"))?;
            std::thread::sleep(self.opts.poll_interval);
        }
    }
}

fn method_str(m: Method) -> &'static str {
    match m {
        Method::Patch => "PATCH",
        Method::Post => "POST",
    }
}

fn secret_name(v: &Value) -> Option<&str> {
    let o = v.as_object()?;
    if o.len() == 1 {
        o.get("secret")?.as_str()
    } else {
        None
    }
}

fn uri_of(v: &Value) -> Option<(&str, &str)> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    let inner = o.get("uri_of")?.as_object()?;
    Some((inner.get("path")?.as_str()?, inner.get("name")?.as_str()?))
}

/// Equal, treating integers and integral floats alike.
fn same(current: Option<&Value>, want: &Value) -> bool {
    match (current, want) {
        (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Some(a), b) => a == b,
        (None, _) => false,
    }
}

/// `/api/admin/configuration/v1/worker_vm/7/` → `7`.
fn id_from_uri(uri: &str) -> Option<String> {
    let id = uri.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
}

fn current_id(o: &Map<String, Value>) -> anyhow::Result<String> {
    if let Some(id) = o.get("id") {
        return Ok(match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    o.get("resource_uri")
        .and_then(Value::as_str)
        .and_then(id_from_uri)
        .ok_or_else(|| {
            fail(
                Exit::Remote,
                "an existing node has neither id nor resource_uri",
            )
        })
}

/// Applies `plan` in order, writing one line per step to `out`.
pub fn apply(
    plan: &[Entry],
    secrets: &Secrets,
    client: &Client,
    nodes: &Client,
    opts: &Options,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<Summary> {
    super::client::require_https(&opts.manager, "--manager")?;
    let mut ctx = Ctx {
        client,
        nodes,
        secrets,
        opts,
        out,
    };
    let mut summary = Summary::default();
    for (i, e) in plan.iter().enumerate() {
        let changed = ctx
            .entry(e)
            .with_context(|| format!("plan step {} of {}", i + 1, plan.len()))?;
        if changed {
            summary.changed += 1;
        } else {
            summary.unchanged += 1;
        }
    }
    let verdict = if summary.changed == 0 {
        "no changes".to_owned()
    } else if opts.dry_run {
        format!("{} step(s) would change", summary.changed)
    } else {
        format!("{} step(s) changed", summary.changed)
    };
    ctx.say(format!(
        "{verdict}, {} unchanged{}",
        summary.unchanged,
        if opts.dry_run { " (dry run)" } else { "" }
    ))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_resource_uris() {
        assert_eq!(
            id_from_uri("https://m/api/admin/configuration/v1/worker_vm/12/").as_deref(),
            Some("12")
        );
        assert_eq!(id_from_uri("/x/abc/"), None);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(same(Some(&serde_json::json!(5.0)), &serde_json::json!(5)));
        assert!(!same(None, &serde_json::json!(false)));
    }
}
