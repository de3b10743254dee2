//! `forja cache list|prune`: the Debian base tarballs a build reuses (see [`crate::inputs::cache`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::error::Exit;
use crate::inputs::cache::Cache;
use crate::plan::summary::human_bytes;

/// The base image cache.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the cached Debian bases: size, last use, what each was made from.
    List(ListArgs),
    /// Remove bases no build used for a while (and leftovers of interrupted base builds).
    Prune(PruneArgs),
}

/// Where the cache is (shared by both subcommands).
#[derive(Debug, Args)]
pub struct Where {
    /// The cache folder [default: $FORJA_CACHE, else $XDG_CACHE_HOME/forja, else ~/.cache/forja].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub at: Where,
    /// Print the folder and its entries as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub at: Where,
    /// Remove bases not used by a build for more than this many days.
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 30,
        conflicts_with = "all"
    )]
    pub older_than: u64,
    /// Remove every cached base (the next build runs mmdebstrap again).
    #[arg(long)]
    pub all: bool,
    /// Print the files removed as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: CacheCommand) -> anyhow::Result<Exit> {
    match cmd {
        CacheCommand::List(a) => {
            let cache = Cache::locate(a.at.cache_dir.as_deref())?;
            let entries = cache.list()?;
            if a.json {
                let v = serde_json::json!({"dir": cache.dir, "entries": entries});
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(Exit::Ok);
            }
            println!("cache: {}", cache.dir.display());
            let total: u64 = entries.iter().map(|e| e.bytes).sum();
            for e in &entries {
                let origin = e
                    .origin
                    .as_ref()
                    .map(|o| {
                        format!(
                            "{} {} packages, epoch {}, {}",
                            o.suite, o.packages, o.epoch, o.mmdebstrap_version
                        )
                    })
                    .unwrap_or_else(|| "origin unknown".into());
                println!(
                    "  {}  {:>10}  last used {}  {origin}",
                    e.file,
                    human_bytes(e.bytes),
                    crate::plan::epoch_utc(e.last_used)
                );
            }
            println!("{} bases, {}", entries.len(), human_bytes(total));
            Ok(Exit::Ok)
        }
        CacheCommand::Prune(a) => {
            let cache = Cache::locate(a.at.cache_dir.as_deref())?;
            let age = (!a.all).then(|| Duration::from_secs(a.older_than * 86400));
            let removed = cache.prune(age)?;
            if a.json {
                let v = serde_json::json!({"dir": cache.dir, "removed": removed});
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for r in &removed {
                    println!("removed {}", cache.dir.join(r).display());
                }
                log::info!(
                    "{} files removed from {}",
                    removed.len(),
                    cache.dir.display()
                );
            }
            Ok(Exit::Ok)
        }
    }
}
