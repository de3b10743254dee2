//! A node after its registration: the deployment file the `worker_vm` POST returned goes to the node's bootstrap
//! port (`text/xml`), then `status/v1/worker_vm/<id>/` is polled until `sync_status` is `SYNCED` (bounded by a
//! timeout, with progress lines).
//!
//! The one thing idempotence cannot recover is a node's deployment file (only its POST returns it), so it is
//! kept beside the plan in `PLAN.state/NAME.deployment.xml` (mode 0600) until the node is SYNCED.
//! GUESS: the status endpoint shares the configuration id of a `worker_vm`.

use std::time::Instant;

use anyhow::Context;
use serde_json::{Map, Value};

use super::Ctx;
use crate::artifact::write_atomic_private;
use crate::error::{Exit, fail};
use crate::pexip::plan::{Entry, Then};

/// A node's deployment XML is a few kilobytes.
const MAX_DEPLOYMENT_XML: u64 = 1 << 20;

pub(super) fn name(e: &Entry) -> String {
    e.body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("node")
        .to_owned()
}

/// `/api/admin/configuration/v1/worker_vm/7/` → `7`.
pub(super) fn id_from_uri(uri: &str) -> Option<String> {
    let id = uri.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
}

pub(super) fn current_id(o: &Map<String, Value>) -> anyhow::Result<String> {
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

impl Ctx<'_> {
    pub(super) fn node_url(&self, e: &Entry, t: &Then) -> String {
        self.opts
            .node_urls
            .get(&name(e))
            .cloned()
            .unwrap_or_else(|| t.bootstrap.clone())
    }

    /// Bootstrap (if a deployment file is at hand) and wait for the node to be in sync. Returns whether
    /// anything was sent.
    pub(super) fn finish_node(
        &mut self,
        e: &Entry,
        id: &str,
        fresh: Option<String>,
    ) -> anyhow::Result<bool> {
        let Some(t) = &e.then else { return Ok(false) };
        let name = name(e);
        let status_path = format!("status/v1/worker_vm/{id}/");
        let saved = self.opts.state_dir.join(format!("{name}.deployment.xml"));
        if let Some(xml) = &fresh {
            std::fs::create_dir_all(&self.opts.state_dir)
                .with_context(|| format!("creating {}", self.opts.state_dir.display()))?;
            write_atomic_private(&saved, xml.as_bytes())?;
        }
        let what = format!("node {name}");
        if fresh.is_none() {
            let st = self.remote.get_json(&status_path, &what)?;
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
        self.wait_for_sync(&name, &status_path, t, &what)?;
        let _ = std::fs::remove_file(&saved);
        Ok(true)
    }

    fn wait_for_sync(
        &mut self,
        name: &str,
        status_path: &str,
        t: &Then,
        what: &str,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let st = self.remote.get_json(status_path, what)?;
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
                return Ok(());
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
}
