//! Keeping the index true to what the key may read, from the chain.
//!
//! At start the gateway learns, from its own account's events, which records
//! it wrote and which patients granted it access; it lists those patients'
//! records and reads every one it may read through the vault (real, audited
//! reads: the patient sees the gateway's start-up in their access log).
//! Afterwards it follows new events: its own (grants, revocations) and each
//! known patient's (new versions, erasures), and drops what a lapsed grant
//! no longer covers.

use std::collections::{BTreeMap, BTreeSet};

use salus_api::records::RecordListing;
use salus_types::consent::{ConsentEvent, Grant, Purpose};
use salus_types::records::{RecordEvent, RecordId};
use salus_types::{AccountId, Event, EventRecord};

use crate::gateway::Gateway;
use crate::index::Entry;
use crate::outcome::GatewayError;

/// Events fetched per page while catching up.
const EVENT_PAGE: usize = 500;

/// Where an account's event stream was last read up to.
type Cursor = (u64, u32, u32);

fn position(event: &EventRecord) -> Cursor {
    (event.height, event.tx_index, event.event_index)
}

/// What the follower knows of the key's access, beyond the index.
#[derive(Debug, Default)]
pub struct Access {
    /// Grants to this key, by patient (refreshed from the patient's consent).
    grants: BTreeMap<AccountId, Vec<Grant>>,
    /// How far each account's events have been read.
    cursors: BTreeMap<AccountId, Cursor>,
    /// Patients with records this key may read that the vault would not
    /// give yet (a grantee's keys are re-wrapped after the grant is final),
    /// and how many more rounds to try them.
    unsettled: BTreeMap<AccountId, u32>,
    /// Patients to reconcile whatever the events say (a round failed).
    due: BTreeSet<AccountId>,
}

/// Rounds a readable record that the vault refuses is retried.
const SETTLE_ROUNDS: u32 = 30;

impl Access {
    /// The purpose this key may read `record` for, if any.
    fn purpose(
        &self,
        me: &AccountId,
        authored: &Authored,
        patient: &AccountId,
        listing: &RecordListing,
        now_ms: u64,
    ) -> Option<Purpose> {
        if listing.head.erased_ms.is_some() {
            return None;
        }
        if patient == me
            || authored
                .get(patient)
                .is_some_and(|r| r.contains(&listing.record))
        {
            return Some(Purpose::Treatment);
        }
        self.grants.get(patient)?.iter().find_map(|g| {
            (g.is_active(now_ms) && g.scope.covers(&listing.record, listing.head.category))
                .then_some(g.purpose)
        })
    }

    fn patients(&self, me: &AccountId, authored: &Authored) -> BTreeSet<AccountId> {
        let mut patients: BTreeSet<AccountId> = authored.keys().copied().collect();
        patients.extend(self.grants.keys().copied());
        patients.insert(*me);
        patients
    }
}

/// Records this key wrote, by patient. The gateway adds its own writes as it
/// makes them, so that the follower never mistakes one for unreadable.
pub type Authored = BTreeMap<AccountId, BTreeSet<RecordId>>;

