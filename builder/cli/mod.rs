//! Command-line definitions (clap derive) and dispatch. Each command group has its own file; the logic lives in
//! the library modules, which these files only call.

use clap::{Parser, Subcommand};

pub mod nodes;

use crate::error::Exit;

/// Build signed, reproducible install media for a hardened Pexip Infinity KVM host (CCN-STIC 1616).
#[derive(Debug, Parser)]
#[command(
    name = "forja",
    version,
    help_expected = true,
    propagate_version = true
)]
pub struct Cli {
    /// Print only warnings and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Show every external command forja runs (secrets redacted).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify and stage Pexip node images against the vendor's README.TXT.
    #[command(subcommand)]
    Nodes(nodes::NodesCommand),
}

/// Runs the parsed command; the returned [`Exit`] is the process exit code on success paths that still report
/// a negative result (e.g. a failing compliance check).
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Nodes(c) => nodes::run(c),
    }
}
