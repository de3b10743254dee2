//! `forja init DIR`: a starter profile and its secrets template (see [`crate::profile::init`]).

use std::path::PathBuf;

use clap::Args;

use crate::error::Exit;

/// Arguments of `forja init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder for the new profile (created if missing, its parent must exist).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The site's name: the profile's `[profile] name` and its file names (NAME.toml, NAME.secrets.toml).
    #[arg(long, default_value = "site")]
    pub name: String,
    /// Print the files written and the secret names as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: InitArgs) -> anyhow::Result<Exit> {
    let w = crate::profile::init::init(&a.dir, &a.name)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&w)?);
    } else {
        println!("{}\n{}", w.profile.display(), w.secrets.display());
    }
    log::info!(
        "next: edit {} for the site, replace the {} placeholders in {} (mode 0600), make the signing key with \
         `forja keygen --out {}`, then `forja check {}`",
        w.profile.display(),
        w.secret_names.len(),
        w.secrets.display(),
        a.dir.join("keys").display(),
        w.profile.display()
    );
    Ok(Exit::Ok)
}
