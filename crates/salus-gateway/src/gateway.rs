//! The gateway's FHIR operations over Salus: each resource is one record,
//! each FHIR version one record version. Writes are sealed to the readers
//! consent names and anchored until final; reads are signed vault reads,
//! consent-checked and audited by the vault, opened against proven anchors.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use salus_client::fhir::category_of;
use salus_client::record_flow::{Actor, FlowError, Read, RecordFlow};
use salus_client::records::KeyCache;
use salus_client::{Client, ClientError, Signer, Slot};
use salus_types::calendar::fhir_instant;
use salus_types::clock::Clock;
use salus_types::consent::{AccessReason, Purpose};
use salus_types::identity::Role;
use salus_types::records::RecordId;
use salus_types::{AccountId, Did};
use serde_json::{json, Value};

use crate::index::{date_range, Entry, Index};
use crate::outcome::GatewayError;
use crate::reads::Reads;
use crate::resource::{references, relative_reference, searchable};
use crate::sync::Authored;
use crate::writer::{Parts, Writer};

/// The identifier system under which a Patient carries its DID.
pub const DID_SYSTEM: &str = "urn:ietf:rfc:3986";

/// A resource as stored: its record, version and content.
#[derive(Debug, Clone)]
pub struct Stored {
    pub record: RecordId,
    pub version: u32,
    pub last_updated_ms: u64,
    pub resource: Value,
}

impl Stored {
    pub fn resource_type(&self) -> &str {
        self.resource["resourceType"].as_str().unwrap_or_default()
    }

    /// `Type/id`, as a `Location` or `fullUrl` ends.
    pub fn location(&self) -> String {
        format!("{}/{}", self.resource_type(), self.record)
    }
}

/// A write to make: a new resource, or a new version of an existing one
/// (with the version the writer saw, when it said `If-Match`).
#[derive(Debug, Clone)]
pub struct Pending {
    pub resource: Value,
    pub existing: Option<(RecordId, Option<u32>)>,
    /// The id a new resource gets, when chosen beforehand (a transaction
    /// resolves `urn:uuid` references to it).
    pub new_id: Option<RecordId>,
}

/// One member's FHIR view of the network.
pub struct Gateway {
    pub(crate) client: Client,
    vault: AccountId,
    keys: Arc<KeyCache>,
    clock: Clock,
    pub(crate) me: AccountId,
    is_provider: bool,
    pub(crate) reader: Actor,
    writer: Writer,
    reads: Reads,
    index: RwLock<Index>,
    authored: RwLock<Authored>,
}

impl Gateway {
    /// A gateway acting with `actor`'s keys through the node at `client`.
    pub async fn connect(client: Client, mut actor: Actor) -> Result<Gateway, GatewayError> {
        let vault = client.vault_account().await.map_err(unavailable)?;
        let me = actor.account();
        actor.signer.next_nonce = client.next_nonce(&me).await.map_err(unavailable)?;
        let role = client
            .proven(&salus_types::identity::role_key(&me, Role::Provider), None)
            .await
            .map_err(unavailable)?;
        let is_provider = role.value.is_some();
        // Reads need no nonce, so they do not wait for the writer's lock.
        let reader = Actor {
            signer: Signer {
                chain_id: actor.signer.chain_id.clone(),
                account: actor.signer.account,
                key: actor.signer.key.clone(),
                next_nonce: 0,
            },
            agreement: actor.agreement.clone(),
        };
        let keys: Arc<KeyCache> = Arc::default();
        let clock = salus_types::clock::system_clock();
        let parts = Parts {
            client: client.clone(),
            vault,
            keys: keys.clone(),
            clock: clock.clone(),
        };
        let reads = Reads::start(parts.clone(), &reader);
        Ok(Gateway {
            client,
            vault,
            keys,
            clock,
            me,
            is_provider,
            reader,
            reads,
            writer: Writer::start(parts, actor),
            index: RwLock::default(),
            authored: RwLock::default(),
        })
    }

    pub fn account(&self) -> AccountId {
        self.me
    }

