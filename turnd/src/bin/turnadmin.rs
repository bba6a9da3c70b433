//! `turnadmin`: manage turnd's users, administrators and REST secrets
//! (coturn-compatible flags). All the work is in [`turnd::admin`].

fn main() -> std::process::ExitCode {
    turnd::admin::main_from_env()
}
