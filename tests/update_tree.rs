//! The check `forja update apply` runs on a bundle's dm-verity tree, against the reference implementation: trees
//! that `veritysetup format` writes, with the root hash it prints, are accepted and prove their data block by
//! block; one flipped byte of tree or data, or another root hash, is refused. (`tests/verity.rs` proves the
//! other direction: the trees forja writes are veritysetup's, byte for byte.)

#[path = "support/oracle.rs"]
mod oracle;

use std::path::Path;
use std::process::Command;

use forja::fs::verity::{check_tree, hash_size};
use forja::hashio::Sha256;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// forja's tree check against the reference: trees that `veritysetup format` writes (with their root hash as it
/// prints it) are accepted and prove their data block by block; one flipped tree or data byte is refused.
#[test]
fn trees_from_veritysetup_format_pass_the_tree_check() {
    let dir = tempfile::tempdir().unwrap();
    let salt = [0x3c; 32];
    for blocks in [1u64, 128, 300, 128 * 128 + 1] {
        let data = oracle::noise(blocks, (blocks * 4096) as usize);
        let (d, h) = (dir.path().join("data"), dir.path().join("hash"));
        std::fs::write(&d, &data).unwrap();
        let _ = std::fs::remove_file(&h);
        let o = Command::new("veritysetup")
            .args(["format", s(&d), s(&h), "--salt", &hex::encode(salt)])
            .output()
            .expect("veritysetup (package cryptsetup-bin)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout);
        let root: Sha256 = out
            .lines()
            .find_map(|l| l.strip_prefix("Root hash:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut area = std::fs::read(&h).unwrap();
        area.truncate(hash_size(blocks * 4096) as usize);
        let tree = check_tree(&area, blocks, &salt, &root).unwrap();
        tree.check_blocks(0, &data).unwrap();
        let mut bad = data.clone();
        bad[data.len() - 1] ^= 1;
        assert_eq!(tree.check_blocks(0, &bad), Err(blocks - 1));
        // A byte of level 0's last block (an entry in use), or of the superblock when there is no level.
        let mut bad = area.clone();
        let at = bad.len() - 4096 + 7;
        bad[at] ^= 1;
        assert!(check_tree(&bad, blocks, &salt, &root).is_err(), "{blocks}");
        // Another root hash: refused by the tree, or (one block, no tree level) by the data block itself.
        let mut wrong = root;
        wrong.0[31] ^= 1;
        match check_tree(&area, blocks, &salt, &wrong) {
            Ok(t) if blocks == 1 => assert_eq!(t.check_blocks(0, &data), Err(0)),
            r => assert!(r.is_err(), "{blocks} blocks: another root hash accepted"),
        }
    }
}
