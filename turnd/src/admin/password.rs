//! Getting a password without it appearing on screen or in the process list.

use std::io::{BufRead, IsTerminal};

use rtc_userdb::credentials::MAX_PASSWORD_LEN;

use super::AdminError;

/// The password from `-p`, else typed on the terminal without echo (twice when
/// `confirm`), else one line of standard input.
pub(super) fn obtain(given: Option<&str>, confirm: bool) -> Result<String, AdminError> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(AdminError::PasswordRead)?;
        if confirm {
            let again = rpassword::prompt_password("Password (again): ")
                .map_err(AdminError::PasswordRead)?;
            if again != first {
                return Err(AdminError::PasswordMismatch);
            }
        }
        return Ok(first);
    }
    read_line(std::io::stdin().lock())
}

/// One line, without its line ending, of at most [`MAX_PASSWORD_LEN`] bytes
/// (a longer one is refused later by the database layer).
fn read_line(input: impl BufRead) -> Result<String, AdminError> {
    let mut line = String::new();
    let limit = u64::try_from(MAX_PASSWORD_LEN)
        .unwrap_or(u64::MAX)
        .saturating_add(3);
    input
        .take(limit)
        .read_line(&mut line)
        .map_err(AdminError::PasswordRead)?;
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_line_is_read_without_its_ending() {
        assert_eq!(
            read_line(&b"secret_password\nnext\n"[..]).unwrap(),
            "secret_password"
        );
        assert_eq!(read_line(&b"pw\r\n"[..]).unwrap(), "pw");
        assert_eq!(read_line(&b"no newline"[..]).unwrap(), "no newline");
        assert_eq!(read_line(&b""[..]).unwrap(), "");
    }

    #[test]
    fn a_given_password_is_used_as_is() {
        assert_eq!(obtain(Some(" spaces "), true).unwrap(), " spaces ");
    }
}