    pub(crate) fn flow(&self) -> RecordFlow<'_> {
        RecordFlow {
            client: &self.client,
            vault: self.vault,
            clock: self.clock.clone(),
            keys: self.keys.clone(),
        }
    }

    pub(crate) fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn index_mut(&self) -> RwLockWriteGuard<'_, Index> {
        self.index
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn authored(&self) -> RwLockReadGuard<'_, Authored> {
        self.authored
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn note_authored(&self, patient: AccountId, record: RecordId) {
        self.authored
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(patient)
            .or_default()
            .insert(record);
    }

    /// Writes every pending resource in one transaction: all land, or none.
    pub async fn write_all(&self, pending: Vec<Pending>) -> Result<Vec<Stored>, GatewayError> {
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let flow = self.flow();
        let stamp = fhir_instant((self.clock)());
        // On the index's scale, as every date it compares.
        let last_updated_ms = date_range(&stamp).map_or(0, |(first, _)| first);
        let mut items = Vec::with_capacity(pending.len());
        let mut resources = Vec::with_capacity(pending.len());
        // Patients created alongside are known before the resources naming them.
        let mut local: BTreeMap<RecordId, AccountId> = BTreeMap::new();
        for p in pending
            .iter()
            .filter(|p| p.resource["resourceType"] == "Patient")
        {
            if let (Some(id), Ok(patient)) = (p.new_id, self.patient_of(&p.resource, &local)) {
                local.insert(id, patient);
            }
        }
        for Pending {
            mut resource,
            existing,
            new_id,
        } in pending
        {
            let resource_type = resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let patient = self.patient_of(&resource, &local)?;
            self.check_references(&resource, &patient)?;
            let category = category_of(&resource_type);
            let slot = match existing {
                None => Slot {
                    patient,
                    record: new_id.unwrap_or_else(RecordId::random),
                    version: 1,
                    previous: None,
                    category,
                },
                Some((record, expected)) => {
                    let slot = flow
                        .slot(patient, Some(record), category)
                        .await
                        .map_err(flow_error)?;
                    let current = slot.version - 1;
                    if expected.is_some_and(|e| e != current) {
                        return Err(GatewayError::VersionConflict {
                            current,
                            expected: expected.unwrap_or_default(),
                        });
                    }
                    let owner = self.index().get(&record).map(|e| e.patient);
                    if owner.is_some_and(|owner| owner != patient) {
                        return Err(GatewayError::Unprocessable(
                            "an update cannot move a resource to another patient".into(),
                        ));
                    }
                    slot
                }
            };
            stamp_resource(&mut resource, &slot, &stamp);
            let content = serde_json::to_vec(&resource)
                .map_err(|_| GatewayError::BadRequest("the resource cannot be written".into()))?;
            items.push((slot, content));
            resources.push((resource, patient));
        }
        // Known as this key's before they are final, so that the follower
        // never takes them for records the key may not read.
        for ((slot, _), (_, patient)) in items.iter().zip(&resources) {
            self.note_authored(*patient, slot.record);
        }
        let written = self.writer.write(items).await.map_err(flow_error)?;
        for w in &written {
            self.reads
                .anchors
                .remember(w.record, w.version, w.ciphertext_hash);
        }
        let mut stored = Vec::with_capacity(written.len());
        let mut index = self.index_mut();
        for (written, (resource, patient)) in written.into_iter().zip(resources) {
            index.insert(Entry::of(
                &resource,
                written.record,
                written.version,
                patient,
                last_updated_ms,
                Purpose::Treatment,
            ));
            stored.push(Stored {
                record: written.record,
                version: written.version,
                last_updated_ms,
                resource,
            });
        }
        Ok(stored)
    }

    /// Writes one resource: a create, or the next version of `existing`
    /// (checked against the version an `If-Match` named).
    pub async fn write_one(
        &self,
        resource: Value,
        existing: Option<(RecordId, Option<u32>)>,
    ) -> Result<Stored, GatewayError> {
        let pending = Pending {
            resource,
            existing,
            new_id: None,
        };
        self.write_all(vec![pending])
            .await?
            .pop()
            .ok_or_else(|| GatewayError::Upstream("the write produced no version".into()))
    }

    /// Reads a resource (a version of it, for `vread`).
    pub async fn read(
        &self,
        resource_type: &str,
        id: &str,
        version: Option<u32>,
    ) -> Result<Stored, GatewayError> {
        let record = record_id(resource_type, id)?;
        let entry = self.index().get(&record).cloned();
        if entry
            .as_ref()
            .is_some_and(|e| e.resource_type != resource_type)
        {
            return Err(not_found(resource_type, id));
        }
        let purpose = entry.as_ref().map_or(Purpose::Treatment, |e| e.purpose);
        // The latest is at least what the index knows (the follower keeps it
        // within a round of the chain); a record it does not know is read
        // against its proven head.
        let at_least = match (&entry, version) {
            (_, Some(_)) => 0,
            (Some(entry), None) => entry.version,
            (None, None) => match self.flow().head(&record).await.map_err(flow_error)? {
                Some(head) => head.latest_version,
                None => return Err(not_found(resource_type, id)),
            },
        };
        let read = match self
            .reads
            .read(&self.reader, record, version, at_least, purpose)
            .await
        {
            Ok(read) => read,
            Err(e) => {
                let error = read_error(e, resource_type, id);
                if matches!(error, GatewayError::Denied { .. } | GatewayError::Gone(_))
                    && version.is_none()
                {
                    self.index_mut().remove(&record);
                }
                return Err(error);
            }
        };
        let stored = match version {
            None => self.opened(record, read, purpose).await?,
            // An older version is shown, never indexed as the current one.
            Some(_) => self.present(record, read)?,
        };
        if stored.resource_type() != resource_type {
            return Err(not_found(resource_type, id));
        }
        Ok(stored)
    }

    /// Every version of a resource the key may read, newest first.
    pub async fn history(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Vec<Stored>, GatewayError> {
        let latest = self.read(resource_type, id, None).await?;
        let purpose = self
            .index()
            .get(&latest.record)
            .map_or(Purpose::Treatment, |e| e.purpose);
        let versions: Vec<(RecordId, u32)> = (1..latest.version)
            .rev()
            .map(|v| (latest.record, v))
            .collect();
        let record = latest.record;
        let mut out = vec![latest];
        for read in self
            .read_versions(&versions, purpose)
            .await
            .into_iter()
            .flatten()
        {
            out.push(self.present(record, read)?);
        }
        Ok(out)
    }

    /// Reads many indexed records' latest versions, in the order given; the
    /// ones the key can no longer read leave the index and the answer.
    pub async fn read_indexed(&self, records: &[RecordId]) -> Result<Vec<Stored>, GatewayError> {
        let wanted: Vec<(RecordId, u32, Purpose)> = {
            let index = self.index();
            records
                .iter()
                .filter_map(|r| index.get(r).map(|e| (*r, e.version, e.purpose)))
                .collect()
        };
        let reads = futures::future::join_all(wanted.iter().map(|(record, version, purpose)| {
            self.reads
                .read(&self.reader, *record, Some(*version), 0, *purpose)
        }))
        .await;
        let mut out = Vec::with_capacity(wanted.len());
        for ((record, _, _), read) in wanted.iter().zip(reads) {
            match read {
                Ok(read) => out.push(self.present(*record, read)?),
                Err(FlowError::Vault { code, .. }) if is_consent_denial(&code) => {
                    self.index_mut().remove(record);
                }
                Err(error) => return Err(flow_error(error)),
            }
        }
        Ok(out)
    }

    /// Reads these versions through the batched reader, one result each.
    pub(crate) async fn read_versions(
        &self,
        versions: &[(RecordId, u32)],
        purpose: Purpose,
    ) -> Vec<Result<Read, FlowError>> {
        futures::future::join_all(versions.iter().map(|(record, version)| {
            self.reads
                .read(&self.reader, *record, Some(*version), 0, purpose)
        }))
        .await
    }

    /// Erases a resource (crypto-shredding): only its patient or a guardian may.
    pub async fn delete(&self, resource_type: &str, id: &str) -> Result<(), GatewayError> {
        let record = record_id(resource_type, id)?;
        // Erasure cannot be undone: the URL's type must be the record's.
        let known = self.index().get(&record).map(|e| e.resource_type.clone());
        match known {
            Some(kind) if kind != resource_type => return Err(not_found(resource_type, id)),
            Some(_) => {}
            None => {
                self.read(resource_type, id, None).await?;
            }
        }
        let head = self
            .flow()
            .head(&record)
            .await
            .map_err(flow_error)?
            .ok_or_else(|| not_found(resource_type, id))?;
        if head.erased_ms.is_some() {
            return Err(GatewayError::Gone(format!("{resource_type}/{id}")));
        }
        let result = self.writer.erase(record).await;
        match result {
            Ok(_) => {
                self.index_mut().remove(&record);
                Ok(())
            }
            Err(FlowError::Rejected { code, .. }) => Err(GatewayError::Forbidden(format!(
                "this key may not erase {resource_type}/{id} ({code})"
            ))),
            Err(e) => Err(flow_error(e)),
        }
    }

    /// A read version as a resource, with its id and meta as the server
    /// shows them; indexes it when it is the newest the index knows.
    async fn opened(
        &self,
        record: RecordId,
        read: Read,
        purpose: Purpose,
    ) -> Result<Stored, GatewayError> {
        let stored = self.present(record, read)?;
        let patient = self.index().get(&record).map(|e| e.patient);
        let patient = match patient {
            Some(p) => p,
            None => match self.flow().head(&record).await.map_err(flow_error)? {
                Some(head) => head.patient,
                None => return Ok(stored),
            },
        };
        self.index_mut().insert(Entry::of(
            &stored.resource,
            record,
            stored.version,
            patient,
            stored.last_updated_ms,
            purpose,
        ));
        Ok(stored)
    }

    pub(crate) fn present(&self, record: RecordId, read: Read) -> Result<Stored, GatewayError> {
        let mut resource: Value = serde_json::from_slice(&read.plaintext).map_err(|_| {
            GatewayError::Unprocessable(format!("record {record} does not hold JSON"))
        })?;
        let version = read.served.version;
        let object = resource.as_object_mut().ok_or_else(|| {
            GatewayError::Unprocessable(format!("record {record} does not hold a resource"))
        })?;
        object.insert("id".into(), json!(record.to_hex()));
        let meta = object.entry("meta").or_insert_with(|| json!({}));
        if !meta.is_object() {
            *meta = json!({});
        }
        meta["versionId"] = json!(version.to_string());
        let last_updated_ms = meta
            .get("lastUpdated")
            .and_then(Value::as_str)
            .and_then(date_range)
            .map_or(0, |(first, _)| first);
        Ok(Stored {
            record,
            version,
            last_updated_ms,
            resource,
        })
    }

    /// Whose record a resource is: its Patient's DID, or the patient its
    /// patient reference names, or (on a patient's own gateway) the key's own.
    pub(crate) fn patient_of(
        &self,
        resource: &Value,
        local: &BTreeMap<RecordId, AccountId>,
    ) -> Result<AccountId, GatewayError> {
        let resource_type = resource["resourceType"].as_str().unwrap_or_default();
        if resource_type == "Patient" {
            if let Some(did) = did_identifier(&resource["identifier"]) {
                return Ok(did);
            }
        } else {
            let elements: &[&str] = match searchable(resource_type).and_then(|s| s.patient) {
                Some((element, _)) => &[element][..],
                None => &["subject", "patient", "beneficiary"],
            };
            for element in elements {
                let reference = &resource[*element];
                if let Some(patient) = self.resolve_patient_reference(reference) {
                    return Ok(patient);
                }
                let local_patient = reference
                    .get("reference")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("Patient/"))
                    .and_then(|id| RecordId::from_hex(id).ok())
                    .and_then(|id| local.get(&id));
                if let Some(patient) = local_patient {
                    return Ok(*patient);
                }
            }
        }
        if !self.is_provider {
            return Ok(self.me);
        }
        Err(GatewayError::Unprocessable(format!(
            "cannot tell whose record this {resource_type} is: name the patient \
             (a Patient this gateway knows, or an identifier with system {DID_SYSTEM} and a did:salus value)"
        )))
    }

    /// A `Reference` to a patient: `Patient/{id}` of an indexed Patient, or a
    /// logical reference by DID.
    pub(crate) fn resolve_patient_reference(&self, reference: &Value) -> Option<AccountId> {
        if let Some(text) = reference.get("reference").and_then(Value::as_str) {
            if let Some(patient) = self.patient_by_reference(text) {
                return Some(patient);
            }
        }
        did_identifier(&json!([reference.get("identifier")?]))
    }

    /// `Patient/{id}`, a bare id, or a `did:salus` DID, as a patient account.
    pub(crate) fn patient_by_reference(&self, text: &str) -> Option<AccountId> {
        if let Ok(did) = Did::parse(text) {
            return Some(did.account());
        }
        let id = text.strip_prefix("Patient/").unwrap_or(text);
        let record = RecordId::from_hex(id).ok()?;
        let index = self.index();
        let entry = index.get(&record)?;
        (entry.resource_type == "Patient").then_some(entry.patient)
    }

    /// Refuses a resource that references a record of another patient.
    fn check_references(&self, resource: &Value, patient: &AccountId) -> Result<(), GatewayError> {
        let mut found = Vec::new();
        references(resource, &mut Vec::new(), &mut found);
        let index = self.index();
        for (_, reference) in found {
            let Some((_, id)) = relative_reference(&reference) else {
                continue;
            };
            let Ok(record) = RecordId::from_hex(id) else {
                continue;
            };
            if index.get(&record).is_some_and(|e| e.patient != *patient) {
                return Err(GatewayError::Unprocessable(format!(
                    "{reference} is a record of another patient"
                )));
            }
        }
        Ok(())
    }
}

