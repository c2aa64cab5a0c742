//! The batch check behind [`crate::verify_batch`]: ed25519 under ZIP-215
//! rules, with a cache of decompressed public keys.
//!
//! Decompressing a point (a field square root) costs about as much as a
//! fifth of a whole batched verification, and a signature carries two: its
//! `R` and its signer's key. Signers repeat (a patient, a vault operator, a
//! busy clinic sign many transactions), so their keys are decompressed once
//! and kept.
//!
//! The rules are exactly those of `ed25519-zebra`'s single verification,
//! which decides whenever a batch fails: `s` must be canonical; `R` and the
//! key may be any encoding of a curve point, canonical or not, of any order;
//! the challenge hashes the encodings as sent; and the check is cofactored:
//! `[8]([s]B − [k]A − R) = 0`. A batch checks `Σ zᵢ·(…)ᵢ = 0` for random
//! 128-bit `zᵢ`, so it holds when every signature does, and holds with a
//! failing one with probability about 2⁻¹²⁸.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity as _, VartimeMultiscalarMul as _};
use sha2::{Digest as _, Sha512};

use crate::{PublicKey, Signature};

/// The most keys kept decompressed (about 25 MB of table). Only keys of
/// batches that held are kept, so a flood of bad signatures under fresh keys
/// cannot churn it; past the limit it starts over.
const MAX_CACHED_KEYS: usize = 1 << 16;

fn cache() -> &'static Mutex<HashMap<[u8; 32], EdwardsPoint>> {
    static KEYS: OnceLock<Mutex<HashMap<[u8; 32], EdwardsPoint>>> = OnceLock::new();
    KEYS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Keys decompressed for this batch that the cache did not hold.
type Fresh = Vec<([u8; 32], EdwardsPoint)>;

/// The points of `keys`, in order (`None` where an encoding is no curve
/// point), and those that were not cached.
fn key_points(keys: &[PublicKey]) -> (Vec<Option<EdwardsPoint>>, Fresh) {
    let mut points: Vec<Option<EdwardsPoint>> = {
        let cached = cache()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.iter().map(|key| cached.get(&key.0).copied()).collect()
    };
    // Decompress the misses outside the lock: other batches go on meanwhile.
    let mut fresh = Vec::new();
    for (point, key) in points.iter_mut().zip(keys) {
        if point.is_none() {
            *point = CompressedEdwardsY(key.0).decompress();
            if let Some(p) = point {
                fresh.push((key.0, *p));
            }
        }
    }
    (points, fresh)
}

fn remember(fresh: Fresh) {
    if fresh.is_empty() {
        return;
    }
    let mut cached = cache()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if cached.len() + fresh.len() > MAX_CACHED_KEYS {
        cached.clear();
    }
    cached.extend(fresh);
}

/// Whether every signature holds. `false` says only that at least one does
/// not (or that an encoding is malformed): callers then check one by one.
pub(crate) fn all_hold(keys: &[PublicKey], messages: &[&[u8]], signatures: &[Signature]) -> bool {
    assert!(
        keys.len() == messages.len() && keys.len() == signatures.len(),
        "one key and one message per signature"
    );
    let (key_points, fresh) = key_points(keys);
    // The weights only need to be unpredictable to whoever chose the
    // signatures: one fresh seed per batch, stretched by hashing.
    let seed: [u8; 32] = crate::sign::random_bytes();
    let mut basepoint_weight = Scalar::ZERO;
    let mut weights = Vec::with_capacity(2 * keys.len() + 1);
    let mut points = Vec::with_capacity(2 * keys.len() + 1);
    // A signer's terms share one point: its weights add up.
    let mut slot_of_key: HashMap<[u8; 32], usize> = HashMap::new();
    for (i, ((key, message), signature)) in keys.iter().zip(messages).zip(signatures).enumerate() {
        let (r_bytes, s_bytes) = signature.0.split_at(32);
        let s_bytes: [u8; 32] = s_bytes.try_into().expect("a signature is 64 bytes");
        let r_bytes: [u8; 32] = r_bytes.try_into().expect("a signature is 64 bytes");
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let Some(a) = key_points[i] else {
            return false;
        };
        let challenge = Scalar::from_hash(
            Sha512::new()
                .chain_update(r_bytes)
                .chain_update(key.0)
                .chain_update(message),
        );
        let z = weight(&seed, i);
        basepoint_weight -= z * s;
        weights.push(z);
        points.push(r);
        let zk = z * challenge;
        match slot_of_key.get(&key.0) {
            Some(&slot) => weights[slot] += zk,
            None => {
                slot_of_key.insert(key.0, weights.len());
                weights.push(zk);
                points.push(a);
            }
        }
    }
    weights.push(basepoint_weight);
    points.push(ED25519_BASEPOINT_POINT);
    let holds = EdwardsPoint::vartime_multiscalar_mul(&weights, &points)
        .mul_by_cofactor()
        .is_identity();
    if holds {
        remember(fresh);
    }
    holds
}

