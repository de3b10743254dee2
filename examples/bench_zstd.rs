//! `bench_zstd SRC DST`: forja's disk.raw.zst compressor alone, for ci/bench-build (same code as `forja build`).
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dst] = args.as_slice() else {
        anyhow::bail!("usage: bench_zstd SRC DST");
    };
    let start = std::time::Instant::now();
    forja::compress::zstd_file(src.as_ref(), dst.as_ref())?;
    println!("{:.3}", start.elapsed().as_secs_f64());
    Ok(())
}
