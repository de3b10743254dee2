//! The `forja` command: parse arguments, run, map the outcome to an exit code. Nothing else lives here.

use clap::Parser;

// While `cli::Command` has no variant yet, `Cli::parse()` is uninhabited and rustc flags the rest as unreachable.
// Remove this allow with the first subcommand.
#[allow(unreachable_code, unused_variables)]
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
