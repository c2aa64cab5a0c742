/// Everything that can go wrong issuing, proving or verifying. Verifiers see
/// only these: never a panic, whatever bytes they are handed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZkError {
    #[error("bad schema: {0}")]
    BadSchema(String),
    #[error("bad attribute value: {0}")]
    BadValue(String),
    #[error("the schema has no attribute `{0}`")]
    UnknownAttribute(String),
    #[error("the credential has {got} values; its schema has {expected} attributes")]
    WrongValueCount { expected: usize, got: usize },
    #[error("bad presentation request: {0}")]
    BadRequest(String),
    #[error("the presentation is for definition `{presented}`, not `{expected}`")]
    WrongDefinition { expected: String, presented: String },
    #[error("the presentation answers another nonce")]
    NonceMismatch,
    #[error(
        "the presentation was made at revocation epoch {presented}; the registry is at {current}"
    )]
    StaleRevocation { presented: u64, current: u64 },
    #[error("the credential has been revoked")]
    Revoked,
    #[error("the revocation registry is full ({0} credentials)")]
    RegistryFull(u32),
    #[error("no published set `{0}`")]
    UnknownSet(String),
    #[error("the credential does not satisfy the predicate: {0}")]
    Unsatisfied(String),
    #[error("the disclosed attributes differ from those requested")]
    DisclosureMismatch,
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("the proof does not verify")]
    InvalidProof,
    #[error("the credential's signature does not verify")]
    InvalidSignature,
    #[error("cryptographic failure: {0}")]
    Crypto(String),
}

impl From<proof_system::error::ProofSystemError> for ZkError {
    fn from(e: proof_system::error::ProofSystemError) -> Self {
        // Debug is all these errors offer; they carry no secrets.
        ZkError::Crypto(format!("{e:?}"))
    }
}
