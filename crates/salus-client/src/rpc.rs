//! The HTTP client for a node's JSON API.

use std::time::Duration;

use salus_types::{AccountId, Hash, Header, Receipt, Tx};
use serde::Deserialize;
use serde_json::Value;

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
}

/// A finalized transaction's outcome.
#[derive(Debug, Clone)]
pub struct TxOutcome {
    pub height: u64,
    pub receipt: Receipt,
}

/// A state value with its proof and the header it proves against.
#[derive(Debug, Clone, Deserialize)]
pub struct StateValue {
    pub key: String,
    pub height: u64,
    pub value: Option<String>,
    pub proof: String,
    pub header: Header,
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

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

impl Client {
    /// `base` like `http://127.0.0.1:8545`.
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client always builds");
        Client {
            base: base.into().trim_end_matches('/').to_owned(),
            http,
        }
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

    pub async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        Self::decode(response).await
    }

    /// Submits a signed transaction; returns its hash.
    pub async fn submit(&self, tx: &Tx) -> Result<Hash, ClientError> {
        let body = serde_json::json!({ "tx": hex::encode(tx.encode()) });
        let response = self
            .http
            .post(format!("{}/v1/txs", self.base))
            .json(&body)
            .send()
            .await?;
        let value: Value = Self::decode(response).await?;
        parse_hash(&value["hash"])
    }

    /// Submits many transactions; returns the raw batch verdict.
    pub async fn submit_batch(&self, txs: &[Tx]) -> Result<Value, ClientError> {
        let encoded: Vec<String> = txs.iter().map(|t| hex::encode(t.encode())).collect();
        let body = serde_json::json!({ "txs": encoded });
        let response = self
            .http
            .post(format!("{}/v1/txs/batch", self.base))
            .json(&body)
            .send()
            .await?;
        Self::decode(response).await
    }

    pub async fn tx_status(&self, hash: &Hash) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/txs/{hash}")).await
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
            if status["status"] == "final" {
                let receipt: Receipt = serde_json::from_value(status["receipt"].clone())
                    .map_err(|e| ClientError::Decode(e.to_string()))?;
                let height = status["height"]
                    .as_u64()
                    .ok_or_else(|| ClientError::Decode("no height".into()))?;
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

    pub async fn status(&self) -> Result<Value, ClientError> {
        self.get_json("/v1/status").await
    }

    pub async fn block(&self, height: u64) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/blocks/{height}")).await
    }

    /// The header of finalized block `height`, checked against its digest.
    pub async fn header(&self, height: u64) -> Result<Header, ClientError> {
        let block = self.block(height).await?;
        let header: Header = serde_json::from_value(block["header"].clone())
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let digest = parse_hash(&block["digest"])?;
        if header.digest() != digest {
            return Err(ClientError::Decode(
                "block digest does not match its header".into(),
            ));
        }
        Ok(header)
    }

    pub async fn state(&self, key: &[u8], height: Option<u64>) -> Result<StateValue, ClientError> {
        let mut path = format!("/v1/state?key={}", hex::encode(key));
        if let Some(h) = height {
            path.push_str(&format!("&height={h}"));
        }
        let value = self.get_json(&path).await?;
        serde_json::from_value(value).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// The value of a state key at `height` (the tip when `None`), checked
    /// with its Merkle proof against the block header, whose digest is checked
    /// too: nothing the node says is trusted beyond that header.
    pub async fn proven(&self, key: &[u8], height: Option<u64>) -> Result<Proven, ClientError> {
        let state = self.state(key, height).await?;
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

    pub async fn account(&self, account: &AccountId) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/accounts/{account}")).await
    }

    /// The next nonce the chain expects from `account`.
    pub async fn next_nonce(&self, account: &AccountId) -> Result<u64, ClientError> {
        self.account(account)
            .await?
            .get("nonce")
            .and_then(Value::as_u64)
            .ok_or_else(|| ClientError::Decode("account has no nonce".into()))
    }

    pub async fn resolve(&self, did: &str) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/dids/{did}")).await
    }

    /// GETs `path` with `query` (percent-encoded) and decodes the answer.
    pub(crate) async fn get_query<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        let url = format!("{}{path}?{}", self.base, query.join("&"));
        let response = self.http.get(url).send().await?;
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

    pub async fn events(&self, account: &AccountId, limit: usize) -> Result<Value, ClientError> {
        self.get_json(&format!("/v1/events?account={account}&limit={limit}"))
            .await
    }
}

fn parse_hash(value: &Value) -> Result<Hash, ClientError> {
    value
        .as_str()
        .and_then(|s| Hash::from_hex(s).ok())
        .ok_or_else(|| ClientError::Decode("expected a hash".into()))
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
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
