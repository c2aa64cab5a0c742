//! How state keys are built. Every key is `module/kind/` followed by raw id
//! bytes, so no two modules' keys can collide, and a module's keys are all
//! under its prefix. Each module's key functions live in its types file, next
//! to the values stored under them, so that clients can prove any value
//! without linking the state machine.

/// Builds `prefix/kind/` followed by `id`.
pub fn key(prefix: &str, kind: &str, id: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + kind.len() + 2 + id.len());
    out.extend_from_slice(prefix.as_bytes());
    out.push(b'/');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'/');
    out.extend_from_slice(id);
    out
}

/// Whether `key` lies under module prefix `prefix` (that is, `prefix/…`).
pub fn is_under(key: &[u8], prefix: &str) -> bool {
    key.len() > prefix.len() && key.starts_with(prefix.as_bytes()) && key[prefix.len()] == b'/'
}

/// The chain's own prefix: what genesis writes outside every module.
pub const CHAIN_PREFIX: &str = "chain";

/// The chain id, written at genesis.
pub fn chain_id_key() -> Vec<u8> {
    key(CHAIN_PREFIX, "id", &[])
}
