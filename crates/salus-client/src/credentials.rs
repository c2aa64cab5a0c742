//! Credentials from the holder's and verifier's side: published
//! definitions, revocation catch-up, sets and role rules as the chain holds
//! them, presentations built locally (the credential never leaves the
//! holder), and verification through a node.

use salus_types::credentials::RoleRule;
use salus_types::identity::Role;
use salus_zk::{
    Credential, CredentialDefinition, Predicate, Presentation, PresentationRequest, PublicSet,
    RevocationStatus, RevocationUpdate, ZkError,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{Client, ClientError};

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(transparent)]
    Node(#[from] ClientError),
    #[error(transparent)]
    Zk(#[from] ZkError),
}

/// A definition as finalized on chain.
#[derive(Debug, Clone, Deserialize)]
pub struct Published {
    pub issuer: String,
    pub definition: CredentialDefinition,
    pub status: RevocationStatus,
}

#[derive(Deserialize)]
struct RevocationPage {
    status: RevocationStatus,
    updates: Vec<RevocationUpdate>,
    complete: bool,
}

#[derive(Deserialize)]
struct SetBody {
    set: PublicSet,
}

#[derive(Deserialize)]
struct RuleBody {
    rule: RoleRule,
}

impl Client {
    pub async fn credential_definition(&self, id: &str) -> Result<Published, ClientError> {
        self.get_query("/v1/credentials/definition", &[("id", id)])
            .await
    }

    /// Every revocation after `after`, and the status they lead to.
    pub async fn revocation_updates(
        &self,
        id: &str,
        after: u64,
    ) -> Result<(RevocationStatus, Vec<RevocationUpdate>), ClientError> {
        let mut updates = Vec::new();
        loop {
            let from = (after + updates.len() as u64).to_string();
            let page: RevocationPage = self
                .get_query(
                    "/v1/credentials/revocations",
                    &[("id", id), ("after", &from)],
                )
                .await?;
            updates.extend(page.updates);
            if page.complete {
                return Ok((page.status, updates));
            }
        }
    }

    /// A published set, with every witness checked against its accumulator.
    pub async fn published_set(&self, id: &str) -> Result<PublicSet, CredentialError> {
        let body: SetBody = self.get_query("/v1/credentials/set", &[("id", id)]).await?;
        body.set.validate()?;
        Ok(body.set)
    }

    pub async fn role_rule(&self, role: Role) -> Result<RoleRule, ClientError> {
        let body: RuleBody = self
            .get_query("/v1/credentials/rule", &[("role", role.name())])
            .await?;
        Ok(body.rule)
    }

    /// Asks the node to verify `presentation` against `request` on its
    /// latest finalized state. A rejection is `ClientError::Api` with the
    /// verifier's error code (`invalid_proof`, `stale_revocation`, …).
    pub async fn verify_presentation(
        &self,
        request: &PresentationRequest,
        presentation: &Presentation,
    ) -> Result<Value, ClientError> {
        let body = serde_json::json!({"request": request, "presentation": presentation});
        self.post_json("/v1/credentials/verify", &body).await
    }
}

/// Holder side: applies every revocation published since the credential's
/// epoch, then answers `request` against the current chain state.
pub async fn present(
    client: &Client,
    credential: &mut Credential,
    request: &PresentationRequest,
) -> Result<Presentation, CredentialError> {
    let published = client.credential_definition(&credential.definition).await?;
    let (status, updates) = client
        .revocation_updates(&credential.definition, credential.epoch)
        .await?;
    credential.apply(&updates)?;
    let mut sets = Vec::new();
    for predicate in &request.predicates {
        if let Predicate::InSet { set, .. } = predicate {
            sets.push(client.published_set(set).await?);
        }
    }
    let sets: Vec<&PublicSet> = sets.iter().collect();
    Ok(Presentation::create(
        credential,
        &published.definition,
        request,
        &status,
        &sets,
    )?)
}
