//! A saved plan is outside input: `forja build --plan` executes what it says, so every path and name in it is
//! checked before anything is done. Paths inside the image are absolute and made of plain names (no `..`, no
//! control characters: the self-check manifest is line-based); names in the output folder and the payload are
//! relative plain names; node and bridge names follow the profile's rules; sizes stay within what a disk can be.
//!
//! A plan that `resolve` made always passes (tested); a plan edited by hand passes only if it stays inside the
//! image tree and the output folder.

use std::path::Path;

use super::disk::SizeRule;
use super::{BaseSource, Plan};
use crate::profile::names::{BridgeName, ObjectName, PackageName};

/// The largest partition a plan may ask for (1 PiB): beyond any real disk, far below overflow.
pub const MAX_PARTITION: u64 = 1 << 50;

/// Refuses a plan that would read or write outside the image tree or the output folder.
pub fn check(plan: &Plan) -> Result<(), String> {
    if let BaseSource::Mmdebstrap { packages, .. } = &plan.base {
        for p in packages {
            p.parse::<PackageName>()
                .map_err(|e| format!("base.packages: {e}"))?;
        }
    }
    let r = &plan.root;
    for f in &r.overlays {
        image_path("root.overlays", &f.path)?;
    }
    for f in &r.generated {
        image_path("root.generated", &f.path)?;
    }
    for e in &r.edits {
        image_path("root.edits", &e.path)?;
    }
    image_path("root.selfcheck.factory", &r.selfcheck.factory)?;
    for c in &r.selfcheck.covers {
        image_path("root.selfcheck.covers", c)?;
    }
    for f in &plan.boot.esp {
        relative("boot.esp", &f.path)?;
    }
    for i in &plan.boot.artifact_images {
        file_name("boot.artifact-images.artifact", &i.artifact)?;
        if !plan.artifacts.contains(&i.artifact) {
            return Err(format!(
                "boot.artifact-images: {} is not among the plan's artifacts",
                i.artifact
            ));
        }
    }
    for l in &r.state.links {
        image_path("root.state.links.path", &l.path)?;
        image_path("root.state.links.to", &l.to)?;
    }
    for k in &r.state.kept_in_root {
        image_path("root.state.kept-in-root.path", &k.path)?;
        image_path("root.state.kept-in-root.to", &k.to)?;
    }
    for n in &plan.payload.nodes {
        n.name
            .parse::<ObjectName>()
            .map_err(|e| format!("payload.nodes.name: {e}"))?;
        n.bridge
            .parse::<BridgeName>()
            .map_err(|e| format!("payload.nodes.bridge: {e}"))?;
        file_name("payload.nodes.disk", &n.disk)?;
        if let Some(d) = &n.config_drive {
            file_name("payload.nodes.config-drive", d)?;
        }
        if let Some(m) = &n.mac {
            m.parse::<crate::profile::net::Mac>()
                .map_err(|e| format!("payload.nodes.mac: {e}"))?;
        }
    }
    for o in &plan.outputs {
        relative("outputs.name", &o.name)?;
    }
    if let Some(d) = &plan.config_drive {
        relative("config-drive.name", &d.name)?;
        relative("config-drive.user-data", &d.user_data)?;
    }
    for a in &plan.artifacts {
        relative("artifacts", a)?;
    }
    for p in &plan.disk {
        if let SizeRule::Fixed(b) = p.size
            && b > MAX_PARTITION
        {
            return Err(format!(
                "disk: partition {} asks for {b} bytes, more than any disk (at most {MAX_PARTITION})",
                p.name
            ));
        }
    }
    Ok(())
}

fn no_controls(what: &str, s: &str) -> Result<(), String> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!("{what}: {s:?} holds the control character {c:?}")),
        None => Ok(()),
    }
}

/// An absolute path inside the image: `/` and plain names.
fn image_path(what: &str, s: &str) -> Result<(), String> {
    no_controls(what, s)?;
    let rest = s
        .strip_prefix('/')
        .ok_or_else(|| format!("{what}: {s:?} is not an absolute path inside the image"))?;
    match crate::inbound::relative_problem(Path::new(rest)) {
        None => Ok(()),
        Some(why) => Err(format!(
            "{what}: {s:?} is not a path inside the image ({why})"
        )),
    }
}

/// A relative path of plain names (in the output folder, on the ESP).
fn relative(what: &str, s: &str) -> Result<(), String> {
    no_controls(what, s)?;
    match crate::inbound::relative_problem(Path::new(s)) {
        None => Ok(()),
        Some(why) => Err(format!(
            "{what}: {s:?} is not a path inside the output folder ({why})"
        )),
    }
}

/// One plain file name (no folder).
fn file_name(what: &str, s: &str) -> Result<(), String> {
    relative(what, s)?;
    if Path::new(s).components().count() != 1 || s.starts_with('.') {
        return Err(format!("{what}: {s:?} is not a plain file name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside() {
        assert!(image_path("x", "/etc/hostname").is_ok());
        for bad in ["etc/x", "/etc/../../x", "/", "/etc/x\nroot:", "/../x"] {
            assert!(image_path("x", bad).is_err(), "{bad:?}");
        }
        assert!(relative("x", "pexip/install-sheet.md").is_ok());
        for bad in ["../x", "/abs", "a/../../b", ""] {
            assert!(relative("x", bad).is_err(), "{bad:?}");
        }
        assert!(file_name("x", "pexmgr-config-2.iso").is_ok());
        for bad in ["a/b", "..", ".hidden", "../../x-config-2.iso"] {
            assert!(file_name("x", bad).is_err(), "{bad:?}");
        }
    }
}
