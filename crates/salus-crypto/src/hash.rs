//! SHA-256 with domain separation, and a binary Merkle root over hashes.

use sha2::Digest;

crate::hex_bytes_newtype!(
    /// A SHA-256 digest.
    Hash,
    32
);

impl Hash {
    /// The all-zero hash: the parent of the genesis block and the root of nothing.
    pub const ZERO: Hash = Hash([0u8; 32]);
}

/// SHA-256 of `data` under a domain tag, so that a digest computed for one purpose
/// can never be replayed as a digest for another.
pub fn sha256(domain: &str, data: &[u8]) -> Hash {
    let mut hasher = Hasher::new(domain);
    hasher.update(data);
    hasher.finish()
}

/// Incremental domain-separated SHA-256.
pub struct Hasher(sha2::Sha256);

impl Hasher {
    pub fn new(domain: &str) -> Self {
        let mut inner = sha2::Sha256::new();
        // Length-prefix the domain so that ("ab", "c…") and ("a", "bc…") differ.
        inner.update((domain.len() as u32).to_be_bytes());
        inner.update(domain.as_bytes());
        Hasher(inner)
    }

    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        self.0.update(data);
        self
    }

    pub fn finish(self) -> Hash {
        Hash(self.0.finalize().into())
    }
}

const LEAF_DOMAIN: &str = "salus/merkle/leaf";
const NODE_DOMAIN: &str = "salus/merkle/node";

/// The Merkle root of `leaves` (already hashes). Leaves and inner nodes are hashed
/// under different domains (no second-preimage trick), and an odd node is promoted
/// unchanged rather than duplicated (no CVE-2012-2459 style ambiguity).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut level: Vec<Hash> = leaves
        .iter()
        .map(|leaf| sha256(LEAF_DOMAIN, &leaf.0))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => {
                    let mut hasher = Hasher::new(NODE_DOMAIN);
                    hasher.update(&left.0).update(&right.0);
                    hasher.finish()
                }
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_digests() {
        assert_ne!(sha256("a", b"bc"), sha256("ab", b"c"));
        assert_eq!(sha256("x", b"y"), sha256("x", b"y"));
    }

    #[test]
    fn merkle_root_depends_on_order_and_count() {
        let a = sha256("t", b"a");
        let b = sha256("t", b"b");
        let c = sha256("t", b"c");
        assert_eq!(merkle_root(&[]), Hash::ZERO);
        assert_ne!(merkle_root(&[a, b]), merkle_root(&[b, a]));
        assert_ne!(merkle_root(&[a, b, c]), merkle_root(&[a, b]));
        assert_ne!(merkle_root(&[a, b, c]), merkle_root(&[a, b, c, c]));
        assert_ne!(
            merkle_root(&[a]),
            a,
            "a leaf is hashed before it becomes a root"
        );
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = sha256("t", b"x");
        assert_eq!(h.to_string().parse::<Hash>().unwrap(), h);
        assert!("zz".parse::<Hash>().is_err());
        assert!(matches!(
            "abcd".parse::<Hash>(),
            Err(crate::HexError::Length {
                expected: 32,
                actual: 2
            })
        ));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), h);
    }
}
