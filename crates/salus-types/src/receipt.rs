//! Receipts and events: what executing a transaction did.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_crypto::Hash;
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::consent::ConsentEvent;
use crate::credentials::CredentialEvent;
use crate::records::RecordEvent;
use crate::{identity::IdentityEvent, token::TokenEvent, AccountId, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "module", content = "event", rename_all = "snake_case")]
pub enum Event {
    Identity(IdentityEvent),
    Token(TokenEvent),
    Records(RecordEvent),
    Consent(ConsentEvent),
    Audit(AuditEvent),
    Credentials(CredentialEvent),
}

impl Event {
    /// The accounts this event concerns, for the events-by-account index.
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            Event::Identity(e) => e.accounts(),
            Event::Token(e) => e.accounts(),
            Event::Records(e) => e.accounts(),
            Event::Consent(e) => e.accounts(),
            Event::Audit(e) => e.accounts(),
            Event::Credentials(e) => e.accounts(),
        }
    }
}

macro_rules! event_from {
    ($($module:ident($event:ty)),*) => {$(
        impl From<$event> for Event {
            fn from(e: $event) -> Self {
                Event::$module(e)
            }
        }
    )*};
}
event_from!(
    Identity(IdentityEvent),
    Token(TokenEvent),
    Records(RecordEvent),
    Consent(ConsentEvent),
    Audit(AuditEvent),
    Credentials(CredentialEvent)
);

/// The outcome of one included transaction. A failed transaction is included
/// too: its nonce is consumed, its actions are rolled back, and `code` says why.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Receipt {
    pub tx_hash: Hash,
    pub height: u64,
    pub index: u32,
    pub code: ErrorCode,
    /// Human-readable reason; empty on success. Never holds health data.
    pub message: String,
    /// Index of the failing action, if any.
    pub failed_action: Option<u32>,
    pub events: Vec<Event>,
}

impl Receipt {
    pub fn succeeded(&self) -> bool {
        self.code == ErrorCode::Ok
    }
}
