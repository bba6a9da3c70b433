//! Schema version 2: the SIP tables, modelled on kamailio's `domain`,
//! `subscriber` and `location` tables and repro's static routes, without
//! any plaintext password.

use crate::migrate::Migration;

/// Schema version 2: SIP domains, subscribers, registrations and routes.
pub(crate) const SIP_2_REGISTRAR: Migration = Migration {
    version: 2,
    name: "sip registrar",
    sqlite: &[
        "CREATE TABLE sip_domain (
            domain TEXT NOT NULL PRIMARY KEY,
            created_at INTEGER NOT NULL
        ) STRICT",
        "CREATE TABLE sip_subscriber (
            domain TEXT NOT NULL,
            username TEXT NOT NULL,
            ha1 TEXT NOT NULL CHECK (length(ha1) = 32),
            ha1b TEXT NOT NULL CHECK (length(ha1b) = 32),
            ha1_sha256 TEXT NOT NULL CHECK (length(ha1_sha256) = 64),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (domain, username)
        ) STRICT",
        "CREATE TABLE sip_location (
            aor TEXT NOT NULL,
            binding_key BLOB NOT NULL CHECK (length(binding_key) = 32),
            contact TEXT NOT NULL,
            received TEXT,
            path TEXT,
            expires INTEGER NOT NULL,
            q INTEGER CHECK (q BETWEEN 0 AND 1000),
            call_id TEXT NOT NULL,
            cseq INTEGER NOT NULL,
            flags INTEGER NOT NULL,
            user_agent TEXT,
            socket TEXT,
            instance TEXT,
            reg_id INTEGER,
            server_id TEXT,
            flow TEXT,
            last_modified INTEGER NOT NULL,
            PRIMARY KEY (aor, binding_key)
        ) STRICT",
        "CREATE INDEX sip_location_expires ON sip_location (expires)",
        "CREATE INDEX sip_location_listing ON sip_location (aor, contact, binding_key)",
        "CREATE TABLE sip_route (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            priority INTEGER NOT NULL,
            match_kind TEXT NOT NULL CHECK (match_kind IN ('prefix', 'regex')),
            pattern TEXT NOT NULL,
            strip INTEGER NOT NULL,
            prefix TEXT NOT NULL,
            destination TEXT NOT NULL,
            description TEXT NOT NULL,
            created_at INTEGER NOT NULL
        ) STRICT",
    ],
    // Indexes are declared inside CREATE TABLE: MySQL has no
    // CREATE INDEX IF NOT EXISTS, and the DDL must be re-runnable.
    mysql: &[
        "CREATE TABLE IF NOT EXISTS sip_domain (
            domain VARBINARY(255) NOT NULL PRIMARY KEY,
            created_at BIGINT NOT NULL
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS sip_subscriber (
            domain VARBINARY(255) NOT NULL,
            username VARBINARY(255) NOT NULL,
            ha1 BINARY(32) NOT NULL,
            ha1b BINARY(32) NOT NULL,
            ha1_sha256 BINARY(64) NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (domain, username)
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS sip_location (
            aor VARBINARY(255) NOT NULL,
            binding_key BINARY(32) NOT NULL,
            contact VARBINARY(1024) NOT NULL,
            received VARBINARY(255) NULL,
            path VARBINARY(4096) NULL,
            expires BIGINT NOT NULL,
            q SMALLINT NULL,
            call_id VARBINARY(255) NOT NULL,
            cseq BIGINT NOT NULL,
            flags BIGINT NOT NULL,
            user_agent VARBINARY(255) NULL,
            socket VARBINARY(255) NULL,
            instance VARBINARY(255) NULL,
            reg_id BIGINT NULL,
            server_id VARBINARY(255) NULL,
            flow VARBINARY(255) NULL,
            last_modified BIGINT NOT NULL,
            PRIMARY KEY (aor, binding_key),
            KEY sip_location_expires (expires),
            KEY sip_location_listing (aor, contact, binding_key)
        ) ENGINE=InnoDB",
        "CREATE TABLE IF NOT EXISTS sip_route (
            id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            priority INT NOT NULL,
            match_kind VARBINARY(16) NOT NULL,
            pattern VARBINARY(255) NOT NULL,
            strip INT NOT NULL,
            prefix VARBINARY(255) NOT NULL,
            destination VARBINARY(1024) NOT NULL,
            description VARBINARY(255) NOT NULL,
            created_at BIGINT NOT NULL
        ) ENGINE=InnoDB",
    ],
};
