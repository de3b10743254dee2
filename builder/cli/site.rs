//! `forja site convert`: arguments and output only; the work is in [`crate::profile::convert`].

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::error::Exit;

/// The site subcommands.
#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Turn a single-host profile into a site profile with one [[hosts]] entry that expands back to the same
    /// host; add hosts to it by hand.
    Convert(ConvertArgs),
}

/// Arguments of `forja site convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The single-host profile to convert (a site profile is refused).
    #[arg(value_name = "PROFILE")]
    pub profile: PathBuf,
    /// The site profile to write: a new file in the profile's folder (its relative paths resolve from there).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Print what was written (the file and the host's name) as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: SiteCommand) -> anyhow::Result<Exit> {
    match cmd {
        SiteCommand::Convert(a) => {
            let host = crate::profile::convert::write(&a.profile, &a.output)?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "output": a.output,
                        "hosts": [host],
                    }))?
                );
            } else {
                println!("{}", a.output.display());
            }
            log::info!(
                "{} holds one host, {host}; check it with `forja check {}` and add hosts as [[hosts]] entries",
                a.output.display(),
                a.output.display()
            );
            Ok(Exit::Ok)
        }
    }
}
