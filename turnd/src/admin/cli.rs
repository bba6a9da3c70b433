//! The `turnadmin` command line: coturn's flags, parsed with `argh`, and
//! checked into exactly one [`Command`].

use std::path::PathBuf;

use argh::FromArgs;

use super::AdminError;

/// Manage the accounts of turnd (STUN/TURN server): long-term users,
/// administrators and TURN REST API shared secrets. Reads the database
/// location and the default realm from the turnd configuration file.
#[derive(FromArgs, Debug, Default, PartialEq, Eq)]
#[argh(
    help_triggers("-h", "--help"),
    example = "Add or update a user (the Debian handbook's example):\n  $ {command_name} -a -u roland -p secret_password -r falcot.com",
    example = "Add an administrator:\n  $ {command_name} -A -u admin -p secret_password",
    example = "Print a user's long-term key without touching the database:\n  $ {command_name} -k -u roland -p secret_password -r falcot.com",
    example = "List users, delete one:\n  $ {command_name} -l -r falcot.com\n  $ {command_name} -d -u roland -r falcot.com",
    example = "REST API shared secrets (add, show, delete one, delete all of a realm):\n  $ {command_name} -s 'long random secret' -r falcot.com\n  $ {command_name} -S -r falcot.com\n  $ {command_name} -X 'long random secret' -r falcot.com\n  $ {command_name} -X -r falcot.com",
    example = "Work on an SQLite file directly, as coturn's -b does:\n  $ {command_name} -l -b /var/lib/turnd/turnd.sqlite",
    note = "Exactly one command flag (-k -a -A -d -D -l -L -s -S -X) is required. Without -r, -a, -d, -k, -s and -X use the realm of the configuration file. When -p is left out, the password is asked on the terminal without echo, or read as one line from standard input when that is not a terminal. Passwords are never printed or stored: only the derived MD5 and SHA-256 keys (users) or an argon2id hash (administrators) are.",
    error_code(1, "The operation failed (unknown user, database unreachable...)."),
    error_code(2, "Wrong usage, or the configuration file cannot be read.")
)]
pub struct Args {
    /// print the long-term key (0x + hex of MD5(user:realm:password)) of a user; no database
    #[argh(switch, short = 'k')]
    pub key: bool,
    /// add a long-term credential user, or change its password
    #[argh(switch, short = 'a')]
    pub add: bool,
    /// add an administrator, or change its password (-r limits it to a realm)
    #[argh(switch, short = 'A')]
    pub add_admin: bool,
    /// delete a long-term credential user
    #[argh(switch, short = 'd')]
    pub delete: bool,
    /// delete an administrator
    #[argh(switch, short = 'D')]
    pub delete_admin: bool,
    /// list users (of the realm given with -r, else of every realm)
    #[argh(switch, short = 'l')]
    pub list: bool,
    /// list administrators
    #[argh(switch, short = 'L')]
    pub list_admin: bool,
    /// add a TURN REST API shared secret to the realm
    #[argh(option, short = 's')]
    pub set_secret: Option<String>,
    /// show the shared secrets (of the realm given with -r, else of every realm)
    #[argh(switch, short = 'S')]
    pub show_secret: bool,
    /// delete the shared secret given after it, or every secret of the realm if none is given
    #[argh(switch, short = 'X')]
    pub delete_secret: bool,
    /// delete every shared secret of the realm (same as -X without a value)
    #[argh(switch)]
    pub delete_all_secrets: bool,
    /// user (or administrator) name
    #[argh(option, short = 'u')]
    pub user: Option<String>,
    /// realm; default: `realm` of the configuration file
    #[argh(option, short = 'r')]
    pub realm: Option<String>,
    /// password; asked without echo when left out
    #[argh(option, short = 'p')]
    pub password: Option<String>,
    /// SQLite database file to use instead of the configured database
    #[argh(option, short = 'b')]
    pub db: Option<PathBuf>,
    /// turnd configuration file (default /etc/turnd/turnd.yaml)
    #[argh(option, short = 'c')]
    pub config: Option<PathBuf>,
    /// the shared secret to delete, after -X
    #[argh(positional)]
    pub secret: Option<String>,
}

/// Where a realm came from, so the tool can say when it used the config's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealmArg {
    /// `-r REALM` was given.
    Given,
    /// No `-r`: the configuration file's `realm` applies.
    FromConfig,
}

