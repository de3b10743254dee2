//! `forja nodes ...`: verify and stage Pexip node images.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::artifact::OutputLock;
use crate::error::Exit;
use crate::nodes::{readme::Readme, stage, verify};

/// Pexip node images (OVA / qcow2) checked against the vendor's README.TXT.
#[derive(Debug, Subcommand)]
pub enum NodesCommand {
    /// Check each file's SHA-256 against README.TXT (exit 3 mismatch, 4 no entry, 2 unusable input).
    Verify(VerifyArgs),
    /// Verify, then convert each image to qcow2 in an output folder and write nodes.lock.
    Stage(StageArgs),
}

/// Arguments of `forja nodes verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The vendor's README.TXT listing SHA-256 hashes (GNU or BSD tag lines).
    #[arg(long, value_name = "FILE")]
    pub readme: PathBuf,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Files hashed in parallel (default: all cores).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// The downloaded files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Arguments of `forja nodes stage`.
#[derive(Debug, Args)]
pub struct StageArgs {
    /// The vendor's README.TXT listing SHA-256 hashes (GNU or BSD tag lines).
    #[arg(long, value_name = "FILE")]
    pub readme: PathBuf,
    /// Output folder for the qcow2 disks and nodes.lock (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Print nodes.lock on stdout as well.
    #[arg(long)]
    pub json: bool,
    /// The OVA or qcow2 files to stage.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(cmd: NodesCommand) -> anyhow::Result<Exit> {
    match cmd {
        NodesCommand::Verify(a) => run_verify(a),
        NodesCommand::Stage(a) => run_stage(a),
    }
}

fn run_verify(a: VerifyArgs) -> anyhow::Result<Exit> {
    let readme = Readme::load(&a.readme)?;
    let reports = verify::verify_files(
        &readme,
        &a.files,
        a.jobs.unwrap_or_else(verify::default_jobs),
    );
    let exit = verify::overall(&reports);
    if a.json {
        let out = serde_json::json!({
            "readme": readme.label,
            "readme_sha256": readme.sha256,
            "exit": exit,
            "files": reports,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    for r in &reports {
        if r.status == verify::Status::Verified {
            if !a.json {
                log::info!("{}", r.message);
            }
        } else {
            log::error!("{}", r.message);
        }
    }
    Ok(exit)
}

fn run_stage(a: StageArgs) -> anyhow::Result<Exit> {
    let _lock = OutputLock::acquire(&a.out)?;
    let lock = stage::stage_all(&a.readme, &a.files, &a.out)?;
    if a.json {
        print!("{}", lock.to_json());
    } else {
        for img in &lock.images {
            for d in &img.staged {
                log::info!("{} -> {} (sha256 {})", img.source, d.file, d.sha256);
            }
        }
        log::info!(
            "wrote {}",
            a.out.join(crate::nodes::lock::FILE_NAME).display()
        );
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_nodes_argument_has_help() {
        // `help_expected` is checked by clap's debug assertions over the whole command tree.
        super::super::Cli::command().debug_assert();
    }
}