impl Gateway {
    /// New events of `account` since its cursor, oldest first.
    async fn new_events(
        &self,
        access: &mut Access,
        account: &AccountId,
    ) -> Result<Vec<EventRecord>, GatewayError> {
        let since = access.cursors.get(account).copied();
        let mut fresh = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .client
                .events_before(account, before, EVENT_PAGE)
                .await
                .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
            let full = page.next.is_some();
            let mut reached = false;
            for event in page.events {
                if since.is_some_and(|s| position(&event) <= s) {
                    reached = true;
                    break;
                }
                fresh.push(event);
            }
            if reached || !full {
                break;
            }
            before = page.next;
        }
        if let Some(newest) = fresh.first() {
            access.cursors.insert(*account, position(newest));
        }
        fresh.reverse();
        Ok(fresh)
    }

    /// Reads this key's own events: records it wrote (elsewhere too, with
    /// the same key), patients that granted or revoked. Returns the patients
    /// whose grants changed.
    async fn follow_own(&self, access: &mut Access) -> Result<BTreeSet<AccountId>, GatewayError> {
        let me = self.me;
        let mut changed = BTreeSet::new();
        for event in self.new_events(access, &me).await? {
            match event.event {
                Event::Records(RecordEvent::Anchored {
                    record,
                    patient,
                    author,
                    ..
                }) if author == me => {
                    self.note_authored(patient, record);
                }
                Event::Consent(ConsentEvent::Granted {
                    patient, grantee, ..
                })
                | Event::Consent(ConsentEvent::Revoked {
                    patient, grantee, ..
                }) if grantee == me => {
                    changed.insert(patient);
                }
                _ => {}
            }
        }
        for patient in &changed {
            let consent = self
                .client
                .consent_of(patient)
                .await
                .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
            let grants: Vec<Grant> = consent
                .grants
                .into_iter()
                .map(|g| g.grant)
                .filter(|g| g.grantee == me)
                .collect();
            access.grants.insert(*patient, grants);
        }
        Ok(changed)
    }

    /// Brings the index of `patient`'s records in line with what this key may
    /// read now: reads new and newer records, drops the rest.
    async fn reconcile(
        &self,
        access: &mut Access,
        patient: &AccountId,
    ) -> Result<usize, GatewayError> {
        let now = salus_types::clock::now_ms();
        let listings = self
            .client
            .all_records_of(patient)
            .await
            .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let mut readable: BTreeMap<RecordId, (u32, Purpose)> = BTreeMap::new();
        {
            let authored = self.authored();
            for listing in &listings {
                if let Some(purpose) = access.purpose(&self.me, &authored, patient, listing, now) {
                    readable.insert(listing.record, (listing.head.latest_version, purpose));
                }
            }
        }
        let mut to_read: BTreeMap<Purpose, Vec<(RecordId, u32)>> = BTreeMap::new();
        {
            let mut index = self.index_mut();
            // Only what the listing shows unreadable leaves: a record written
            // after the listing was taken is not in it, and stays.
            for listing in &listings {
                if !readable.contains_key(&listing.record) {
                    index.remove(&listing.record);
                }
            }
            for (record, (version, purpose)) in &readable {
                if index.get(record).is_none_or(|e| e.version < *version) {
                    to_read
                        .entry(*purpose)
                        .or_default()
                        .push((*record, *version));
                }
            }
        }
        let mut indexed = 0;
        let mut refused = 0;
        for (purpose, versions) in to_read {
            for chunk in versions.chunks(salus_api::vault::MAX_VAULT_BATCH) {
                let reads = self.read_versions(chunk, purpose).await;
                for ((record, _), read) in chunk.iter().zip(reads) {
                    // A version the vault will not give yet (its key not yet
                    // shared with this reader, say) is tried again later.
                    let Ok(read) = read else {
                        refused += 1;
                        continue;
                    };
                    let Ok(stored) = self.present(*record, read) else {
                        continue;
                    };
                    self.index_mut().insert(Entry::of(
                        &stored.resource,
                        *record,
                        stored.version,
                        *patient,
                        stored.last_updated_ms,
                        purpose,
                    ));
                    indexed += 1;
                }
            }
        }
        if refused == 0 {
            access.unsettled.remove(patient);
        } else {
            let rounds = access.unsettled.entry(*patient).or_insert(SETTLE_ROUNDS);
            *rounds = rounds.saturating_sub(1);
            if *rounds == 0 {
                access.unsettled.remove(patient);
            }
        }
        Ok(indexed)
    }

    /// Builds the index from the chain: every record this key may read.
    pub async fn rebuild(&self, access: &mut Access) -> Result<usize, GatewayError> {
        self.follow_own(access).await?;
        let mut indexed = 0;
        let patients = access.patients(&self.me, &self.authored());
        for patient in patients {
            // Mark the patient's stream as read up to now.
            self.new_events(access, &patient).await?;
            indexed += self.reconcile(access, &patient).await?;
        }
        Ok(indexed)
    }

    /// One round of following the chain; returns how many records it read.
    pub async fn follow(&self, access: &mut Access) -> Result<usize, GatewayError> {
        // Patients whose reconciling failed last round stay due: cursors
        // have moved past the events that made them so.
        let mut dirty = std::mem::take(&mut access.due);
        dirty.extend(access.unsettled.keys().copied());
        let own = self.follow_own(access).await;
        let own = match own {
            Ok(own) => own,
            Err(error) => {
                access.due = dirty;
                return Err(error);
            }
        };
        dirty.extend(own);
        let now = salus_types::clock::now_ms();
        for (patient, grants) in &access.grants {
            // A grant that lapsed by time leaves no event behind.
            if grants.iter().any(|g| !g.is_active(now)) {
                dirty.insert(*patient);
            }
        }
        for (_, grants) in access.grants.iter_mut() {
            grants.retain(|g| g.is_active(now));
        }
        let patients = access.patients(&self.me, &self.authored());
        for patient in patients {
            let events = match self.new_events(access, &patient).await {
                Ok(events) => events,
                Err(error) => {
                    access.due.extend(dirty);
                    access.due.insert(patient);
                    return Err(error);
                }
            };
            // What this gateway wrote itself is indexed already.
            let touches = events.iter().any(|e| match &e.event {
                Event::Records(RecordEvent::Anchored {
                    record,
                    version,
                    author,
                    ..
                }) => {
                    *author != self.me
                        || self
                            .index()
                            .get(record)
                            .is_none_or(|entry| entry.version < *version)
                }
                Event::Records(RecordEvent::Erased { .. }) => true,
                _ => false,
            });
            if touches {
                dirty.insert(patient);
            }
        }
        let mut read = 0;
        let mut failure = None;
        for patient in dirty {
            match self.reconcile(access, &patient).await {
                Ok(count) => read += count,
                Err(error) => {
                    access.due.insert(patient);
                    failure = Some(error);
                }
            }
        }
        failure.map_or(Ok(read), Err)
    }
}
