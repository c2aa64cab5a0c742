//! The credentials module: issuers' credential definitions and revocation
//! registries, published sets, and role rules that turn a zero-knowledge
//! presentation into a role with no human attestation.
//!
//! An issuer is a DID with an attested issuing role (a board, a hospital or
//! lab). It publishes definitions and sets under its own DID
//! (`did:salus:<issuer>#<name>`) and advances its revocation registry one
//! epoch per revocation. Verifiers (and this module) always check against
//! the latest finalized epoch, so a presentation made before a revocation
//! stops verifying when the revocation is final.
//!
//! Presentations are verified inside the state machine. That is
//! deterministic: verification is a pure function of the proof, the
//! request and the stored definition (its randomness is seeded from the
//! proof), uses no floating point and no hash-map order.

use salus_state::{Overlay, StateError, StateRead};
pub use salus_types::credentials::date_of;
use salus_types::credentials::{
    claim_nonce, ClaimedRole, CredentialAction, CredentialEvent, DefinitionRecord, RoleRule,
    ISSUER_ROLES, MAX_OBJECT_BYTES, MAX_RULE_REQUIREMENTS,
};
use salus_types::identity::Role;
use salus_types::{AccountId, ErrorCode};
use salus_zk::{
    AttributeKind, AttributeValue, CredentialDefinition, Predicate, Presentation,
    PresentationRequest, PublicSet, RevocationStatus, RevocationUpdate,
};

use crate::bounded_set::BoundedSet;
use crate::context::{
    read, reject, write, Events, ExecError, ExecResult, Module, TxContext, TxOrigin,
};
use crate::identity;
use salus_types::credentials::{
    claimed_key, definition_key, rule_key, set_key, update_key, PREFIX,
};

pub fn definition(state: &dyn StateRead, id: &str) -> Result<Option<DefinitionRecord>, StateError> {
    read(state, &definition_key(id))
}

/// The revocation update that started `epoch` (1-based), as JSON.
pub fn revocation_update(
    state: &dyn StateRead,
    id: &str,
    epoch: u64,
) -> Result<Option<String>, StateError> {
    read(state, &update_key(id, epoch))
}

/// A published set and who published it.
pub fn set(state: &dyn StateRead, id: &str) -> Result<Option<(AccountId, String)>, StateError> {
    read(state, &set_key(id))
}

pub fn role_rule(state: &dyn StateRead, role: Role) -> Result<Option<RoleRule>, StateError> {
    read(state, &rule_key(role))
}

pub fn claimed_role(
    state: &dyn StateRead,
    subject: &AccountId,
    role: Role,
) -> Result<Option<ClaimedRole>, StateError> {
    read(state, &claimed_key(subject, role))
}