/// The `index`th random 128-bit weight drawn from `seed`.
fn weight(seed: &[u8; 32], index: usize) -> Scalar {
    let digest = Sha512::new()
        .chain_update(b"salus/ed25519-batch-weight/v1")
        .chain_update(seed)
        .chain_update((index as u64).to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Scalar::from(u128::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::SigningKey;

    /// The identity point encoded with y = p + 1, which is not canonical.
    fn odd_identity() -> [u8; 32] {
        let mut bytes = [0xff; 32];
        bytes[0] = 0xee;
        bytes[31] = 0x7f;
        bytes
    }

    fn singles(keys: &[PublicKey], messages: &[&[u8]], signatures: &[Signature]) -> bool {
        keys.iter()
            .zip(messages)
            .zip(signatures)
            .all(|((k, m), s)| k.verify(m, s).is_ok())
    }

    #[test]
    fn non_canonical_small_order_encodings_are_judged_as_alone() {
        // Key and R the identity, in a non-canonical encoding, s = 0: the
        // cofactored equation holds for any message under ZIP-215.
        let key = PublicKey(odd_identity());
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&odd_identity());
        let signature = Signature(signature);
        assert!(key.verify(b"anything", &signature).is_ok());
        let honest = SigningKey::from_seed(&[3; 32]);
        let keys = [key, honest.public_key(), key];
        let messages: [&[u8]; 3] = [b"anything", b"m", b"else"];
        let signatures = [signature, honest.sign(b"m"), signature];
        assert!(all_hold(&keys, &messages, &signatures));
        // And a point that is no point refuses the batch, as it does alone.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        let keys = [PublicKey(not_a_point), honest.public_key()];
        assert!(!singles(&keys, &messages[..2], &signatures[..2]));
        assert!(!all_hold(&keys, &messages[..2], &signatures[..2]));
    }

    #[derive(Debug, Clone, Copy)]
    enum Damage {
        None,
        Message,
        R,
        S,
        NonCanonicalS,
        OtherKey,
        IdentityKey,
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            8 => Just(Damage::None),
            1 => Just(Damage::Message),
            1 => Just(Damage::R),
            1 => Just(Damage::S),
            1 => Just(Damage::NonCanonicalS),
            1 => Just(Damage::OtherKey),
            1 => Just(Damage::IdentityKey),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// The batch holds exactly when every signature holds alone (by
        /// `ed25519-zebra`), whatever the damage, with signers repeating
        /// inside a batch and across batches (the key cache).
        #[test]
        fn a_batch_holds_exactly_when_each_signature_does(
            items in prop::collection::vec((0u8..5, any::<u16>(), damage()), 1..10)
        ) {
            let mut keys = Vec::new();
            let mut messages = Vec::new();
            let mut signatures = Vec::new();
            for (signer, message, damage) in items {
                let key = SigningKey::from_seed(&[signer; 32]);
                let mut message = message.to_le_bytes().to_vec();
                let mut signature = key.sign(&message);
                let mut public = key.public_key();
                match damage {
                    Damage::None => {}
                    Damage::Message => message.push(0),
                    Damage::R => signature.0[3] ^= 0x10,
                    Damage::S => signature.0[40] ^= 0x01,
                    Damage::NonCanonicalS => signature.0[63] |= 0xf0,
                    Damage::OtherKey => {
                        public = SigningKey::from_seed(&[signer + 10; 32]).public_key()
                    }
                    Damage::IdentityKey => public = PublicKey(odd_identity()),
                }
                keys.push(public);
                messages.push(message);
                signatures.push(signature);
            }
            let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(
                all_hold(&keys, &messages, &signatures),
                singles(&keys, &messages, &signatures)
            );
        }
    }
}
