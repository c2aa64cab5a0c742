//! The HTTP client for a node's JSON API.

use std::time::Duration;

use salus_api::chain::{
    AccountResponse, BatchRequest, BatchResponse, BlockSummary, EventParams, EventsPage,
    FinalityProof, StateParams, StateResponse, StatusResponse, SubmitRequest, SubmitResponse,
    TxState, TxStatus,
};
use salus_api::identity::DidResolution;
use salus_api::ErrorBody;
use salus_types::{AccountId, Hash, Header, Receipt, Tx};

use crate::finality::{Certified, FinalityError, Trust, ValidatorHistory};
use salus_api::epochs::EpochSet;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the node: {0}")]
    Transport(String),
    #[error("node answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("node sent an unexpected response: {0}")]
    Decode(String),
    #[error("transaction {0} was not final within {1:?}")]
    Timeout(Hash, Duration),
    #[error("the node's answer does not match the proven chain state: {0}")]
    Proof(String),
    #[error("block {height} is not proven final")]
    NotFinal {
        height: u64,
        #[source]
        source: salus_finality::FinalityError,
    },
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        ClientError::Transport(e.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    /// The validator sets headers are checked against, and the headers
    /// already verified; shared by clones.
    trust: Trust,
}

/// A finalized transaction's outcome.
#[derive(Debug, Clone)]
pub struct TxOutcome {
    pub height: u64,
    pub receipt: Receipt,
}

/// A state value proven against a finalized header.
#[derive(Debug, Clone)]
pub struct Proven {
    pub value: Option<Vec<u8>>,
    pub header: Header,
}

impl Proven {
    /// Decodes the value as borsh `T` (`None` when the key is absent).
    pub fn decode<T: borsh::BorshDeserialize>(&self) -> Result<Option<T>, ClientError> {
        self.value
            .as_deref()
            .map(borsh::from_slice)
            .transpose()
            .map_err(|e| ClientError::Decode(format!("proven value does not decode: {e}")))
    }
}

