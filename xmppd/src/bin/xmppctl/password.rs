//! Reading a password without it appearing on screen or in the process list.

use std::io::{BufRead, IsTerminal, Read};

use super::Failure;

/// Longest password line read from standard input.
const MAX_LINE: u64 = 4096;

/// Typed twice on the terminal without echo, or one line of standard input.
pub(super) fn obtain(confirm: bool) -> Result<String, Failure> {
    let err = |e: std::io::Error| Failure::op(format!("cannot read the password: {e}"));
    let pw = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(err)?;
        if confirm {
            let again = rpassword::prompt_password("Password (again): ").map_err(err)?;
            if again != first {
                return Err(Failure::op("the passwords do not match; nothing changed"));
            }
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().take(MAX_LINE).read_line(&mut line).map_err(err)?;
        let t = line.strip_suffix('\n').unwrap_or(&line);
        t.strip_suffix('\r').unwrap_or(t).to_owned()
    };
    if pw.is_empty() {
        return Err(Failure::op("empty password; nothing changed"));
    }
    Ok(pw)
}
