//! The root stage after composition: split the composed tree into the read-only root and the state seed, make the
//! root's EROFS image and its dm-verity tree.
//!
//! The split follows the plan's [`StatePlan`]: the tree's `/var` moves into the state seed (the root keeps an empty
//! mount point), each `/etc` piece that must stay writable moves to `/var/lib/forja/etc/...` and leaves a link in the
//! root, and what belongs to the slot rather than the device (the package database) stays in the root behind a link
//! from the seed. The image ships no SSH host keys (each device makes its own) and an empty `/efi` (where the ESP is
//! automounted for boot assessment).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use anyhow::Context;

use crate::compose::tree::host_path;
use crate::error::{Exit, fail};
use crate::exec::Task;
use crate::fs::verity::{self, VerityParams, VerityTree};
use crate::hashio::Sha256;
use crate::plan::disk::{PartitionContent, Slot};
use crate::plan::{Plan, StatePlan};

/// Splits `root` into itself (read-only from now on) and `seed` (the state partition's first content).
pub fn split_state(plan: &StatePlan, root: &Path, seed: &Path) -> anyhow::Result<()> {
    let mount = host_path(root, &plan.mount);
    fs::create_dir_all(seed)?;
    // The image's /var becomes the seed.
    if mount.exists() {
        for e in fs::read_dir(&mount)? {
            let e = e?;
            fs::rename(e.path(), seed.join(e.file_name()))
                .with_context(|| format!("moving {} into the state seed", e.path().display()))?;
        }
    }
    fs::create_dir_all(&mount)?;
    let in_seed = |p: &str| -> anyhow::Result<std::path::PathBuf> {
        let rel = Path::new(p).strip_prefix(&plan.mount).map_err(|_| {
            fail(
                Exit::Internal,
                format!("{p} is not under the state mount {}", plan.mount),
            )
        })?;
        Ok(seed.join(rel))
    };
    for l in &plan.links {
        let from = host_path(root, &l.path);
        let to = in_seed(&l.to)?;
        if let Some(d) = to.parent() {
            fs::create_dir_all(d)?;
        }
        if from.symlink_metadata().is_ok() {
            fs::rename(&from, &to)
                .with_context(|| format!("moving {} into the state seed", l.path))?;
        } else if l.directory {
            fs::create_dir_all(&to)?;
            fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        }
        symlink(&l.to, &from).with_context(|| format!("linking {} to {}", l.path, l.to))?;
    }
    for k in &plan.kept_in_root {
        let from = in_seed(&k.path)?;
        let to = host_path(root, &k.to);
        if let Some(d) = to.parent() {
            fs::create_dir_all(d)?;
        }
        if from.symlink_metadata().is_ok() {
            fs::rename(&from, &to).with_context(|| format!("keeping {} in the root", k.path))?;
        }
        symlink(&k.to, &from).with_context(|| format!("linking {} to {}", k.path, k.to))?;
    }
    // No host key in an image many hosts share; and the mount point of the ESP.
    let ssh = host_path(root, "/etc/ssh");
    if ssh.is_dir() {
        for e in fs::read_dir(&ssh)? {
            let e = e?;
            if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                fs::remove_file(e.path())?;
            }
        }
    }
    fs::create_dir_all(host_path(root, "/efi"))?;
    Ok(())
}

/// Puts the running forja, stripped, at `at` in the root, and proves the root can run it: with the root's own
/// loader and libraries, not the build machine's (a forja built against a newer glibc than the image's would
/// otherwise fail only on the host, the day an update is due).
pub fn install_update_tool(root: &Path, at: &str) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the forja binary")?;
    let dst = host_path(root, at);
    if let Some(d) = dst.parent() {
        fs::create_dir_all(d)?;
    }
    let _ = fs::remove_file(&dst);
    Task::new("stripping forja into the root", "strip")
        .args(["--strip-all", "-o"])
        .arg(&dst)
        .arg(&exe)
        .run()?;
    fs::set_permissions(&dst, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let libs = host_path(root, "/usr/lib/x86_64-linux-gnu");
    let loader = libs.join("ld-linux-x86-64.so.2");
    let out = Task::new("running the root's forja with the root's libraries", loader)
        .arg("--library-path")
        .arg(&libs)
        .arg(&dst)
        .arg("--version")
        .run()?;
    let said = out.stdout_str();
    if !said.starts_with("forja ") {
        return Err(fail(
            Exit::Tool,
            format!("{at} in the root printed {said:?} for --version, not forja's version"),
        ));
    }
    Ok(())
}

/// A slot's root image and its verity tree, as files in the work folder.
#[derive(Debug)]
pub struct RootImages {
    pub root: std::path::PathBuf,
    pub verity: std::path::PathBuf,
    pub tree: VerityTree,
}

/// Makes slot A's EROFS image from `root` and its hash tree, as the plan's partitions describe them.
pub fn images(plan: &Plan, root: &Path, work: &Path) -> anyhow::Result<RootImages> {
    let part = |name: &str| {
        plan.partition(name)
            .ok_or_else(|| fail(Exit::Internal, format!("the plan has no partition {name}")))
    };
    let rp = part(&super::layout::root_name(Slot::A))?;
    let vp = part(&super::layout::verity_name(Slot::A))?;
    let (
        PartitionContent::RootImage { uuid, .. },
        PartitionContent::Verity {
            salt, uuid: vuuid, ..
        },
    ) = (&rp.content, &vp.content)
    else {
        return Err(fail(
            Exit::Internal,
            "the plan's slot A partitions are not a root image and its verity tree",
        ));
    };
    let img = work.join("root-a.erofs");
    let len = crate::fs::erofs::build(root, &img, *uuid, plan.source_date_epoch)?;
    // dm-verity hashes whole 4 KiB blocks: pad the image (EROFS images are block multiples already).
    let data = len.div_ceil(verity::BLOCK) * verity::BLOCK;
    let room = |size: crate::plan::SizeRule| match size {
        crate::plan::SizeRule::Fixed(b) => b,
        crate::plan::SizeRule::FitContent => u64::MAX,
    };
    if data > room(rp.size) {
        return Err(fail(
            Exit::Input,
            format!(
                "the root image is {data} bytes; storage.root-slot-size is {}: raise it (every update must fit too)",
                room(rp.size)
            ),
        ));
    }
    let f = fs::OpenOptions::new().read(true).write(true).open(&img)?;
    f.set_len(data)?;
    let vpath = work.join("root-a.verity");
    let mut out = fs::File::create(&vpath)?;
    let params = VerityParams {
        salt: salt.0,
        uuid: *vuuid,
    };
    let tree = verity::build(&f, 0, data, &mut out, 0, room(vp.size), &params)?;
    Ok(RootImages {
        root: img,
        verity: vpath,
        tree,
    })
}

/// The command line with the measured root hash in place of its placeholder.
pub fn cmdline(template: &str, root_hash: &Sha256) -> String {
    template.replace(crate::plan::ROOTHASH, &root_hash.hex())
}
