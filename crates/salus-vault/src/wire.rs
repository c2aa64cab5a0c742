//! Between the vault's errors and the API's bodies (`salus_api::vault`):
//! decoding the hex and base64 that requests carry, and each item's error.

use salus_api::vault::ItemError;
use salus_types::vault::{Signed, VaultRequest};

use crate::VaultError;

pub fn from_base64(text: &str) -> Result<Vec<u8>, VaultError> {
    salus_api::vault::from_base64(text)
        .ok_or_else(|| VaultError::Malformed("content is not standard base64".into()))
}

/// Decodes hex of a signed request.
pub fn decode_request<T: VaultRequest>(text: &str) -> Result<Signed<T>, VaultError> {
    let bytes =
        hex::decode(text).map_err(|_| VaultError::Malformed("request is not hex".into()))?;
    Signed::decode(&bytes).map_err(|e| VaultError::Malformed(e.to_string()))
}

/// An item's error as the API reports it. Storage faults name paths and
/// peers: those go to the node's log, not to the requester.
pub fn item_error(e: &VaultError) -> ItemError {
    let message = match e {
        VaultError::Storage(detail) => {
            tracing::error!(%detail, "vault storage fault while serving a request");
            "internal error; see the node log".to_owned()
        }
        other => other.to_string(),
    };
    ItemError {
        code: e.code().to_owned(),
        message,
    }
}

/// An item's outcome as the API reports it.
pub fn item_result<T>(result: Result<T, &VaultError>) -> salus_api::vault::ItemResult<T> {
    match result {
        Ok(value) => salus_api::vault::ItemResult::ok(value),
        Err(e) => salus_api::vault::ItemResult::err(item_error(e)),
    }
}