/// Writes the server's `id` and `meta` into a resource about to be sealed.
fn stamp_resource(resource: &mut Value, slot: &Slot, stamp: &str) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    object.insert("id".into(), json!(slot.record.to_hex()));
    let meta = object.entry("meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta["versionId"] = json!(slot.version.to_string());
    meta["lastUpdated"] = json!(stamp);
}

/// The DID in a list of identifiers, if one carries it.
fn did_identifier(identifiers: &Value) -> Option<AccountId> {
    identifiers.as_array()?.iter().find_map(|identifier| {
        (identifier.get("system")?.as_str()? == DID_SYSTEM)
            .then(|| Did::parse(identifier.get("value")?.as_str()?).ok())?
            .map(|did| did.account())
    })
}

fn record_id(resource_type: &str, id: &str) -> Result<RecordId, GatewayError> {
    RecordId::from_hex(id).map_err(|_| not_found(resource_type, id))
}

pub(crate) fn not_found(resource_type: &str, id: &str) -> GatewayError {
    let shown = if crate::resource::is_fhir_id(id) {
        id
    } else {
        "(malformed id)"
    };
    GatewayError::NotFound(format!("{resource_type}/{shown}"))
}

fn unavailable(e: ClientError) -> GatewayError {
    GatewayError::Unavailable(e.to_string())
}

