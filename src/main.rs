//! The `runbook` binary: parse arguments, run, exit with the code the outcome maps to.

fn main() {
    std::process::exit(runbook::cli::main());
}
