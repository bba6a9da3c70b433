//! Schema version 3: the XMPP tables, modelled on what Prosody stores per
//! user, with SCRAM keys instead of a password. Every per-user table
//! references `xmpp_account` with ON DELETE CASCADE, so deleting an account
//! deletes its data in the same statement.

use crate::migrate::Migration;

/// Schema version 3: XMPP accounts, rosters, offline messages, vCards,
/// private XML storage and block lists.
pub(crate) const XMPP_3_ACCOUNTS: Migration = Migration {
    version: 3,
    name: "xmpp accounts",
    sqlite: &[
        "CREATE TABLE xmpp_account (
            host TEXT NOT NULL,
            username TEXT NOT NULL,
            salt BLOB NOT NULL,
            iterations INTEGER NOT NULL,
            sha1_stored_key BLOB NOT NULL CHECK (length(sha1_stored_key) = 20),
            sha1_server_key BLOB NOT NULL CHECK (length(sha1_server_key) = 20),
            sha256_stored_key BLOB NOT NULL CHECK (length(sha256_stored_key) = 32),
            sha256_server_key BLOB NOT NULL CHECK (length(sha256_server_key) = 32),
            roster_version INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (host, username)
        ) STRICT",
        "CREATE TABLE xmpp_roster (
            host TEXT NOT NULL,
            username TEXT NOT NULL,
            contact TEXT NOT NULL,
            name TEXT,
            subscription TEXT NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
            ask INTEGER NOT NULL,
            approved INTEGER NOT NULL,
            pending_in TEXT,
            group_names TEXT,
            PRIMARY KEY (host, username, contact),
            FOREIGN KEY (host, username) REFERENCES xmpp_account (host, username)
                ON DELETE CASCADE
        ) STRICT",
        "CREATE TABLE xmpp_offline (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            host TEXT NOT NULL,
            username TEXT NOT NULL,
            stanza TEXT NOT NULL,
            stored_at INTEGER NOT NULL,
            FOREIGN KEY (host, username) REFERENCES xmpp_account (host, username)
                ON DELETE CASCADE
        ) STRICT",
        "CREATE INDEX xmpp_offline_owner ON xmpp_offline (host, username, id)",
        "CREATE TABLE xmpp_vcard (
            host TEXT NOT NULL,
            username TEXT NOT NULL,
            vcard TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (host, username),
            FOREIGN KEY (host, username) REFERENCES xmpp_account (host, username)
                ON DELETE CASCADE
        ) STRICT",
        "CREATE TABLE xmpp_private (
            host TEXT NOT NULL,
            username TEXT NOT NULL,
            storage_key TEXT NOT NULL,
            xml TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (host, username, storage_key),
            FOREIGN KEY (host, username) REFERENCES xmpp_account (host, username)
                ON DELETE CASCADE
        ) STRICT",
        "CREATE TABLE xmpp_blocklist (
            host TEXT NOT NULL,
            username TEXT NOT NULL,
            jid TEXT NOT NULL,
            PRIMARY KEY (host, username, jid),
            FOREIGN KEY (host, username) REFERENCES xmpp_account (host, username)
                ON DELETE CASCADE
        ) STRICT",
    ],
    mysql: &[
        "CREATE TABLE IF NOT EXISTS xmpp_account (
            host VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            salt VARBINARY(64) NOT NULL,
            iterations INT UNSIGNED NOT NULL,
            sha1_stored_key BINARY(20) NOT NULL,
            sha1_server_key BINARY(20) NOT NULL,
            sha256_stored_key BINARY(32) NOT NULL,
            sha256_server_key BINARY(32) NOT NULL,
            roster_version BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (host, username)
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS xmpp_roster (
            host VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            contact VARBINARY(1023) NOT NULL,
            name VARBINARY(1023) NULL,
            subscription VARBINARY(8) NOT NULL,
            ask TINYINT NOT NULL,
            approved TINYINT NOT NULL,
            pending_in MEDIUMBLOB NULL,
            group_names VARBINARY(4096) NULL,
            PRIMARY KEY (host, username, contact),
            CONSTRAINT xmpp_roster_account FOREIGN KEY (host, username)
                REFERENCES xmpp_account (host, username) ON DELETE CASCADE
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS xmpp_offline (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            host VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            stanza MEDIUMBLOB NOT NULL,
            stored_at BIGINT NOT NULL,
            KEY xmpp_offline_owner (host, username, id),
            CONSTRAINT xmpp_offline_account FOREIGN KEY (host, username)
                REFERENCES xmpp_account (host, username) ON DELETE CASCADE
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS xmpp_vcard (
            host VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            vcard MEDIUMBLOB NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (host, username),
            CONSTRAINT xmpp_vcard_account FOREIGN KEY (host, username)
                REFERENCES xmpp_account (host, username) ON DELETE CASCADE
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS xmpp_private (
            host VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            storage_key VARBINARY(255) NOT NULL,
            xml MEDIUMBLOB NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (host, username, storage_key),
            CONSTRAINT xmpp_private_account FOREIGN KEY (host, username)
                REFERENCES xmpp_account (host, username) ON DELETE CASCADE
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS xmpp_blocklist (
            host VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            jid VARBINARY(1023) NOT NULL,
            PRIMARY KEY (host, username, jid),
            CONSTRAINT xmpp_blocklist_account FOREIGN KEY (host, username)
                REFERENCES xmpp_account (host, username) ON DELETE CASCADE
        ) ENGINE=InnoDB",
    ],
};
