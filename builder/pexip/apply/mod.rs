//! Applies a plan to a running Management Node, idempotently.
//!
//! - Singletons (`.../1/`, PATCH): GET the object, PATCH only the fields that differ, together with the entry's
//!   write-only fields (secrets the manager never returns) whenever anything else of the entry changes.
//! - List resources (POST with a `key`): GET the list, find the object whose `key` field matches; PATCH its
//!   differing fields, or POST it whole (write-only and create-only fields included) when missing.
//! - Nodes (`worker_vm` with `then`): see [`node`].
//!
//! Write-only fields are never compared (the manager does not return them): a changed secret reaches an existing
//! object only with `--resend-secrets`, which sends every write-only field again. Create-only fields (a CSR's key
//! type) are sent by the creating POST only: sending them again could make the manager create a new key.
//!
//! Resuming after a failure relies on that idempotence: run `apply` again and every step already done reports
//! "unchanged". The diff names fields and shows plain values; a secret field shows only `<secret:NAME>`.

mod node;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Map, Value};

use super::client::Client;
use super::plan::{Entry, Method};
use super::remote::{Missing, Remote, Resolved, same};
use crate::error::{Exit, fail};
use crate::profile::secrets::Secrets;

/// How `apply` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// `https://manager` (no path).
    pub manager: String,
    pub dry_run: bool,
    /// Send every write-only field (secrets) again, e.g. after rotating a password.
    pub resend_secrets: bool,
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
    remote: Remote<'a>,
    nodes: &'a Client,
    opts: &'a Options,
    out: &'a mut dyn std::io::Write,
}

impl Ctx<'_> {
    fn say(&mut self, line: String) -> anyhow::Result<()> {
        writeln!(self.out, "{line}").context("writing the report")
    }

    /// The readable fields whose value differs from `current`.
    fn differing(e: &Entry, current: &Map<String, Value>, want: &Resolved) -> Vec<String> {
        want.body
            .iter()
            .filter(|(k, v)| e.readable(k) && !same(current.get(*k), v))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn describe(&self, current: &Map<String, Value>, want: &Resolved, fields: &[String]) -> String {
        fields
            .iter()
            .map(|k| {
                let new = &want.shown[k];
                if new.starts_with("<secret:") {
                    return format!("{k} = {new}");
                }
                let old = current
                    .get(k)
                    .map(|v| super::remote::shorten(&v.to_string()))
                    .unwrap_or_else(|| "(unset)".into());
                format!("{k}: {} -> {new}", self.remote.client.scrub(&old))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: &Map<String, Value>,
        what: &str,
    ) -> anyhow::Result<super::client::Response> {
        let bytes = serde_json::to_vec(body)?;
        self.remote.client.expect(
            method,
            &self.remote.url(path),
            Some(("application/json", bytes)),
            what,
        )
    }

    fn entry(&mut self, e: &Entry) -> anyhow::Result<bool> {
        let what = format!("{} {}", e.method.as_str(), e.path);
        let missing = if self.opts.dry_run {
            Missing::Describe
        } else {
            Missing::Fail
        };
        let want = self.remote.resolve(&e.body, &what, missing)?;
        match (e.method, &e.key) {
            (Method::Patch, _) => self.singleton(e, &want, &what),
            (Method::Post, Some(key)) => self.listed(e, key, &want, &what),
            (Method::Post, None) => Err(fail(
                Exit::Input,
                format!(
                    "{what}: a POST in the plan needs a `key` (the field that identifies the object)"
                ),
            )),
        }
    }

    fn singleton(&mut self, e: &Entry, want: &Resolved, what: &str) -> anyhow::Result<bool> {
        let current = self.remote.object(&e.path, what)?;
        let mut fields = Self::differing(e, &current, want);
        let resend = self.opts.resend_secrets && !e.write_only.is_empty();
        if fields.is_empty() && !resend {
            self.say(format!("= {} unchanged", e.path))?;
            return Ok(false);
        }
        fields.extend(
            e.write_only
                .iter()
                .filter(|f| want.body.contains_key(*f))
                .cloned(),
        );
        let d = self.describe(&current, want, &fields);
        self.say(format!("~ {} {d}", e.path))?;
        if !self.opts.dry_run {
            let body = fields
                .iter()
                .map(|k| (k.clone(), want.body[k].clone()))
                .collect();
            self.send("PATCH", &e.path, &body, what)?;
        }
        Ok(true)
    }

    fn listed(
        &mut self,
        e: &Entry,
        key: &str,
        want: &Resolved,
        what: &str,
    ) -> anyhow::Result<bool> {
        let key_value = want.body.get(key).cloned().ok_or_else(|| {
            fail(
                Exit::Input,
                format!("{what}: the body has no `{key}`, the field that identifies it"),
            )
        })?;
        let label = format!("{} {key}={}", e.path, want.shown[key]);
        match self.remote.find(&e.path, key, &key_value, what)? {
            Some(current) => self.update(e, &current, want, &label, what),
            None => self.create(e, want, what),
        }
    }

    fn update(
        &mut self,
        e: &Entry,
        current: &Map<String, Value>,
        want: &Resolved,
        label: &str,
        what: &str,
    ) -> anyhow::Result<bool> {
        let mut fields = Self::differing(e, current, want);
        if self.opts.resend_secrets {
            fields.extend(
                e.write_only
                    .iter()
                    .filter(|f| want.body.contains_key(*f))
                    .cloned(),
            );
        }
        let mut changed = false;
        if fields.is_empty() {
            self.say(format!("= {label} unchanged"))?;
        } else {
            let d = self.describe(current, want, &fields);
            self.say(format!("~ {label} {d}"))?;
            changed = true;
            if !self.opts.dry_run {
                let uri = current
                    .get("resource_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        fail(Exit::Remote, format!("{what}: object has no resource_uri"))
                    })?
                    .to_owned();
                let body = fields
                    .iter()
                    .map(|k| (k.clone(), want.body[k].clone()))
                    .collect();
                self.send("PATCH", &uri, &body, what)?;
            }
        }
        if e.then.is_some() {
            changed |= self.finish_node(e, &node::current_id(current)?, None)?;
        }
        Ok(changed)
    }

    fn create(&mut self, e: &Entry, want: &Resolved, what: &str) -> anyhow::Result<bool> {
        let fields: Vec<String> = want
            .shown
            .iter()
            .map(|(k, v)| format!("{k}={}", super::remote::shorten(v)))
            .collect();
        self.say(format!("+ {} {}", e.path, fields.join(", ")))?;
        if self.opts.dry_run {
            if let Some(t) = &e.then {
                let url = self.node_url(e, t);
                let name = node::name(e);
                self.say(format!("+ POST {url} (deployment file of {name})"))?;
            }
            return Ok(true);
        }
        let r = self.send("POST", &e.path, &want.body, what)?;
        if e.then.is_some() {
            let id = r
                .location
                .as_deref()
                .and_then(node::id_from_uri)
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
        remote: Remote {
            client,
            manager: &opts.manager,
            secrets,
        },
        nodes,
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
