//! Checks of the encrypted VM store and the node images in it.

use super::*;

pub(super) fn check_vmstore(r: &Report, e: &Expected, o: &mut Out) {
    let v = &r.vmstore;
    if !v.is_luks2 {
        o.fail("vmstore", format!("{} is not LUKS2", or_none(&v.device)));
    }
    match &v.luks {
        None => o.fail("vmstore", "no LUKS2 metadata in the report"),
        Some(meta) => check_luks(meta, e, o),
    }
    if !v.mapper_active {
        o.fail("vmstore", "/dev/mapper/vmstore is not open");
    } else if v.mapper_device != v.device {
        o.fail(
            "vmstore",
            format!(
                "/dev/mapper/vmstore is backed by {}; expected the vmstore partition {}",
                or_none(&v.mapper_device),
                v.device
            ),
        );
    }
    let fs = v
        .mount
        .as_ref()
        .and_then(|m| m.get("filesystems"))
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    match fs {
        None => o.fail(
            "vmstore",
            format!("nothing is mounted at {}", e.vmstore_mount),
        ),
        Some(f) => {
            let src = f["source"].as_str().unwrap_or("");
            if src != "/dev/mapper/vmstore" || f["target"] != e.vmstore_mount.as_str() {
                o.fail(
                    "vmstore",
                    format!(
                        "{} is mounted from {src}; expected /dev/mapper/vmstore",
                        e.vmstore_mount
                    ),
                );
            }
        }
    }
    match (
        v.part_start_sectors,
        v.part_size_sectors,
        v.disk_size_sectors,
    ) {
        (Some(start), Some(size), Some(disk)) => {
            let end = start + size;
            // GPT keeps 33 sectors for its backup at the end; allow 1 MiB of alignment on top.
            if end + 33 + 2048 < disk {
                o.fail(
                    "vmstore",
                    format!(
                        "vmstore ends at sector {end} of {disk}: {} MiB of the disk unused; expected it grown to the end",
                        (disk - end) / 2048
                    ),
                );
            }
            if let Some(want) = e.disk_bytes
                && disk * 512 != want
            {
                o.fail(
                    "vmstore",
                    format!(
                        "the guest sees a disk of {} bytes; the test gave it {want}",
                        disk * 512
                    ),
                );
            }
        }
        _ => o.fail(
            "vmstore",
            "the vmstore partition's geometry is missing (no partition labelled vmstore?)",
        ),
    }
    if !is_sha256(&v.key_sha256) {
        o.fail(
            "vmstore",
            format!(
                "no volume key hash (source: {}); cannot compare devices",
                v.key_source
            ),
        );
    }
}

