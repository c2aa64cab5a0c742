//! Whole record operations over the API: write a version, read one, grant and
//! share keys, revoke. Each step that matters is checked against proven chain
//! state, not taken on the node's word: the anchor a reader decrypts against
//! and the agreement key a grantee receives both come with Merkle proofs.

use salus_api::vault::{ItemResult, ServedRecord};
use salus_crypto::AgreementSecret;
use salus_types::consent::{
    ConsentAction, ConsentEvent, DelegateKind, Delegation, EmergencyPolicy, Grant, Purpose,
    ReaderBasis, Scope,
};
use salus_types::identity::DidRecord;
use salus_types::records::{Category, RecordHead, RecordId, RecordVersion};
use salus_types::vault::{RequestHeader, Signed, Want, WriteRequest};
use salus_types::{consent as consent_keys, identity, records as record_keys};
use salus_types::{AccountId, Action, Event};
use zeroize::Zeroizing;

use crate::fhir::{check_fhir, FhirError};
use crate::records::{open_version, read_request, rewrap, KeyCache, Reader, RecordError};
use crate::{Client, ClientError, Signer, TxOutcome};

/// A party that acts on records: its transaction signer and its agreement
/// secret (to open keys wrapped to it).
pub struct Actor {
    pub signer: Signer,
    pub agreement: AgreementSecret,
}

impl Actor {
    pub fn account(&self) -> AccountId {
        self.signer.account
    }