/// One action of `turnadmin`, with the arguments it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `-k`: print the MD5 long-term key.
    Key {
        /// User name.
        user: String,
        /// Realm, if given.
        realm: Option<String>,
        /// Password, if given.
        password: Option<String>,
    },
    /// `-a`: add or update a user.
    AddUser {
        /// User name.
        user: String,
        /// Realm, if given.
        realm: Option<String>,
        /// Password, if given.
        password: Option<String>,
    },
    /// `-A`: add or update an administrator.
    AddAdmin {
        /// Administrator name.
        user: String,
        /// Realm the administrator is limited to; `None` for all realms.
        realm: Option<String>,
        /// Password, if given.
        password: Option<String>,
    },
    /// `-d`: delete a user.
    DeleteUser {
        /// User name.
        user: String,
        /// Realm, if given.
        realm: Option<String>,
    },
    /// `-D`: delete an administrator.
    DeleteAdmin {
        /// Administrator name.
        user: String,
    },
    /// `-l`: list users.
    ListUsers {
        /// Only this realm, if given.
        realm: Option<String>,
    },
    /// `-L`: list administrators.
    ListAdmins,
    /// `-s SECRET`: add a shared secret.
    AddSecret {
        /// The secret.
        secret: String,
        /// Realm, if given.
        realm: Option<String>,
    },
    /// `-S`: show shared secrets.
    ShowSecrets {
        /// Only this realm, if given.
        realm: Option<String>,
    },
    /// `-X SECRET`: delete one shared secret.
    DeleteSecret {
        /// The secret.
        secret: String,
        /// Realm, if given.
        realm: Option<String>,
    },
    /// `-X` alone or `--delete-all-secrets`: delete every secret of a realm.
    DeleteAllSecrets {
        /// Realm, if given.
        realm: Option<String>,
    },
}

impl Command {
    /// Whether the command needs a realm and falls back to the config's.
    pub fn realm_arg(&self) -> Option<RealmArg> {
        let realm = match self {
            Self::Key { realm, .. }
            | Self::AddUser { realm, .. }
            | Self::DeleteUser { realm, .. }
            | Self::AddSecret { realm, .. }
            | Self::DeleteSecret { realm, .. }
            | Self::DeleteAllSecrets { realm } => realm,
            _ => return None,
        };
        Some(if realm.is_some() {
            RealmArg::Given
        } else {
            RealmArg::FromConfig
        })
    }

    /// Whether the command writes new records (and so may create the database).
    pub fn creates_records(&self) -> bool {
        matches!(
            self,
            Self::AddUser { .. } | Self::AddAdmin { .. } | Self::AddSecret { .. }
        )
    }
}

impl Args {
    /// Check that exactly one command is given with what it needs.
    pub fn command(&self) -> Result<Command, AdminError> {
        let chosen: Vec<&str> = [
            (self.key, "-k"),
            (self.add, "-a"),
            (self.add_admin, "-A"),
            (self.delete, "-d"),
            (self.delete_admin, "-D"),
            (self.list, "-l"),
            (self.list_admin, "-L"),
            (self.set_secret.is_some(), "-s"),
            (self.show_secret, "-S"),
            (self.delete_secret, "-X"),
            (self.delete_all_secrets, "--delete-all-secrets"),
        ]
        .into_iter()
        .filter_map(|(on, flag)| on.then_some(flag))
        .collect();
        let flag = match chosen.as_slice() {
            [one] => *one,
            [] => {
                return Err(usage(
                    "no command given: use one of -k -a -A -d -D -l -L -s -S -X",
                ))
            }
            many => {
                return Err(usage(format!(
                    "give only one command, not {}",
                    many.join(" ")
                )))
            }
        };
        if self.secret.is_some() && flag != "-X" {
            return Err(usage(
                "a bare value is only accepted after -X (the secret to delete)",
            ));
        }
        let realm = self.realm.clone();
        let password = self.password.clone();
        let command = match flag {
            "-k" => Command::Key {
                user: self.user_for(flag)?,
                realm,
                password,
            },
            "-a" => Command::AddUser {
                user: self.user_for(flag)?,
                realm,
                password,
            },
            "-A" => Command::AddAdmin {
                user: self.user_for(flag)?,
                realm,
                password,
            },
            "-d" => Command::DeleteUser {
                user: self.user_for(flag)?,
                realm,
            },
            "-D" => Command::DeleteAdmin {
                user: self.user_for(flag)?,
            },
            "-l" => Command::ListUsers { realm },
            "-L" => Command::ListAdmins,
            "-s" => {
                let secret = self.set_secret.clone().unwrap_or_default();
                Command::AddSecret { secret, realm }
            }
            "-S" => Command::ShowSecrets { realm },
            "-X" => match self.secret.clone() {
                Some(secret) => Command::DeleteSecret { secret, realm },
                None => Command::DeleteAllSecrets { realm },
            },
            _ => Command::DeleteAllSecrets { realm },
        };
        let takes_password = matches!(
            command,
            Command::Key { .. } | Command::AddUser { .. } | Command::AddAdmin { .. }
        );
        if self.password.is_some() && !takes_password {
            return Err(usage(format!("-p is not used by {flag}")));
        }
        let takes_user = takes_password
            || matches!(
                command,
                Command::DeleteUser { .. } | Command::DeleteAdmin { .. }
            );
        if self.user.is_some() && !takes_user {
            return Err(usage(format!("-u is not used by {flag}")));
        }
        if matches!(command, Command::ListAdmins | Command::DeleteAdmin { .. })
            && self.realm.is_some()
        {
            return Err(usage(format!("-r is not used by {flag}")));
        }
        Ok(command)
    }