pub(super) fn check_luks(meta: &Value, e: &Expected, o: &mut Out) {
    let empty = serde_json::Map::new();
    let slots = meta["keyslots"].as_object().unwrap_or(&empty);
    let tokens = meta["tokens"].as_object().unwrap_or(&empty);
    let mut bound: BTreeMap<String, String> = BTreeMap::new();
    for t in tokens.values() {
        let ty = t["type"].as_str().unwrap_or("?").to_owned();
        for s in t["keyslots"].as_array().into_iter().flatten() {
            if let Some(s) = s.as_str() {
                bound.insert(s.to_owned(), ty.clone());
            }
        }
    }
    let of_type = |ty: &str| {
        tokens
            .values()
            .filter(|t| t["type"] == ty)
            .collect::<Vec<_>>()
    };
    if e.tpm2 {
        let tpm = of_type("systemd-tpm2");
        match tpm.as_slice() {
            [] => o.fail(
                "vmstore",
                "no systemd-tpm2 token: vmstore is not bound to the TPM",
            ),
            [t] => {
                let pcrs: Vec<u64> = t["tpm2-pcrs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                    .collect();
                if pcrs != e.tpm2_pcrs {
                    o.fail(
                        "vmstore",
                        format!(
                            "TPM2 token bound to PCRs {pcrs:?}; expected {:?}",
                            e.tpm2_pcrs
                        ),
                    );
                }
                let ks = t["keyslots"].as_array().map(Vec::len).unwrap_or(0);
                if ks != 1 {
                    o.fail(
                        "vmstore",
                        format!("TPM2 token covers {ks} keyslots; expected 1"),
                    );
                }
            }
            more => o.fail(
                "vmstore",
                format!("{} systemd-tpm2 tokens; expected 1", more.len()),
            ),
        }
    }
    let rec = of_type("systemd-recovery").len();
    if e.recovery_key && rec != 1 {
        o.fail(
            "vmstore",
            format!("{rec} recovery keyslots (systemd-recovery tokens); expected 1"),
        );
    }
    for (id, t) in tokens {
        for s in t["keyslots"].as_array().into_iter().flatten() {
            if let Some(s) = s.as_str()
                && !slots.contains_key(s)
            {
                o.fail(
                    "vmstore",
                    format!("token {id} names keyslot {s}, which does not exist"),
                );
            }
        }
    }
    let mut passphrase = Vec::new();
    for (id, s) in slots {
        let kdf = s["kdf"]["type"].as_str().unwrap_or("?");
        if bound.contains_key(id) {
            continue;
        }
        passphrase.push(id.clone());
        if kdf != "argon2id" {
            o.fail(
                "vmstore",
                format!("passphrase keyslot {id} uses {kdf}; expected argon2id"),
            );
        }
    }
    if passphrase.len() > e.passphrase_slots {
        o.fail(
            "vmstore",
            format!(
                "{} keyslot(s) without a token ({}); expected {}: a leftover setup keyslot?",
                passphrase.len(),
                passphrase.join(", "),
                e.passphrase_slots
            ),
        );
    } else if passphrase.len() < e.passphrase_slots {
        o.fail(
            "vmstore",
            format!(
                "{} passphrase keyslot(s); the profile's storage.unlock includes passphrase, expected {}",
                passphrase.len(),
                e.passphrase_slots
            ),
        );
    }
}

pub(super) fn check_nodes(r: &Report, e: &Expected, o: &mut Out) {
    let n = &r.nodes;
    let Some(lock) = &n.lock else {
        o.fail(
            "nodes",
            format!("no nodes.lock in {}: node images not imported", n.dir),
        );
        return;
    };
    if let Some(want) = &e.nodes_lock
        && want != lock
    {
        o.fail(
            "nodes",
            format!("{}/nodes.lock differs from the build's nodes.lock", n.dir),
        );
    }
    // Each node has its own disk `<node>.qcow2` in vmstore, a copy of a staged image: its hash must be one that
    // nodes.lock vouches for, and every staged image must serve at least one node.
    let staged: BTreeMap<String, String> = lock["images"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|img| img["staged"].as_array().into_iter().flatten())
        .filter_map(|d| {
            Some((
                d["sha256"].as_str()?.to_ascii_lowercase(),
                d["file"].as_str()?.to_owned(),
            ))
        })
        .collect();
    if staged.is_empty() {
        o.fail("nodes", "nodes.lock lists no staged images");
    }
    let have: BTreeMap<&str, String> = n
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.sha256.to_ascii_lowercase()))
        .collect();
    let mut used = BTreeSet::new();
    for d in &e.domains {
        let disk = format!("{}.qcow2", d.name);
        match have.get(disk.as_str()) {
            None => o.fail(
                "nodes",
                format!("node {}: its disk {}/{disk} is missing", d.name, n.dir),
            ),
            Some(h) => match staged.get(h) {
                Some(src) => {
                    used.insert(src.clone());
                }
                None => o.fail(
                    "nodes",
                    format!(
                        "node {}: {}/{disk} has sha256 {h}, which no staged image in nodes.lock has",
                        d.name, n.dir
                    ),
                ),
            },
        }
    }
    for (sha, file) in &staged {
        if !used.contains(file) {
            o.fail(
                "nodes",
                format!(
                    "{file} (sha256 {sha}, in nodes.lock) is the disk of no node in {}",
                    n.dir
                ),
            );
        }
    }
    for f in n.files.iter().filter(|f| f.name.ends_with(".qcow2")) {
        let node = f.name.trim_end_matches(".qcow2");
        if !e.domains.iter().any(|d| d.name == node) {
            o.fail(
                "nodes",
                format!("{}/{} belongs to no node of the profile", n.dir, f.name),
            );
        }
    }
}
