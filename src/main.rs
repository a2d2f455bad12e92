//! The `headroom` binary: everything is in the library; see `cli`.

fn main() -> std::process::ExitCode {
    headroom::cli::main()
}
