//! Genesis: the chain id, then each module's initial state from its section
//! (in registry order).

use salus_state::{Overlay, WriteSet};
use salus_types::layout::chain_id_key;
use salus_types::Genesis;
use std::collections::BTreeMap;

use crate::context::write;
use crate::dispatch::init_genesis;

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
    write(&mut state, chain_id_key(), &genesis.chain_id);
    init_genesis(&mut state, genesis)?;
    // Epoch 0's validators are genesis's own list, not a module section.
    crate::epochs::init_set(&mut state, &genesis.validators)?;
    Ok(state.into_writes())
}
