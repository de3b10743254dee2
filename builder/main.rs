//! The `forja` command: parse arguments, run, map the outcome to an exit code. Nothing else lives here.

use clap::Parser;

fn main() {
    let cli = forja::cli::Cli::parse();
    forja::ui::init(cli.quiet, cli.verbose);
    let code = match forja::cli::run(cli) {
        Ok(exit) => exit.code(),
        Err(err) => {
            eprintln!("error: {err:#}");
            forja::error::exit_of(&err).code()
        }
    };
    std::process::exit(code);
}