impl Client {
    /// `base` like `http://127.0.0.1:8545`. The client pins the validator
    /// set the node reports at its first verified read (trust on first
    /// use); [`Client::trusting`] pins genesis's instead.
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client always builds");
        Client {
            base: base.into().trim_end_matches('/').to_owned(),
            http,
            trust: Trust::default(),
        }
    }

    /// A client that checks every header against `history` (from the
    /// genesis validators on) and trusts its node for nothing else.
    pub fn trusting(base: impl Into<String>, history: ValidatorHistory) -> Self {
        Client {
            trust: Trust::pinned(history),
            ..Client::new(base)
        }
    }

    /// The validator sets this client checks headers against, pinning its
    /// node's genesis set on first use.
    pub async fn validator_history(&self) -> Result<ValidatorHistory, ClientError> {
        if let Some(history) = self.trust.history() {
            return Ok(history);
        }
        let genesis = self.epoch_set(0).await?;
        let validators: Vec<_> = genesis.validators.iter().map(|v| v.key).collect();
        let history = ValidatorHistory::new(&validators, genesis.epoch_blocks)
            .map_err(|e| ClientError::Decode(format!("the node's genesis validators: {e}")))?;
        Ok(self.trust.pin(history))
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) async fn decode<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<T, ClientError> {
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => ClientError::Api {
                    status: status.as_u16(),
                    code: body.error.code,
                    message: body.error.message,
                },
                Err(_) => ClientError::Api {
                    status: status.as_u16(),
                    code: "unknown".into(),
                    message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                },
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// GETs `path` and decodes the answer.
    pub(crate) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ClientError> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        Self::decode(response).await
    }

    /// Submits a signed transaction; returns its hash.
    pub async fn submit(&self, tx: &Tx) -> Result<Hash, ClientError> {
        let body = SubmitRequest {
            tx: hex::encode(tx.encode()),
        };
        let response: SubmitResponse = self.post_json(salus_api::chain::SUBMIT_TX, &body).await?;
        Ok(response.hash)
    }

    /// Submits many transactions; each gets its own verdict.
    pub async fn submit_batch(&self, txs: &[Tx]) -> Result<BatchResponse, ClientError> {
        let body = BatchRequest {
            txs: txs.iter().map(|t| hex::encode(t.encode())).collect(),
        };
        self.post_json(salus_api::chain::SUBMIT_BATCH, &body).await
    }

    pub async fn tx_status(&self, hash: &Hash) -> Result<TxStatus, ClientError> {
        self.get(&format!("{}/{hash}", salus_api::chain::TX_STATUS))
            .await
    }

    /// Polls until `hash` is final, or `timeout`.
    pub async fn wait_final(
        &self,
        hash: &Hash,
        timeout: Duration,
    ) -> Result<TxOutcome, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.tx_status(hash).await?;
            if status.status == TxState::Final {
                let (Some(height), Some(receipt)) = (status.height, status.receipt) else {
                    return Err(ClientError::Decode(
                        "a final transaction without its height or receipt".into(),
                    ));
                };
                return Ok(TxOutcome { height, receipt });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Timeout(*hash, timeout));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Submits and waits for finality.
    pub async fn submit_and_wait(&self, tx: &Tx) -> Result<TxOutcome, ClientError> {
        let hash = self.submit(tx).await?;
        self.wait_final(&hash, Duration::from_secs(30)).await
    }

    pub async fn status(&self) -> Result<StatusResponse, ClientError> {
        self.get(salus_api::chain::STATUS).await
    }

    pub async fn block(&self, height: u64) -> Result<BlockSummary, ClientError> {
        self.get(&format!("{}/{height}", salus_api::chain::BLOCK))
            .await
    }

    /// A finalized block named as the API names it: a height, or `latest`
    /// for the tip. The node refuses anything else (`bad_height`).
    pub async fn block_named(&self, height: &str) -> Result<BlockSummary, ClientError> {
        let segment = percent_encode(height);
        self.get(&format!("{}/{segment}", salus_api::chain::BLOCK))
            .await
    }

    /// The node's proof that block `height` is final, unchecked.
    pub async fn finality(&self, height: u64) -> Result<FinalityProof, ClientError> {
        self.get(&format!(
            "{}/{height}/{}",
            salus_api::chain::BLOCK,
            salus_api::chain::FINALITY_SUFFIX
        ))
        .await
    }

    /// The header of finalized block `height`, proven final: a quorum of
    /// its epoch's validators certified it, or a descendant it links to.
    pub async fn header(&self, height: u64) -> Result<Header, ClientError> {
        if let Some(header) = self.trust.remembered(height) {
            return Ok(header);
        }
        let (headers, _) = self.verified(height).await?;
        Ok(headers[0].clone())
    }

    /// The verified certificate that makes block `height` final: its own,
    /// or that of the nearest block above it that has one. It says which
    /// validators signed.
    pub async fn certified(&self, height: u64) -> Result<Certified, ClientError> {
        let (_, certified) = self.verified(height).await?;
        Ok(certified)
    }

    /// Fetches and verifies block `height`'s finality proof, learning the
    /// epochs it needs on the way, and remembers its headers.
    async fn verified(&self, height: u64) -> Result<(Vec<Header>, Certified), ClientError> {
        let proof = self.finality(height).await?;
        let history = self.validator_history().await?;
        let verified = match crate::finality::verify_certified(&history, height, &proof) {
            Err(ClientError::NotFinal {
                source: FinalityError::UnknownEpoch(epoch),
                ..
            }) => {
                self.learn_epochs(epoch).await?;
                let history = self.validator_history().await?;
                crate::finality::verify_certified(&history, height, &proof)?
            }
            verified => verified?,
        };
        self.trust.remember(&verified.0);
        Ok(verified)
    }

    /// Epoch `epoch`'s validator set and its proof, unchecked.
    pub async fn epoch_set(&self, epoch: u64) -> Result<EpochSet, ClientError> {
        self.get(&format!("{}/{epoch}", salus_api::epochs::EPOCH))
            .await
    }

    /// Learns each epoch's validator set up to `target`, one epoch at a
    /// time: the last block of the epoch before fixed it, and that block is
    /// proven final by the sets already known.
    async fn learn_epochs(&self, target: u64) -> Result<(), ClientError> {
        loop {
            let history = self.validator_history().await?;
            let known = history.latest_epoch();
            if known >= target {
                return Ok(());
            }
            let next = known + 1;
            let set = self.epoch_set(next).await?;
            // Only the last block of the epoch before may prove the set: it
            // is the one block that epoch's validators certify and that
            // already holds it.
            let fixed_at = salus_types::epochs::last_height(known, history.epoch_blocks());
            if set.epoch != next
                || set.epoch_blocks != history.epoch_blocks()
                || Some(set.height) != fixed_at
            {
                return Err(ClientError::Proof(format!(
                    "asked for epoch {next}'s set as fixed at block {fixed_at:?}, got epoch {}'s at block {}",
                    set.epoch, set.height
                )));
            }
            let proof = self.finality(set.height).await?;
            let headers = crate::finality::verify_finality(&history, set.height, &proof)?;
            let keys = crate::finality::verify_epoch_set(&set, &headers[0])?;
            self.trust
                .learn(next, &keys)
                .map_err(|source| ClientError::NotFinal {
                    height: set.height,
                    source,
                })?;
            self.trust.remember(&headers);
        }
    }

    pub async fn state(
        &self,
        key: &[u8],
        height: Option<u64>,
    ) -> Result<StateResponse, ClientError> {
        let params = StateParams {
            key: hex::encode(key),
            height,
        };
        self.get_query(salus_api::chain::STATE, &params).await
    }

    /// The value of a state key at `height` (the tip when `None`), checked
    /// with its Merkle proof against the block header, which is proven final
    /// itself ([`Client::header`]). A node can still answer with older
    /// final state than it has (withhold, not forge): the header's height and
    /// time say how old.
    pub async fn proven(&self, key: &[u8], height: Option<u64>) -> Result<Proven, ClientError> {
        let state = self.state(key, height).await?;
        if height.is_some_and(|asked| asked != state.height) {
            return Err(ClientError::Proof(format!(
                "asked for the state at block {height:?}, got block {}",
                state.height
            )));
        }
        let header = self.header(state.height).await?;
        let value = state
            .value
            .as_deref()
            .map(hex::decode)
            .transpose()
            .map_err(|_| ClientError::Decode("state value is not hex".into()))?;
        crate::verify_state(&header, key, value.as_deref(), &state.proof)
            .map_err(|e| ClientError::Proof(e.to_string()))?;
        Ok(Proven { value, header })
    }

    pub async fn account(&self, account: &AccountId) -> Result<AccountResponse, ClientError> {
        self.get(&format!("{}/{account}", salus_api::chain::ACCOUNT))
            .await
    }

    /// The next nonce the chain expects from `account`.
    pub async fn next_nonce(&self, account: &AccountId) -> Result<u64, ClientError> {
        Ok(self.account(account).await?.nonce)
    }

    /// Resolves a `did:salus` or `did:key`.
    pub async fn resolve(&self, did: &str) -> Result<DidResolution, ClientError> {
        self.get(&format!("{}/{did}", salus_api::identity::RESOLVE))
            .await
    }

    /// GETs `path` with `query` (its fields, URL-encoded) and decodes the answer.
    pub(crate) async fn get_query<Q: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<T, ClientError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await?;
        Self::decode(response).await
    }

    /// POSTs `body` as JSON to `path` and decodes the answer.
    pub(crate) async fn post_json<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        Self::decode(response).await
    }

    /// The newest `limit` events that concern `account`.
    pub async fn events(
        &self,
        account: &AccountId,
        limit: usize,
    ) -> Result<EventsPage, ClientError> {
        self.events_before(account, None, limit).await
    }

    /// Up to `limit` events that concern `account`, newest first, strictly
    /// before the cursor `before` (a page's `next`).
    pub async fn events_before(
        &self,
        account: &AccountId,
        before: Option<String>,
        limit: usize,
    ) -> Result<EventsPage, ClientError> {
        let params = EventParams {
            account: account.to_hex(),
            before,
            limit: Some(limit),
        };
        self.get_query(salus_api::chain::EVENTS, &params).await
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters, for
/// a caller's text in a path segment.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
