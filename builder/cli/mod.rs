//! Command-line definitions (clap derive) and dispatch. Each command group has its own file; the logic lives in
//! the library modules, which these files only call.

use clap::{Parser, Subcommand};

use crate::error::Exit;

pub mod build;
pub mod cache;
pub mod check;
pub mod connect;
pub mod diff;
pub mod firmware;
pub mod init;
pub mod licence;
pub mod media;
pub mod nodes;
pub mod pexip;
pub mod shell;
pub mod sign;
pub mod site;
pub mod update;

/// Build signed, reproducible install media for a hardened Pexip Infinity KVM host (CCN-STIC 1616).
#[derive(Debug, Parser)]
#[command(
    name = "forja",
    version = crate::LONG_VERSION,
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
    /// Start a site: write a starter profile and its secrets template (mode 0600) into a folder.
    Init(init::InitArgs),
    /// Check a profile against CCN-STIC 1616 and CCN-STIC-807; exit 1 if any rule fails.
    Check(check::CheckArgs),
    /// Print what a build of the profile would do (a summary, or the whole plan with --json); builds nothing.
    Plan(build::PlanArgs),
    /// Build the profile into signed, reproducible artifacts.
    Build(build::BuildArgs),
    /// Create the ed25519 key pair that signs builds (signify and OpenSSH formats).
    Keygen(sign::KeygenArgs),
    /// Check a build's signatures and every listed file's SHA-256, offline.
    Verify(sign::VerifyArgs),
    /// What changed between two builds: rules, packages, files (unified diffs), partitions, nodes, artifacts.
    Diff(diff::DiffArgs),
    /// Pexip Infinity: first-boot answers, the guide's configuration plan, and applying it.
    #[command(subcommand)]
    Pexip(pexip::PexipCommand),
    /// Verify and stage Pexip node images against the vendor's README.TXT.
    #[command(subcommand)]
    Nodes(nodes::NodesCommand),
    /// Offline licence activation across the air gap: request, inspect, response, apply.
    #[command(subcommand)]
    Licence(licence::LicenceCommand),
    /// Site profiles: convert a single-host profile into a site profile.
    #[command(subcommand)]
    Site(site::SiteCommand),
    /// Site media from a signed build: a USB installer image or a PXE tree.
    #[command(subcommand)]
    Media(media::MediaCommand),
    /// Make a signed offline update bundle (A/B slot images and the slot's boot image) from a signed build.
    Bundle(update::BundleArgs),
    /// Offline updates: install a signed bundle into a disk's inactive slot.
    #[command(subcommand)]
    Update(update::UpdateCommand),
    /// Firmware lock (§30): the plan, and setting and auditing it through the BMC (Redfish).
    #[command(subcommand)]
    Firmware(firmware::FirmwareCommand),
    /// The cache of Debian base images: list what is there, prune what is old.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on standard output.
    Completions(shell::CompletionsArgs),
    /// Write the man pages (forja.1 and one per subcommand) into a folder.
    Manpage(shell::ManpageArgs),
}

/// Runs the parsed command; the returned [`Exit`] is the process exit code on success paths that still report
/// a negative result (e.g. a failing compliance check).
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Init(a) => init::run(a),
        Command::Plan(args) => build::plan(args),
        Command::Build(args) => build::build(args),
        Command::Keygen(args) => sign::keygen(args),
        Command::Verify(args) => sign::verify(args),
        Command::Check(args) => check::run(args),
        Command::Diff(a) => diff::run(a),
        Command::Pexip(c) => pexip::run(c),
        Command::Nodes(c) => nodes::run(c),
        Command::Licence(c) => licence::run(c),
        Command::Site(c) => site::run(c),
        Command::Media(c) => media::run(c),
        Command::Bundle(a) => update::bundle(a),
        Command::Update(c) => update::run(c),
        Command::Firmware(c) => firmware::run(c),
        Command::Cache(c) => cache::run(c),
        Command::Completions(a) => shell::completions(a),
        Command::Manpage(a) => shell::manpage(a),
    }
}
