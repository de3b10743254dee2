//! `forja site convert PROFILE --output SITE.toml`: a single-host profile turned into a site profile with one
//! `[[hosts]]` entry, the first step to adding a second host without copying the whole profile.
//!
//! What moves into the host entry is what [`super::site`] calls a host's own: `host.hostname` (as `name`), the
//! NICs' MACs and the management address, the Pexip nodes (`pexip.management`, `pexip.conferencing`) and
//! `[install]`. Everything else stays shared, with its comments (the shared part is edited with `toml_edit`, not
//! rewritten). The host entry gets a `capacity` equal to what its nodes need, the least that passes the site's
//! capacity check: the operator should set what the machine really has.
//!
//! The result is checked before it is kept: loaded as a site, its one host must expand to exactly the profile
//! that was converted (compared field by field through serde); otherwise nothing is written and it is a bug
//! (exit 70). A profile that already is a site is refused (exit 2), and so is an output in another folder than
//! the profile: relative paths in it (secrets, keys, images) resolve from the profile's folder.

use std::path::Path;

use toml_edit::{DocumentMut, Item};

use super::load::{Loaded, SecretsNeed, load};
use super::site::{capacity_needed, is_site_file, load_site};
use crate::error::{Exit, fail};

/// Converts the profile at `path`; returns the site profile's text and the host's name. Nothing is written.
pub fn convert(path: &Path) -> anyhow::Result<(String, String)> {
    // Before loading: the single-host loader would only call `hosts` an unknown key.
    if is_site_file(path) {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: already a site profile (it has [[hosts]]); nothing to convert",
                path.display()
            ),
        ));
    }
    let l = load(path, SecretsNeed::IfPresent)?;
    let mut doc: DocumentMut = l
        .text
        .parse()
        .map_err(|e| fail(Exit::Input, format!("{}: not TOML: {e}", path.display())))?;
    let name = l.profile.host.hostname.to_string();
    let mut host = toml::Table::new();
    host.insert("name".into(), toml::Value::String(name.clone()));
    let (cpus, memory_mb, vmstore_gb) = capacity_needed(&l);
    let mut cap = toml::Table::new();
    cap.insert("cpus".into(), toml::Value::Integer(cpus as i64));
    cap.insert("memory-mb".into(), toml::Value::Integer(memory_mb as i64));
    cap.insert("vmstore-gb".into(), toml::Value::Integer(vmstore_gb as i64));
    host.insert("capacity".into(), toml::Value::Table(cap));
    take(&mut doc, &["host", "hostname"]);
    for (nic, keys) in [
        ("management", &["mac", "address"][..]),
        ("vm", &["mac"][..]),
    ] {
        for k in keys {
            if let Some(v) = take(&mut doc, &["network", nic, k]) {
                put(&mut host, &["network", nic, k], v);
            }
        }
    }
    for k in ["management", "conferencing"] {
        if let Some(v) = take(&mut doc, &["pexip", k]) {
            put(&mut host, &["pexip", k], v);
        }
    }
    if let Some(v) = take(&mut doc, &["install"]) {
        put(&mut host, &["install"], v);
    }
    let mut hosts = toml::Table::new();
    hosts.insert(
        "hosts".into(),
        toml::Value::Array(vec![toml::Value::Table(host)]),
    );
    let entry = toml::to_string(&hosts)
        .map_err(|e| fail(Exit::Internal, format!("writing the host entry: {e}")))?;
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = format!(
        "{}\n\n# The site's hosts (`forja site convert` moved this host's own values here from {file}). capacity is \
         what its\n# nodes need, the least the site check accepts: set what the machine really has (§27). Add a \
         host with\n# another [[hosts]] entry: name, capacity, MACs, address, the nodes it runs.\n{entry}",
        doc.to_string().trim_end()
    );
    Ok((text, name))
}