/// Decodes a ZK object from an action, refusing oversized or malformed JSON.
fn decode<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> ExecResult<T> {
    if json.len() > MAX_OBJECT_BYTES {
        return reject(
            ErrorCode::BadCredentialObject,
            format!("{what} exceeds {MAX_OBJECT_BYTES} bytes"),
        );
    }
    serde_json::from_str(json)
        .or_else(|e| reject(ErrorCode::BadCredentialObject, format!("{what}: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("ZK objects serialize to JSON")
}

/// Ids issuers publish under: their own DID and a short fragment.
fn check_owned_id(signer: &AccountId, id: &str, what: &str) -> ExecResult<()> {
    let prefix = format!("{}#", signer.did());
    let fragment = id.strip_prefix(&prefix).unwrap_or("");
    let well_formed = !fragment.is_empty()
        && fragment.len() <= 64
        && fragment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !well_formed {
        return reject(
            ErrorCode::BadCredentialObject,
            format!("a {what} id is `{prefix}<name>`, name [A-Za-z0-9._-]{{1,64}}"),
        );
    }
    Ok(())
}

fn require_issuer(state: &dyn StateRead, signer: &AccountId) -> ExecResult<()> {
    identity::require_live(state, signer)?;
    for role in ISSUER_ROLES {
        if identity::role(state, signer, *role)?.is_some() {
            return Ok(());
        }
    }
    reject(
        ErrorCode::NotAnIssuer,
        format!("{} holds no issuing role (board or provider)", signer.did()),
    )
}

fn stored_definition(
    state: &dyn StateRead,
    id: &str,
) -> ExecResult<(DefinitionRecord, CredentialDefinition)> {
    let Some(record) = definition(state, id)? else {
        return reject(
            ErrorCode::UnknownDefinition,
            format!("no credential definition `{id}`"),
        );
    };
    let parsed: CredentialDefinition = serde_json::from_str(&record.definition)
        .map_err(|e| StateError::Corrupt(format!("stored credential definition: {e}")))?;
    Ok((record, parsed))
}

/// The request a role claim answers: the rule, turned into disclosures and
/// predicates, bound to this claim transaction.
pub fn claim_request(
    rule: &RoleRule,
    chain_id: &str,
    claimant: &AccountId,
    tx_nonce: u64,
    date: u32,
) -> PresentationRequest {
    let mut reveal = vec![rule.subject_attribute.clone()];
    reveal.extend(rule.required.iter().map(|(name, _)| name.clone()));
    PresentationRequest {
        definition: rule.definition.clone(),
        nonce: claim_nonce(chain_id, claimant, rule.role, tx_nonce),
        reveal,
        predicates: rule
            .valid_until_attribute
            .iter()
            .map(|attribute| Predicate::AtLeast {
                attribute: attribute.clone(),
                min: AttributeValue::Date(date),
            })
            .collect(),
        check_revocation: true,
    }
}

/// Sets which credential earns `rule.role`, on behalf of `by` (an authority
/// for the role, or governance): the definition must exist and offer the
/// attributes the rule names.
pub fn set_rule(
    state: &mut Overlay<'_>,
    by: AccountId,
    rule: &RoleRule,
    events: &mut Events,
) -> ExecResult<()> {
    state.confine(PREFIX, |state| {
        let (_, parsed) = stored_definition(state, &rule.definition)?;
        check_rule(rule, &parsed)?;
        write(state, rule_key(rule.role), rule);
        events.emit(CredentialEvent::RoleRuleSet {
            by,
            role: rule.role,
            definition: rule.definition.clone(),
        });
        Ok(())
    })
}

fn check_rule(rule: &RoleRule, definition: &CredentialDefinition) -> ExecResult<()> {
    let bad = |why: String| reject(ErrorCode::BadRoleRule, why);
    if rule.required.len() > MAX_RULE_REQUIREMENTS {
        return bad(format!(
            "at most {MAX_RULE_REQUIREMENTS} required attributes"
        ));
    }
    let kind = |name: &str| definition.schema.attribute(name).map(|(_, kind)| kind);
    let mut disclosed = vec![rule.subject_attribute.as_str()];
    for (name, _) in &rule.required {
        disclosed.push(name);
    }
    for (i, name) in disclosed.iter().enumerate() {
        match kind(name) {
            Ok(AttributeKind::Text) => {}
            Ok(_) => return bad(format!("`{name}` must be a text attribute")),
            Err(e) => return bad(e.to_string()),
        }
        if disclosed[..i].contains(name) {
            return bad(format!("`{name}` is named twice"));
        }
    }
    if let Some(name) = &rule.valid_until_attribute {
        match kind(name) {
            Ok(AttributeKind::Date) if !disclosed.contains(&name.as_str()) => {}
            Ok(AttributeKind::Date) => {
                return bad(format!("`{name}` cannot be both disclosed and proven"))
            }
            Ok(_) => return bad(format!("`{name}` must be a date attribute")),
            Err(e) => return bad(e.to_string()),
        }
    }
    Ok(())
}

/// Presentations known to verify, keyed by a digest of everything the
/// verdict depends on: the presentation, the claimant, its transaction
/// nonce, the role, the date, the rule and the stored definition and
/// revocation status. A hit is exactly the verdict a fresh verification
/// would give, so using it cannot make two nodes disagree.
pub struct ProofVerdicts {
    known: std::sync::Mutex<BoundedSet<[u8; 32]>>,
}

/// Verdicts remembered; old ones are forgotten first.
const MAX_VERDICTS: usize = 4_096;

impl Default for ProofVerdicts {
    fn default() -> Self {
        ProofVerdicts {
            known: std::sync::Mutex::new(BoundedSet::new(MAX_VERDICTS)),
        }
    }
}

impl ProofVerdicts {
    fn contains(&self, key: &[u8; 32]) -> bool {
        self.known.lock().expect("verdict lock").contains(key)
    }

    fn insert(&self, key: [u8; 32]) {
        self.known.lock().expect("verdict lock").insert(key);
    }
}

/// A role claim's inputs, from its transaction.
struct Claim<'a> {
    chain_id: &'a str,
    claimant: AccountId,
    tx_nonce: u64,
    role: Role,
    as_of: u32,
    presentation: &'a str,
}

fn verdict_key(claim: &Claim<'_>, rule: &RoleRule, record: &DefinitionRecord) -> [u8; 32] {
    let mut hasher = salus_crypto::Hasher::new("salus/claim-verdict/v1");
    for part in [
        claim.chain_id.as_bytes(),
        &claim.claimant.0,
        &claim.tx_nonce.to_be_bytes(),
        &[claim.role.code()],
        &claim.as_of.to_be_bytes(),
        claim.presentation.as_bytes(),
        &borsh::to_vec(rule).expect("rules encode"),
        &borsh::to_vec(record).expect("records encode"),
    ] {
        hasher.update(&(part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finish().0
}

/// Everything a claim must satisfy except the block date: the rule, a
/// presentation that verifies against it (or is known to), the claimant's
/// own DID disclosed, and the required values.
fn check_claim(
    state: &dyn StateRead,
    claim: &Claim<'_>,
    verdicts: &ProofVerdicts,
) -> ExecResult<(RoleRule, DefinitionRecord)> {
    let Some(rule) = role_rule(state, claim.role)? else {
        return reject(
            ErrorCode::UnknownRoleRule,
            format!("no credential earns role {}", claim.role.name()),
        );
    };
    let (record, parsed) = stored_definition(state, &rule.definition)?;
    let presentation: Presentation = decode("presentation", claim.presentation)?;
    let key = verdict_key(claim, &rule, &record);
    if !verdicts.contains(&key) {
        let status: RevocationStatus = serde_json::from_str(&record.status)
            .map_err(|e| StateError::Corrupt(format!("stored revocation status: {e}")))?;
        let request = claim_request(
            &rule,
            claim.chain_id,
            &claim.claimant,
            claim.tx_nonce,
            claim.as_of,
        );
        if let Err(e) = presentation.verify(&parsed, &request, &status, &[]) {
            return reject(ErrorCode::PresentationRejected, e.to_string());
        }
        verdicts.insert(key);
    }
    let subject = presentation.revealed.get(&rule.subject_attribute);
    if subject != Some(&AttributeValue::Text(claim.claimant.did().to_string())) {
        return reject(
            ErrorCode::PresentationRejected,
            format!(
                "the credential's `{}` is not the claimant's DID",
                rule.subject_attribute
            ),
        );
    }
    for (name, expected) in &rule.required {
        if presentation.revealed.get(name) != Some(&AttributeValue::Text(expected.clone())) {
            return reject(
                ErrorCode::PresentationRejected,
                format!("the credential's `{name}` is not `{expected}`"),
            );
        }
    }
    Ok((rule, record))
}

pub struct Credentials;

impl Module for Credentials {
    const PREFIX: &'static str = PREFIX;
    type Action = CredentialAction;
    type Genesis = ();
    type Cache = ProofVerdicts;

    /// A role claim's proof is verified at admission, against finalized
    /// state, and a passing verdict remembered: proposing and verifying the
    /// block that carries it then costs no pairings.
    fn precheck(
        verdicts: &ProofVerdicts,
        state: &dyn StateRead,
        tx: &TxOrigin<'_>,
        action: &CredentialAction,
    ) -> Result<(), StateError> {
        let CredentialAction::ClaimRole {
            role,
            as_of,
            presentation,
        } = action
        else {
            return Ok(());
        };
        let claim = Claim {
            chain_id: tx.chain_id,
            claimant: tx.signer,
            tx_nonce: tx.tx_nonce,
            role: *role,
            as_of: *as_of,
            presentation,
        };
        match check_claim(state, &claim, verdicts) {
            Ok(_) | Err(ExecError::Rejected(_)) => Ok(()),
            Err(ExecError::State(e)) => Err(e),
        }
    }

    /// A role claim weighs one: a node without its verdict verifies a
    /// zero-knowledge proof during the block.
    fn weight(action: &CredentialAction) -> u64 {
        u64::from(matches!(action, CredentialAction::ClaimRole { .. }))
    }

    fn execute(
        ctx: &TxContext<'_>,
        verdicts: &ProofVerdicts,
        state: &mut Overlay<'_>,
        action: &CredentialAction,
        events: &mut Events,
    ) -> ExecResult<()> {
        let me = ctx.tx.signer;
        match action {
            CredentialAction::Define {
                definition: json,
                status,
            } => {
                require_issuer(state, &me)?;
                let parsed: CredentialDefinition = decode("credential definition", json)?;
                let status: RevocationStatus = decode("revocation status", status)?;
                check_owned_id(&me, &parsed.id, "credential definition")?;
                if definition(state, &parsed.id)?.is_some() {
                    return reject(
                        ErrorCode::DefinitionExists,
                        format!("`{}` is already defined", parsed.id),
                    );
                }
                if status.epoch != 0 {
                    return reject(
                        ErrorCode::BadRevocationUpdate,
                        "a new registry starts at epoch 0",
                    );
                }
                if let Err(e) = parsed.check() {
                    return reject(ErrorCode::BadCredentialObject, e.to_string());
                }
                let record = DefinitionRecord {
                    issuer: me,
                    definition: encode(&parsed),
                    status: encode(&status),
                    epoch: 0,
                    published_ms: ctx.timestamp_ms,
                };
                write(state, definition_key(&parsed.id), &record);
                events.emit(CredentialEvent::Defined {
                    issuer: me,
                    definition: parsed.id,
                });
            }
            CredentialAction::PublishSet { set: json } => {
                require_issuer(state, &me)?;
                // Elements' witnesses are checked by the holders who use
                // them (`PublicSet::validate`): a bad one only fails their proofs.
                let parsed: PublicSet = decode("published set", json)?;
                check_owned_id(&me, &parsed.id, "set")?;
                if set(state, &parsed.id)?.is_some() {
                    return reject(
                        ErrorCode::SetExists,
                        format!("`{}` is already published", parsed.id),
                    );
                }
                write(state, set_key(&parsed.id), &(me, encode(&parsed)));
                events.emit(CredentialEvent::SetPublished {
                    publisher: me,
                    set: parsed.id,
                });
            }
            CredentialAction::Revoke {
                definition: id,
                update,
                holder,
            } => {
                let (mut record, _) = stored_definition(state, id)?;
                if record.issuer != me {
                    return reject(
                        ErrorCode::NotTheIssuer,
                        format!("only {} revokes `{id}`", record.issuer.did()),
                    );
                }
                let update: RevocationUpdate = decode("revocation update", update)?;
                if update.epoch != record.epoch + 1 {
                    return reject(
                        ErrorCode::BadRevocationUpdate,
                        format!(
                            "the registry is at epoch {}; the update is for {}",
                            record.epoch, update.epoch
                        ),
                    );
                }
                record.epoch = update.epoch;
                record.status = encode(&update.status());
                write(state, update_key(id, update.epoch), &encode(&update));
                write(state, definition_key(id), &record);
                events.emit(CredentialEvent::Revoked {
                    issuer: me,
                    definition: id.clone(),
                    epoch: update.epoch,
                });
                if let Some(holder) = holder {
                    for role in Role::ALL.iter().copied() {
                        let claimed = claimed_role(state, holder, role)?;
                        if claimed.is_some_and(|c| c.definition == *id) {
                            state.delete(claimed_key(holder, role));
                            identity::withdraw_role(state, holder, role, me, events)?;
                            events.emit(CredentialEvent::ClaimedRoleWithdrawn {
                                subject: *holder,
                                role,
                                definition: id.clone(),
                            });
                        }
                    }
                }
            }
            CredentialAction::SetRoleRule { rule } => {
                if !identity::authority_roles(state, &me)?.contains(&rule.role) {
                    return reject(
                        ErrorCode::NotAnAuthority,
                        format!(
                            "{} may not set the rule for role {}",
                            me.did(),
                            rule.role.name()
                        ),
                    );
                }
                set_rule(state, me, rule, events)?;
            }
            CredentialAction::ClaimRole {
                role,
                as_of,
                presentation,
            } => {
                let today = date_of(ctx.timestamp_ms);
                let yesterday = date_of(ctx.timestamp_ms.saturating_sub(86_400_000));
                if *as_of != today && *as_of != yesterday {
                    return reject(
                        ErrorCode::PresentationRejected,
                        format!("the presentation is as of {as_of}; the block date is {today}"),
                    );
                }
                let claim = Claim {
                    chain_id: ctx.tx.chain_id,
                    claimant: me,
                    tx_nonce: ctx.tx.tx_nonce,
                    role: *role,
                    as_of: *as_of,
                    presentation,
                };
                let (rule, record) = check_claim(state, &claim, verdicts)?;
                identity::grant_role(state, &me, *role, record.issuer, ctx.timestamp_ms, events)?;
                write(
                    state,
                    claimed_key(&me, *role),
                    &ClaimedRole {
                        definition: rule.definition.clone(),
                        claimed_ms: ctx.timestamp_ms,
                    },
                );
                events.emit(CredentialEvent::RoleClaimed {
                    subject: me,
                    role: *role,
                    definition: rule.definition,
                });
            }
        }
        Ok(())
    }
}
