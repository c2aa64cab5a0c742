//! ed25519 signatures and x25519 key agreement.

//! Verification follows ZIP-215: single signatures with the `ed25519-zebra`
//! crate, batches with [`crate::batch`] under the same rules. Single and batch
//! verification accept exactly the same signatures, so a verdict never depends on
//! which other signatures shared its batch, or on the number of cores. It runs on
//! curve25519-dalek 4, which picks its AVX2 backend at run time where the CPU
//! has one.

use zeroize::Zeroizing;

crate::hex_bytes_newtype!(
    /// An ed25519 verification key (32 bytes, compressed Edwards point).
    PublicKey,
    32
);

crate::hex_bytes_newtype!(
    /// An ed25519 signature (64 bytes).
    Signature,
    64
);

crate::hex_bytes_newtype!(
    /// An x25519 public key used for key agreement (HPKE recipients).
    AgreementPublicKey,
    32
);

/// Why a signature or key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("public key is not a valid ed25519 point")]
    InvalidPublicKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("batch of {keys} keys, {messages} messages and {signatures} signatures")]
    BatchShape {
        keys: usize,
        messages: usize,
        signatures: usize,
    },
}

/// Fills an array from the operating system's CSPRNG.
///
/// # Panics
/// If the OS has no randomness source, which leaves no safe way to make keys.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the operating system must provide randomness");
    out
}

/// An ed25519 signing key. Its secret bytes are wiped on drop.
#[derive(Clone)]
pub struct SigningKey(ed25519_zebra::SigningKey);

impl SigningKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        let seed = Zeroizing::new(random_bytes::<32>());
        Self::from_seed(&seed)
    }

    /// A key from its 32-byte seed (the RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SigningKey(ed25519_zebra::SigningKey::from(*seed))
    }

    /// The 32-byte seed. Callers must keep it secret.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(ed25519_zebra::VerificationKey::from(&self.0).into())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        // The inner key is `Copy`, so it cannot wipe itself. Best effort:
        // copies made while building the key (the seed passed by value) are
        // not reached from here.
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public={})", self.public_key())
    }
}

impl PublicKey {
    /// Whether the bytes decompress to a curve point, as a verifier (and the
    /// consensus engine) must be able to: a key that does not can never
    /// verify anything.
    pub fn is_valid(&self) -> bool {
        ed25519_zebra::VerificationKey::try_from(self.0).is_ok()
    }

    /// Valid and not of small order. ZIP-215 accepts small-order keys, for
    /// which anyone can forge a signature: fine for an account that only
    /// loses its own funds, not for a key the network trusts to vote.
    pub fn is_strong(&self) -> bool {
        self.is_valid()
            && curve25519_dalek::edwards::CompressedEdwardsY(self.0)
                .decompress()
                .is_some_and(|point| !point.is_small_order())
    }

    /// ZIP-215 verification: the same verdict on every node and in every batch.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let key = ed25519_zebra::VerificationKey::try_from(self.0)
            .map_err(|_| SignatureError::InvalidPublicKey)?;
        key.verify(&ed25519_zebra::Signature::from(signature.0), message)
            .map_err(|_| SignatureError::BadSignature)
    }
}

// Below this many signatures a second thread costs more than it saves.
const PARALLEL_THRESHOLD: usize = 64;

