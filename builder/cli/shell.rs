//! `forja completions SHELL` and `forja manpage DIR`: what a package installs beside the binary, generated from
//! the same clap definitions that parse the arguments, so they never disagree with `--help`.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use crate::error::Exit;

/// Arguments of `forja completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for (on standard output).
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `forja manpage`.
#[derive(Debug, Args)]
pub struct ManpageArgs {
    /// Folder to write forja.1 and one page per subcommand (forja-build.1, ...) into; its parent must exist.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Print the names written as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn completions(a: CompletionsArgs) -> anyhow::Result<Exit> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "forja", &mut std::io::stdout());
    Ok(Exit::Ok)
}

pub fn manpage(a: ManpageArgs) -> anyhow::Result<Exit> {
    crate::artifact::create_out_dir(&a.dir, "the man page folder")?;
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, &mut pages);
    let mut names = Vec::new();
    for page in pages {
        let man = clap_mangen::Man::new(page);
        let name = man.get_filename();
        let mut bytes = Vec::new();
        man.render(&mut bytes)?;
        crate::artifact::write_atomic(a.dir.join(&name), &bytes)?;
        names.push(name);
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "dir": a.dir,
                "pages": names,
            }))?
        );
    } else {
        for n in &names {
            println!("{}", a.dir.join(n).display());
        }
        log::info!(
            "{} man pages; read one with `man -l {}`",
            names.len(),
            a.dir.join("forja.1").display()
        );
    }
    Ok(Exit::Ok)
}

/// The command and every visible subcommand, depth first; clap names each `forja-build`, `forja-media-usb`, ...
fn collect(cmd: &clap::Command, out: &mut Vec<clap::Command>) {
    out.push(cmd.clone());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, out);
    }
}