/// Writes the conversion of `profile` to `output` (a new file beside the profile), after checking that its one
/// host expands back to the profile.
pub fn write(profile: &Path, output: &Path) -> anyhow::Result<String> {
    crate::artifact::require_parent(output, "--output")?;
    let folder = |p: &Path| {
        p.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .canonicalize()
            .ok()
    };
    if folder(profile) != folder(output) {
        return Err(fail(
            Exit::Input,
            format!(
                "--output {}: write the site profile beside {} (its relative paths, e.g. the secrets file and the \
                 keys, resolve from the profile's folder)",
                output.display(),
                profile.display()
            ),
        ));
    }
    if output.exists() {
        return Err(fail(
            Exit::Input,
            format!(
                "--output {}: already exists; refusing to overwrite it",
                output.display()
            ),
        ));
    }
    let (text, name) = convert(profile)?;
    let original = load(profile, SecretsNeed::IfPresent)?;
    let staged = crate::artifact::partial_path(output);
    std::fs::write(&staged, &text)?;
    let same = same_host(&original, &staged, &name);
    match same {
        Ok(()) => {
            std::fs::rename(&staged, output)?;
            Ok(name)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            Err(e)
        }
    }
}

/// The site at `site` has one host, `name`, whose expanded profile is `original`'s.
fn same_host(original: &Loaded, site: &Path, name: &str) -> anyhow::Result<()> {
    let s = load_site(site, SecretsNeed::IfPresent).map_err(|e| {
        fail(
            Exit::Internal,
            format!("the converted profile does not load: {e:#}"),
        )
    })?;
    let host = match s.hosts.as_slice() {
        [h] if h.profile.host.hostname == name => h,
        _ => {
            return Err(fail(
                Exit::Internal,
                "the converted profile does not hold exactly the one host",
            ));
        }
    };
    let a = serde_json::to_value(&original.profile)?;
    let b = serde_json::to_value(&host.profile)?;
    if a != b {
        return Err(fail(
            Exit::Internal,
            format!(
                "the converted profile's host differs from {}",
                original.path.display()
            ),
        ));
    }
    Ok(())
}

/// Removes `doc`'s item at `path` (a dotted key path through tables) and returns it as a plain TOML value.
fn take(doc: &mut DocumentMut, path: &[&str]) -> Option<toml::Value> {
    let (last, parents) = path.split_last()?;
    let mut t: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    for p in parents {
        t = t.get_mut(p)?.as_table_like_mut()?;
    }
    let item = t.remove(last)?;
    plain(item)
}

/// A `toml_edit` item as a `toml` value, through its text (comments and layout dropped).
fn plain(item: Item) -> Option<toml::Value> {
    let mut d = DocumentMut::new();
    d.insert("v", item);
    let t: toml::Table = toml::from_str(&d.to_string()).ok()?;
    t.get("v").cloned()
}

/// Sets `path` in `t`, making tables on the way.
fn put(t: &mut toml::Table, path: &[&str], v: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = t;
    for p in parents {
        let next = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(tt) = next else {
            return;
        };
        cur = tt;
    }
    cur.insert(last.to_string(), v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_removes_a_nested_value_and_returns_it() {
        let mut d: DocumentMut =
            "[network.management] # nic\nmac = \"52:54:00:0a:00:01\"\ngateway = \"192.0.2.1\"\n"
                .parse()
                .unwrap();
        let v = take(&mut d, &["network", "management", "mac"]).unwrap();
        assert_eq!(v.as_str(), Some("52:54:00:0a:00:01"));
        let left = d.to_string();
        assert!(
            !left.contains("mac") && left.contains("gateway") && left.contains("# nic"),
            "{left}"
        );
        assert!(take(&mut d, &["network", "vm", "mac"]).is_none());
    }

    #[test]
    fn arrays_of_tables_come_out_whole() {
        let mut d: DocumentMut =
            "[[pexip.conferencing]]\nname = \"a\"\n[[pexip.conferencing]]\nname = \"b\"\n"
                .parse()
                .unwrap();
        let v = take(&mut d, &["pexip", "conferencing"]).unwrap();
        let names: Vec<_> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a", "b"]);
        let mut host = toml::Table::new();
        put(&mut host, &["pexip", "conferencing"], v);
        assert!(
            toml::to_string(&host)
                .unwrap()
                .contains("[[pexip.conferencing]]")
        );
    }
}
