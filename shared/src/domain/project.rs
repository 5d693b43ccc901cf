//! Projects, the keys that act for them, and what a key may do: plain types, no storage.

use sha2::{Digest, Sha256};

/// A validated project name: lowercase letters, digits, `-` and `_`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Project(String);

impl Project {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Project(text.to_owned()))
        } else {
            Err(format!(
                "project names are 1-64 characters of a-z, 0-9, '-' and '_' (got {text:?})"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Browser-safe: write, and read one session by UUID.
    Public,
    /// Server-side: everything, including listing events across sessions.
    Secret,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Public => "public",
            Scope::Secret => "secret",
        }
    }
}

/// A stored key, looked up by the hash of the raw key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub project: Project,
    pub scope: Scope,
    pub revoked: bool,
}

/// What registering a key found (`Repo::register_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRegistration {
    /// The key was new and is now stored.
    Registered,
    /// The key was stored already, for this project and scope, and is not revoked.
    AlreadyRegistered,
    /// The key is stored for another project or scope (these); it was left as it is.
    Conflict { project: Project, scope: Scope },
    /// The key is stored and revoked (for whichever project); it stays revoked.
    Revoked,
}

/// A freshly generated key pair; the raw keys are shown once and stored only as hashes.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub project: Project,
    pub public_key: String,
    pub secret_key: String,
}

/// The SHA-256 of a raw key, hex: what the table stores and the cache is keyed by.
pub fn hash_key(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}
