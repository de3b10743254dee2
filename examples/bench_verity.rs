//! `bench_verity DATA HASH`: forja's dm-verity stage alone, for ci/bench-verity (same code as `forja build`).
//! Hashes all of DATA (a whole number of 4 KiB blocks) into a new HASH file with the salt and UUID that
//! ci/bench-verity also gives `veritysetup format`; prints the seconds taken and the root hash.
use std::fs::{File, OpenOptions};

use forja::fs::verity::{self, VerityParams};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, hash] = args.as_slice() else {
        anyhow::bail!("usage: bench_verity DATA HASH");
    };
    let src = File::open(data)?;
    let bytes = src.metadata()?.len();
    let mut dst = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(hash)?;
    let p = VerityParams {
        salt: [0x5a; 32],
        uuid: uuid::Uuid::from_u128(0x1111_1111_2222_4333_8444_0000_0000_0015),
    };
    let start = std::time::Instant::now();
    let tree = verity::build(&src, 0, bytes, &mut dst, 0, u64::MAX, &p)?;
    dst.sync_all()?;
    println!("{:.3} {}", start.elapsed().as_secs_f64(), tree.root_hash);
    Ok(())
}
