//! forja's dm-verity trees against the reference implementation: `veritysetup format` on the same data with the
//! same salt and UUID writes the same hash area byte for byte and prints the same root hash; `veritysetup verify`
//! accepts forja's tree, and refuses it after one data byte is flipped.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use forja::fs::verity::{self, VerityParams};

#[path = "support/oracle.rs"]
mod oracle;
use oracle::noise;

fn veritysetup(args: &[&str]) -> std::process::Output {
    Command::new("veritysetup")
        .args(args)
        .output()
        .expect("veritysetup (package cryptsetup-bin)")
}

fn check(dir: &Path, blocks: usize) {
    let data = dir.join(format!("data-{blocks}"));
    // The data sits at an offset inside a bigger file, as the root does inside disk.raw.
    let lead = 3 * 4096u64;
    let mut f = File::create(&data).unwrap();
    f.write_all(&vec![0xEE; lead as usize]).unwrap();
    f.write_all(&noise(blocks as u64, blocks * 4096)).unwrap();
    drop(f);
    let params = VerityParams {
        salt: [0x5a; 32],
        uuid: uuid::Uuid::from_u128(0x1234),
    };
    let mut out = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("disk"))
        .unwrap();
    let at = 5 * 4096u64;
    let room = verity::hash_size(blocks as u64 * 4096);
    out.set_len(at + room + 4096).unwrap();
    let tree = verity::build(
        &File::open(&data).unwrap(),
        lead,
        blocks as u64 * 4096,
        &mut out,
        at,
        room,
        &params,
    )
    .unwrap();
    assert_eq!(tree.hash_size, room);
    // The reference, on the bare data.
    let bare = dir.join("bare");
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&bare, &bytes[lead as usize..]).unwrap();
    let reference = dir.join("reference.hash");
    let o = veritysetup(&[
        "format",
        "--salt",
        &hex::encode(params.salt),
        "--uuid",
        &params.uuid.to_string(),
        bare.to_str().unwrap(),
        reference.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let root = text
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .unwrap()
        .trim();
    assert_eq!(
        tree.root_hash.hex(),
        root,
        "{blocks} blocks: root hash differs"
    );
    let mine = {
        let mut v = vec![0u8; room as usize];
        out.seek(SeekFrom::Start(at)).unwrap();
        std::io::Read::read_exact(&mut out, &mut v).unwrap();
        v
    };
    let theirs = std::fs::read(&reference).unwrap();
    assert_eq!(theirs.len() as u64, room, "{blocks} blocks: hash area size");
    assert!(
        mine == theirs,
        "{blocks} blocks: hash area differs from veritysetup's"
    );
    let ours = dir.join("ours.hash");
    std::fs::write(&ours, &mine).unwrap();
    let v = veritysetup(&[
        "verify",
        bare.to_str().unwrap(),
        ours.to_str().unwrap(),
        root,
    ]);
    assert!(
        v.status.success(),
        "veritysetup verify: {}",
        String::from_utf8_lossy(&v.stderr)
    );
    // One flipped byte in the middle of the data: refused.
    let mut b = bytes[lead as usize..].to_vec();
    let mid = b.len() / 2 + 17;
    b[mid] ^= 0xff;
    std::fs::write(&bare, &b).unwrap();
    let v = veritysetup(&[
        "verify",
        bare.to_str().unwrap(),
        ours.to_str().unwrap(),
        root,
    ]);
    assert!(
        !v.status.success(),
        "veritysetup verify accepted a flipped byte"
    );
}

#[test]
fn trees_match_veritysetup_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    // One block, one full hash block, one more (two levels), and three levels.
    for blocks in [1, 128, 129, 128 * 128 + 3] {
        check(dir.path(), blocks);
    }
}
