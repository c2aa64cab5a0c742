//! Credentials from the holder's and verifier's side: published
//! definitions, revocation catch-up, sets and role rules as the chain holds
//! them, presentations built locally (the credential never leaves the
//! holder), and verification through a node.

use salus_api::credentials::{
    IdParams, PublishedDefinition, PublishedSet, RevocationPage, RevocationParams, RuleParams,
    RuleResponse, Verified, VerifyRequest,
};
use salus_types::credentials::RoleRule;
use salus_types::identity::Role;
use salus_types::Did;
use salus_zk::{
    Credential, CredentialDefinition, Predicate, Presentation, PresentationRequest, PublicSet,
    RevocationStatus, RevocationUpdate, ZkError,
};

use crate::{Client, ClientError};

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(transparent)]
    Node(#[from] ClientError),
    #[error(transparent)]
    Zk(#[from] ZkError),
}

/// A definition as finalized on chain.
#[derive(Debug, Clone)]
pub struct Published {
    pub issuer: Did,
    pub definition: CredentialDefinition,
    pub status: RevocationStatus,
}

/// Decodes a zero-knowledge object the node sent as JSON.
fn zk_object<T: serde::de::DeserializeOwned>(
    what: &str,
    value: serde_json::Value,
) -> Result<T, ClientError> {
    serde_json::from_value(value)
        .map_err(|e| ClientError::Decode(format!("the node sent a malformed {what}: {e}")))
}

impl Client {
    pub async fn credential_definition(&self, id: &str) -> Result<Published, ClientError> {
        let params = IdParams { id: id.to_owned() };
        let published: PublishedDefinition = self
            .get_query(salus_api::credentials::DEFINITION, &params)
            .await?;
        Ok(Published {
            issuer: published.issuer,
            definition: zk_object("credential definition", published.definition)?,
            status: zk_object("revocation status", published.status)?,
        })
    }

    /// Every revocation after `after`, and the status they lead to.
    pub async fn revocation_updates(
        &self,
        id: &str,
        after: u64,
    ) -> Result<(RevocationStatus, Vec<RevocationUpdate>), ClientError> {
        let mut updates = Vec::new();
        loop {
            let params = RevocationParams {
                id: id.to_owned(),
                after: Some(after + updates.len() as u64),
            };
            let page: RevocationPage = self
                .get_query(salus_api::credentials::REVOCATIONS, &params)
                .await?;
            for update in page.updates {
                updates.push(zk_object("revocation update", update)?);
            }
            if page.complete {
                return Ok((zk_object("revocation status", page.status)?, updates));
            }
        }
    }

    /// A published set, with every witness checked against its accumulator.
    pub async fn published_set(&self, id: &str) -> Result<PublicSet, CredentialError> {
        let params = IdParams { id: id.to_owned() };
        let body: PublishedSet = self.get_query(salus_api::credentials::SET, &params).await?;
        let set: PublicSet = zk_object("published set", body.set)?;
        set.validate()?;
        Ok(set)
    }

    pub async fn role_rule(&self, role: Role) -> Result<RoleRule, ClientError> {
        let params = RuleParams {
            role: role.name().to_owned(),
        };
        let body: RuleResponse = self
            .get_query(salus_api::credentials::RULE, &params)
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
    ) -> Result<Verified, ClientError> {
        let to_value = |value: serde_json::Result<serde_json::Value>| {
            value.map_err(|e| ClientError::Decode(e.to_string()))
        };
        let body = VerifyRequest {
            request: to_value(serde_json::to_value(request))?,
            presentation: to_value(serde_json::to_value(presentation))?,
        };
        self.post_json(salus_api::credentials::VERIFY, &body).await
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
