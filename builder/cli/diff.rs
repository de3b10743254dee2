//! `forja diff OLD_BUILD NEW_BUILD` (see [`crate::diff`]).

use std::path::PathBuf;

use clap::Args;

use crate::error::Exit;

/// Arguments of `forja diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier build folder (`forja build --out`).
    #[arg(value_name = "OLD_BUILD")]
    pub old: PathBuf,
    /// The later build folder.
    #[arg(value_name = "NEW_BUILD")]
    pub new: PathBuf,
    /// Print the changes as JSON (sections of {name, old, new, detail}).
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: DiffArgs) -> anyhow::Result<Exit> {
    let old = crate::diff::Build::load(&a.old)?;
    let new = crate::diff::Build::load(&a.new)?;
    let d = crate::diff::diff(&old, &new);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        println!("forja diff {} -> {}", a.old.display(), a.new.display());
        print!("{}", crate::diff::text(&d));
    }
    if d.is_empty() {
        log::info!("the two builds are the same build");
    }
    Ok(Exit::Ok)
}