/// A read refusal: consent denials name their reason, erasure is 410.
fn read_error(e: FlowError, resource_type: &str, id: &str) -> GatewayError {
    match e {
        FlowError::Vault { code, .. } => {
            if code == AccessReason::Erased.name() {
                GatewayError::Gone(format!("{resource_type}/{id}"))
            } else if code == "unknown_record"
                || code == "not_anchored"
                || code == AccessReason::UnknownVersion.name()
            {
                not_found(resource_type, id)
            } else if is_consent_denial(&code) {
                GatewayError::Denied { reason: code }
            } else {
                GatewayError::Unavailable(format!("the vault could not serve it ({code})"))
            }
        }
        FlowError::Invalid(message) if message.ends_with("is unknown") => {
            not_found(resource_type, id)
        }
        other => flow_error(other),
    }
}

pub(crate) fn flow_error(e: FlowError) -> GatewayError {
    match e {
        FlowError::Rejected { code, message } => {
            if code == "bad_previous" || code == "bad_version" {
                GatewayError::Conflict(format!("the resource changed meanwhile ({code})"))
            } else if code == "not_patient_or_provider" {
                GatewayError::Forbidden(format!(
                    "this key may not write that patient's records ({code})"
                ))
            } else {
                GatewayError::Rejected { code, message }
            }
        }
        FlowError::Vault { code, .. } if is_consent_denial(&code) => {
            GatewayError::Denied { reason: code }
        }
        FlowError::Vault { code, .. } => {
            GatewayError::Unavailable(format!("the vault could not serve it ({code})"))
        }
        FlowError::Client(e) => unavailable(e),
        // What the network sent does not match the chain, or the gateway's
        // own machinery failed: not the client's fault.
        other => GatewayError::Upstream(other.to_string()),
    }
}

/// A vault refusal that is consent's decision (the record leaves the
/// index), as opposed to a fault (it stays).
pub(crate) fn is_consent_denial(code: &str) -> bool {
    code.parse::<AccessReason>()
        .is_ok_and(|reason| !reason.allows() && reason != AccessReason::UnknownVersion)
}