    fn user_for(&self, flag: &str) -> Result<String, AdminError> {
        match self.user.as_deref() {
            Some(u) if !u.is_empty() => Ok(u.to_owned()),
            _ => Err(usage(format!("{flag} needs a user name: add -u NAME"))),
        }
    }
}

fn usage(message: impl Into<String>) -> AdminError {
    AdminError::Usage(message.into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        let parsed = Args::from_args(&["turnadmin"], args).map_err(|e| e.output)?;
        parsed.command().map_err(|e| e.to_string())
    }

    #[test]
    fn handbook_commands_parse_exactly() {
        assert_eq!(
            parse(&[
                "-a",
                "-u",
                "roland",
                "-p",
                "secret_password",
                "-r",
                "falcot.com"
            ])
            .unwrap(),
            Command::AddUser {
                user: "roland".into(),
                realm: Some("falcot.com".into()),
                password: Some("secret_password".into()),
            }
        );
        assert_eq!(
            parse(&["-A", "-u", "admin", "-p", "secret_password"]).unwrap(),
            Command::AddAdmin {
                user: "admin".into(),
                realm: None,
                password: Some("secret_password".into())
            }
        );
    }

    #[test]
    fn coturn_long_flags_are_accepted() {
        assert_eq!(
            parse(&[
                "--add",
                "--user",
                "roland",
                "--realm",
                "falcot.com",
                "--db",
                "/tmp/x"
            ])
            .unwrap(),
            Command::AddUser {
                user: "roland".into(),
                realm: Some("falcot.com".into()),
                password: None
            }
        );
        assert_eq!(parse(&["--list-admin"]).unwrap(), Command::ListAdmins);
        assert_eq!(
            parse(&["--set-secret", "s3", "--realm", "r"]).unwrap(),
            Command::AddSecret {
                secret: "s3".into(),
                realm: Some("r".into())
            }
        );
    }

    #[test]
    fn delete_secret_with_and_without_a_value() {
        assert_eq!(
            parse(&["-X", "s3", "-r", "r"]).unwrap(),
            Command::DeleteSecret {
                secret: "s3".into(),
                realm: Some("r".into())
            }
        );
        assert_eq!(
            parse(&["-X"]).unwrap(),
            Command::DeleteAllSecrets { realm: None }
        );
        assert_eq!(
            parse(&["--delete-all-secrets", "-r", "r"]).unwrap(),
            Command::DeleteAllSecrets {
                realm: Some("r".into())
            }
        );
    }

    #[test]
    fn realm_falls_back_to_the_config_only_where_one_is_needed() {
        assert_eq!(
            parse(&["-a", "-u", "x"]).unwrap().realm_arg(),
            Some(RealmArg::FromConfig)
        );
        assert_eq!(
            parse(&["-d", "-u", "x", "-r", "y"]).unwrap().realm_arg(),
            Some(RealmArg::Given)
        );
        assert_eq!(parse(&["-l"]).unwrap().realm_arg(), None);
        assert_eq!(parse(&["-A", "-u", "x"]).unwrap().realm_arg(), None);
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        let cases: [(&[&str], &str); 8] = [
            (&[], "no command given"),
            (&["-a", "-l"], "give only one command, not -a -l"),
            (&["-a", "-p", "pw"], "-a needs a user name"),
            (&["-d", "-u", ""], "-d needs a user name"),
            (&["-l", "-p", "pw"], "-p is not used by -l"),
            (&["-S", "-u", "x"], "-u is not used by -S"),
            (&["-L", "-r", "x"], "-r is not used by -L"),
            (&["-l", "stray"], "a bare value is only accepted after -X"),
        ];
        for (args, expected) in cases {
            let e = parse(args).unwrap_err();
            assert!(e.contains(expected), "{args:?}: {e}");
        }
    }

    #[test]
    fn help_lists_the_handbook_examples() {
        let e = Args::from_args(&["turnadmin"], &["--help"]).unwrap_err();
        assert!(e.status.is_ok());
        assert!(
            e.output
                .contains("turnadmin -a -u roland -p secret_password -r falcot.com"),
            "{}",
            e.output
        );
        assert!(e
            .output
            .contains("turnadmin -A -u admin -p secret_password"));
        assert!(e.output.contains("--delete-all-secrets"));
    }
}