    pub fn reader(&self) -> Reader {
        Reader {
            account: self.signer.account,
            key: self.agreement.public_key(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("the content is not FHIR R4 JSON")]
    Fhir(#[from] FhirError),
    #[error("the chain refused the transaction ({code}): {message}")]
    Rejected { code: String, message: String },
    #[error("the vault refused ({code}): {message}")]
    Vault { code: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// A written version.
#[derive(Debug, Clone)]
pub struct Written {
    pub record: RecordId,
    pub version: u32,
    pub height: u64,
    pub readers: Vec<AccountId>,
    /// What the chain anchored: a reader checks the ciphertext against it.
    pub ciphertext_hash: salus_crypto::Hash,
}

/// A read version.
pub struct Read {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub served: ServedRecord,
}

/// Record operations against one node and its vault.
pub struct RecordFlow<'a> {
    pub client: &'a Client,
    /// The vault operator account that requests are addressed to.
    pub vault: AccountId,
    /// The clock request headers carry (the vault checks they are fresh).
    pub clock: salus_types::clock::Clock,
    /// HPKE contexts reused across records (and across flows that share them).
    pub keys: std::sync::Arc<KeyCache>,
}

pub(crate) fn item<T>(result: ItemResult<T>) -> Result<T, FlowError> {
    result.into_result().map_err(|e| FlowError::Vault {
        code: e.code,
        message: e.message,
    })
}

pub(crate) async fn submit(
    client: &Client,
    signer: &mut Signer,
    actions: Vec<Action>,
) -> Result<TxOutcome, FlowError> {
    let outcome = client.submit_and_wait(&signer.sign(actions)).await?;
    if !outcome.receipt.succeeded() {
        return Err(FlowError::Rejected {
            code: outcome.receipt.code.name().to_owned(),
            message: outcome.receipt.message,
        });
    }
    Ok(outcome)
}

impl RecordFlow<'_> {
    /// A flow for the node at `client`, on the machine's clock.
    pub async fn connect(client: &Client) -> Result<RecordFlow<'_>, FlowError> {
        Ok(RecordFlow {
            client,
            vault: client.vault_account().await?,
            clock: salus_types::clock::system_clock(),
            keys: Default::default(),
        })
    }

    pub fn header(&self, actor: &Actor) -> RequestHeader {
        RequestHeader::new(
            &actor.signer.chain_id,
            self.vault,
            actor.signer.account,
            &actor.signer.key,
            (self.clock)(),
        )
    }

    /// The proven anchor of a record version (`None` if not anchored).
    pub async fn anchored(
        &self,
        record: &RecordId,
        version: u32,
    ) -> Result<Option<RecordVersion>, FlowError> {
        Ok(self
            .client
            .proven(&record_keys::version_key(record, version), None)
            .await?
            .decode()?)
    }

    /// The proven head of a record.
    pub async fn head(&self, record: &RecordId) -> Result<Option<RecordHead>, FlowError> {
        Ok(self
            .client
            .proven(&record_keys::head_key(record), None)
            .await?
            .decode()?)
    }

    /// The proven agreement key of `account`, as a reader.
    pub async fn reader_of(&self, account: &AccountId) -> Result<Reader, FlowError> {
        let did: Option<DidRecord> = self
            .client
            .proven(&identity::did_key(account), None)
            .await?
            .decode()?;
        match did {
            Some(d) if !d.deactivated => Ok(Reader {
                account: *account,
                key: d.agreement_key,
            }),
            _ => Err(FlowError::Invalid(format!(
                "{} has no active DID",
                account.did()
            ))),
        }
    }

    /// The readers the node names for a new version, each checked against
    /// proven state: its agreement key, and the consent that makes it a
    /// reader. A node cannot slip in a reader of its own; it could only leave
    /// one out, which costs that reader access, not anyone's privacy.
    pub async fn verified_readers(
        &self,
        patient: &AccountId,
        record: &RecordId,
        category: Category,
    ) -> Result<Vec<Reader>, FlowError> {
        let claimed = self.client.readers(patient, record, category).await?;
        let mut readers = Vec::with_capacity(claimed.len());
        for (reader, basis) in claimed {
            let proven = self.reader_of(&reader.account).await?;
            let unjustified = || {
                FlowError::Invalid(format!(
                    "the node named {} as a reader without a consent that proves it",
                    reader.account.did()
                ))
            };
            if proven.key != reader.key {
                return Err(unjustified());
            }
            let justified = match basis {
                ReaderBasis::Patient => reader.account == *patient,
                ReaderBasis::Guardian => {
                    let key = consent_keys::delegate_key(patient, &reader.account);
                    let proof = self.client.proven(&key, None).await?;
                    let now = proof.header.timestamp_ms;
                    proof
                        .decode::<Delegation>()?
                        .is_some_and(|d| d.kind == DelegateKind::Guardian && now < d.expires_ms)
                }
                ReaderBasis::Responder => {
                    let proof = self
                        .client
                        .proven(&consent_keys::policy_key(patient), None)
                        .await?;
                    proof
                        .decode::<EmergencyPolicy>()?
                        .is_some_and(|p| p.enabled && p.responders.contains(&reader.account))
                }
                ReaderBasis::Grant(id) => {
                    let proof = self
                        .client
                        .proven(&consent_keys::grant_key(id), None)
                        .await?;
                    let now = proof.header.timestamp_ms;
                    proof.decode::<Grant>()?.is_some_and(|g| {
                        g.patient == *patient
                            && g.grantee == reader.account
                            && g.is_active(now)
                            && g.scope.covers(record, category)
                    })
                }
            };
            if !justified {
                return Err(unjustified());
            }
            readers.push(proven);
        }
        if !readers.iter().any(|r| r.account == *patient) {
            return Err(FlowError::Invalid(
                "the patient must be a reader of its own record".into(),
            ));
        }
        Ok(readers)
    }

    /// Writes FHIR `content` as a new record for `patient` (or as the next
    /// version of `existing`): checks it, seals it to every reader consent
    /// names, anchors it, waits for finality and uploads it to the vault.
    pub async fn put(
        &self,
        author: &mut Actor,
        patient: AccountId,
        existing: Option<RecordId>,
        category: Option<Category>,
        content: &[u8],
    ) -> Result<Written, FlowError> {
        let summary = check_fhir(content)?;
        let slot = self
            .slot(patient, existing, category.unwrap_or(summary.category))
            .await?;
        let mut written = self
            .put_slots(author, vec![(slot, content.to_vec())])
            .await?;
        written
            .pop()
            .ok_or_else(|| FlowError::Invalid("the write produced no version".into()))
    }

    /// Reads and decrypts a version (the latest when `version` is `None`).
    pub async fn get(
        &self,
        reader: &Actor,
        record: RecordId,
        version: Option<u32>,
        purpose: Purpose,
    ) -> Result<Read, FlowError> {
        let request = read_request(
            self.header(reader),
            &reader.signer.key,
            record,
            version,
            purpose,
            Want::Record,
        );
        let served = self.read_one(request).await?;
        let wanted = match version {
            Some(number) => number,
            // "Latest" means the chain's latest, not whatever the vault says.
            None => {
                self.head(&record)
                    .await?
                    .ok_or_else(|| FlowError::Invalid(format!("record {record} is unknown")))?
                    .latest_version
            }
        };
        self.open_served(reader, record, wanted, served).await
    }

    /// Checks that `served` is version `wanted` of `record` as the chain
    /// anchors it (read with a proof), and decrypts it.
    pub(crate) async fn open_served(
        &self,
        reader: &Actor,
        record: RecordId,
        wanted: u32,
        served: ServedRecord,
    ) -> Result<Read, FlowError> {
        if served.version != wanted {
            return Err(FlowError::Invalid(format!(
                "asked for version {wanted}, the vault served {}",
                served.version
            )));
        }
        let anchored = self
            .anchored(&record, served.version)
            .await?
            .ok_or_else(|| {
                FlowError::Invalid("the vault served a version the chain does not anchor".into())
            })?;
        self.open_against(reader, record, served, &anchored.ciphertext_hash)
    }

    /// Opens a served version whose anchored ciphertext hash the caller has
    /// proven (or wrote itself): the hash check, the key unwrap, decryption.
    pub fn open_against(
        &self,
        reader: &Actor,
        record: RecordId,
        served: ServedRecord,
        anchored: &salus_crypto::Hash,
    ) -> Result<Read, FlowError> {
        let content = served
            .content
            .as_deref()
            .map(|text| {
                salus_api::vault::from_base64(text)
                    .ok_or_else(|| RecordError::Malformed("content is not standard base64".into()))
            })
            .transpose()?
            .ok_or(RecordError::NoContent)?;
        let plaintext = open_version(
            &record,
            served.version,
            &content,
            anchored,
            &served.envelope,
            &reader.signer.account,
            &reader.agreement,
            &self.keys,
        )?;
        Ok(Read { plaintext, served })
    }

    async fn read_one(
        &self,
        request: Signed<salus_types::vault::ReadRequest>,
    ) -> Result<ServedRecord, FlowError> {
        let mut results = self
            .client
            .vault_read(std::slice::from_ref(&request))
            .await?;
        let result = results
            .pop()
            .ok_or_else(|| FlowError::Invalid("the vault sent no result".into()))?;
        item(result)
    }

    /// Wraps the keys of `versions` (which `owner` can open) to `grantees`,
    /// without touching the content: one key read per version, whatever the
    /// number of grantees. Returns how many versions were shared.
    pub async fn share(
        &self,
        owner: &Actor,
        grantees: &[AccountId],
        versions: &[(RecordId, u32)],
    ) -> Result<usize, FlowError> {
        let mut readers = Vec::with_capacity(grantees.len());
        for grantee in grantees {
            readers.push(self.reader_of(grantee).await?);
        }
        for (record, version) in versions {
            let request = read_request(
                self.header(owner),
                &owner.signer.key,
                *record,
                Some(*version),
                Purpose::Treatment,
                Want::Key,
            );
            let own = self.read_one(request).await?;
            let envelopes = rewrap(
                &own.envelope,
                record,
                *version,
                &owner.signer.account,
                &owner.agreement,
                &readers,
                &self.keys,
            )?;
            let write = Signed::sign(
                WriteRequest {
                    header: self.header(owner),
                    record: *record,
                    version: *version,
                    content: None,
                    envelopes,
                },
                &owner.signer.key,
            );
            for result in self.client.vault_write(&[(write, None)]).await? {
                item(result)?;
            }
        }
        Ok(versions.len())
    }

    /// Grants `grantee` access and wraps the keys of every record version the
    /// grant covers to it. Returns the grant id and how many versions were shared.
    pub async fn grant(
        &self,
        patient: &mut Actor,
        grantee: AccountId,
        scope: Scope,
        purpose: Purpose,
        expires_ms: u64,
    ) -> Result<(u64, usize), FlowError> {
        let me = patient.account();
        let action = Action::Consent(ConsentAction::Grant {
            patient: me,
            grantee,
            scope: scope.clone(),
            purpose,
            expires_ms,
        });
        let outcome = submit(self.client, &mut patient.signer, vec![action]).await?;
        let grant = outcome
            .receipt
            .events
            .iter()
            .find_map(|e| match e {
                Event::Consent(ConsentEvent::Granted { grant, .. }) => Some(*grant),
                _ => None,
            })
            .ok_or_else(|| FlowError::Invalid("the grant's receipt names no grant".into()))?;
        let covered = self.covered_versions(&me, &scope).await?;
        let shared = self.share(patient, &[grantee], &covered).await?;
        Ok((grant, shared))
    }

    /// Every version of the patient's unerased records that `scope` covers.
    async fn covered_versions(
        &self,
        patient: &AccountId,
        scope: &Scope,
    ) -> Result<Vec<(RecordId, u32)>, FlowError> {
        let listing = self.client.records_of(patient).await?;
        let mut out = Vec::new();
        for entry in listing.records {
            let (record, head) = (entry.record, entry.head);
            if head.erased_ms.is_none() && scope.covers(&record, head.category) {
                out.extend((1..=head.latest_version).map(|v| (record, v)));
            }
        }
        Ok(out)
    }

    /// Opts the patient in to break-glass access by `responders` for
    /// `window_ms` at a time, and wraps the keys of every unerased record
    /// version to them in advance (vaults release them only during an open
    /// break-glass access). Returns how many versions were shared per responder.
    pub async fn allow_emergency(
        &self,
        patient: &mut Actor,
        responders: Vec<AccountId>,
        window_ms: u64,
    ) -> Result<usize, FlowError> {
        let me = patient.account();
        let action = Action::Consent(ConsentAction::SetEmergencyPolicy {
            patient: me,
            enabled: true,
            window_ms,
            responders: responders.clone(),
        });
        submit(self.client, &mut patient.signer, vec![action]).await?;
        let covered = self.covered_versions(&me, &Scope::All).await?;
        self.share(patient, &responders, &covered).await?;
        Ok(covered.len())
    }

    /// A responder opens time-limited emergency access to `patient`; the chain
    /// shows it to the patient. Returns when the access ends (ms).
    pub async fn break_glass(
        &self,
        responder: &mut Actor,
        patient: AccountId,
        reason: salus_types::consent::EmergencyReason,
    ) -> Result<u64, FlowError> {
        let action = Action::Consent(ConsentAction::BreakGlass { patient, reason });
        let outcome = submit(self.client, &mut responder.signer, vec![action]).await?;
        outcome
            .receipt
            .events
            .iter()
            .find_map(|e| match e {
                Event::Consent(ConsentEvent::BreakGlass { expires_ms, .. }) => Some(*expires_ms),
                _ => None,
            })
            .ok_or_else(|| FlowError::Invalid("the break-glass receipt names no expiry".into()))
    }

    /// Revokes a grant; the next finalized block enforces it.
    pub async fn revoke(&self, patient: &mut Actor, grant: u64) -> Result<u64, FlowError> {
        let outcome = submit(
            self.client,
            &mut patient.signer,
            vec![Action::Consent(ConsentAction::Revoke { grant })],
        )
        .await?;
        Ok(outcome.height)
    }

    /// Erases a record (crypto-shredding): every vault deletes its ciphertext
    /// and keys; the chain keeps only hashes.
    pub async fn erase(&self, patient: &mut Actor, record: RecordId) -> Result<u64, FlowError> {
        let action = Action::Records(salus_types::records::RecordAction::Erase { record });
        Ok(submit(self.client, &mut patient.signer, vec![action])
            .await?
            .height)
    }
}
