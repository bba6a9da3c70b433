//! `sipctl`: manage sipd's domains, subscribers, registrations and static
//! routes (kamctl-like commands). All the work is in [`sipd::admin`].

fn main() -> std::process::ExitCode {
    sipd::admin::main_from_env()
}
