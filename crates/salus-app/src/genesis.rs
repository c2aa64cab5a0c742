//! Genesis: the initial state every module builds from its section.

use salus_state::{Overlay, WriteSet};
use salus_types::Genesis;
use std::collections::BTreeMap;

use crate::audit::Audit;
use crate::context::{key, write, Module};
use crate::identity::Identity;
use crate::token::Token;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error(transparent)]
    Structure(#[from] salus_types::GenesisError),
    #[error("genesis is invalid: {0}")]
    Invalid(String),
}

/// The state writes of height 0.
pub fn genesis_writes(genesis: &Genesis) -> Result<WriteSet, GenesisError> {
    genesis.validate()?;
    let empty: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut state = Overlay::new(&empty);
    write(&mut state, key("chain", "id", &[]), &genesis.chain_id);
    Token::init_genesis(&mut state, &genesis.token)?;
    Identity::init_genesis(&mut state, &genesis.identity)?;
    Audit::init_genesis(&mut state, &genesis.audit)?;
    Ok(state.into_writes())
}