/// Verifies many signatures at once. Returns one verdict per signature, in order.
///
/// Batches are checked with ed25519 batch verification (ZIP-215, signer keys
/// kept decompressed between calls), split across the available cores. A failed batch falls back to single checks so that one bad
/// signature is pinned down without rejecting its neighbours.
pub fn verify_batch(
    keys: &[PublicKey],
    messages: &[&[u8]],
    signatures: &[Signature],
) -> Result<Vec<bool>, SignatureError> {
    if keys.len() != messages.len() || keys.len() != signatures.len() {
        return Err(SignatureError::BatchShape {
            keys: keys.len(),
            messages: messages.len(),
            signatures: signatures.len(),
        });
    }
    let n = keys.len();
    let threads = std::thread::available_parallelism()
        .map(|p| p.get())
        .unwrap_or(1);
    if n < PARALLEL_THRESHOLD || threads == 1 {
        return Ok(verify_chunk(keys, messages, signatures));
    }
    let chunk = n.div_ceil(threads);
    let mut out = Vec::with_capacity(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(n);
                scope.spawn(move || {
                    verify_chunk(
                        &keys[start..end],
                        &messages[start..end],
                        &signatures[start..end],
                    )
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(verdicts) => out.extend(verdicts),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    Ok(out)
}

/// [`verify_batch`] over signed items: each a key, the exact message it
/// signed, and the signature. One verdict per item, in order.
pub fn verify_each(items: impl IntoIterator<Item = (PublicKey, Vec<u8>, Signature)>) -> Vec<bool> {
    let mut keys = Vec::new();
    let mut messages = Vec::new();
    let mut signatures = Vec::new();
    for (key, message, signature) in items {
        keys.push(key);
        messages.push(message);
        signatures.push(signature);
    }
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    verify_batch(&keys, &refs, &signatures).expect("one key, message and signature per item")
}

fn verify_chunk(keys: &[PublicKey], messages: &[&[u8]], signatures: &[Signature]) -> Vec<bool> {
    if crate::batch::all_hold(keys, messages, signatures) {
        return vec![true; keys.len()];
    }
    keys.iter()
        .zip(messages)
        .zip(signatures)
        .map(|((k, m), s)| k.verify(m, s).is_ok())
        .collect()
}

/// An x25519 secret for key agreement. Wiped on drop.
#[derive(Clone)]
pub struct AgreementSecret {
    secret: x25519_dalek::StaticSecret,
    /// Derived once: a base-point multiplication costs more than the
    /// symmetric work of opening a record.
    public: AgreementPublicKey,
}

impl AgreementSecret {
    pub fn generate() -> Self {
        let seed = Zeroizing::new(random_bytes::<32>());
        Self::from_bytes(&seed)
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let secret = x25519_dalek::StaticSecret::from(*bytes);
        let public = AgreementPublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
        AgreementSecret { secret, public }
    }

    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    pub fn public_key(&self) -> AgreementPublicKey {
        self.public
    }
}

impl std::fmt::Debug for AgreementSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgreementSecret(public={})", self.public_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let key = SigningKey::generate();
        let sig = key.sign(b"hello");
        assert!(key.public_key().verify(b"hello", &sig).is_ok());
        assert_eq!(
            key.public_key().verify(b"hellO", &sig),
            Err(SignatureError::BadSignature)
        );
        let seed = key.seed();
        assert_eq!(SigningKey::from_seed(&seed).public_key(), key.public_key());
    }

    #[test]
    fn batch_pins_down_the_bad_signature() {
        let keys: Vec<SigningKey> = (0..200u8)
            .map(|i| SigningKey::from_seed(&[i; 32]))
            .collect();
        let messages: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
        sigs[137].0[0] ^= 1;
        let pks: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_slice()).collect();
        let verdicts = verify_batch(&pks, &refs, &sigs).unwrap();
        assert_eq!(verdicts.iter().filter(|ok| !**ok).count(), 1);
        assert!(!verdicts[137]);
        assert!(matches!(
            verify_batch(&pks[..1], &refs, &sigs),
            Err(SignatureError::BatchShape { .. })
        ));
    }

    #[test]
    fn zip215_verdicts_are_the_same_alone_and_in_a_batch() {
        // The identity point as key and as R, with s = 0: the cofactored
        // equation ZIP-215 uses holds for any message, where RFC 8032's strict
        // rules would refuse the small-order key. Nodes agree either way; this
        // pins down which rules they agree on.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let key = PublicKey(identity);
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&identity);
        let signature = Signature(signature);
        assert!(key.verify(b"any message", &signature).is_ok());
        let honest = SigningKey::from_seed(&[7; 32]);
        let verdicts = verify_batch(
            &[key, honest.public_key()],
            &[b"any message", b"m"],
            &[signature, honest.sign(b"m")],
        )
        .unwrap();
        assert_eq!(verdicts, vec![true, true]);
        // A non-canonical s (at least the group order) is refused by both.
        let mut high_s = [0xffu8; 64];
        high_s[..32].copy_from_slice(&identity);
        let high_s = Signature(high_s);
        assert!(key.verify(b"any message", &high_s).is_err());
        assert_eq!(
            verify_batch(&[key], &[b"any message"], &[high_s]).unwrap(),
            vec![false]
        );
    }

    #[test]
    fn garbage_public_key_is_an_error_not_a_panic() {
        // y = 2 is not on the curve for any x.
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        let bad = PublicKey(bytes);
        let sig = Signature([0u8; 64]);
        assert!(bad.verify(b"m", &sig).is_err());
        let verdicts = verify_batch(&[bad], &[b"m"], &[sig]).unwrap();
        assert_eq!(verdicts, vec![false]);
    }

    #[test]
    fn agreement_keys_agree() {
        let a = AgreementSecret::generate();
        let b = AgreementSecret::generate();
        let ab = a
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(b.public_key().0));
        let ba = b
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(a.public_key().0));
        assert_eq!(ab.as_bytes(), ba.as_bytes());
    }
}
