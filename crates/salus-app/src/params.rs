//! Module parameters: each module keeps its own under its prefix, checked
//! against typed bounds (`problem`), and absent while they are the
//! defaults, so a chain whose genesis predates a module has the same root
//! as one that states its defaults. Governance replaces them through the
//! owning module's `set_params`.

use borsh::{BorshDeserialize, BorshSerialize};
use salus_state::{Overlay, StateError, StateRead};
use salus_types::governance::GovernanceParams;
use salus_types::insurance::InsuranceParams;
use salus_types::oracle::OracleParams;
use salus_types::staking::StakingParams;

use crate::context::{read, write};
use crate::genesis::GenesisError;

/// A module's parameters.
pub trait Params: BorshSerialize + BorshDeserialize + Default + PartialEq {
    /// Why these values are out of bounds, if they are.
    fn problem(&self) -> Option<String>;
}

macro_rules! params {
    ($($ty:ty),*) => {$(
        impl Params for $ty {
            fn problem(&self) -> Option<String> {
                <$ty>::problem(self)
            }
        }
    )*};
}

params!(
    OracleParams,
    InsuranceParams,
    StakingParams,
    GovernanceParams
);

/// The parameters stored under `key`, or the defaults.
pub fn load<P: Params>(state: &dyn StateRead, key: &[u8]) -> Result<P, StateError> {
    Ok(read(state, key)?.unwrap_or_default())
}

/// Genesis: refuses out-of-bounds parameters, and stores only non-defaults.
pub fn init<P: Params>(
    state: &mut Overlay<'_>,
    key: Vec<u8>,
    params: &P,
    module: &str,
) -> Result<(), GenesisError> {
    if let Some(problem) = params.problem() {
        return Err(GenesisError::Invalid(format!(
            "{module} parameters: {problem}"
        )));
    }
    if *params != P::default() {
        write(state, key, params);
    }
    Ok(())
}

/// Replaces a module's parameters, within its prefix. The caller checked
/// their bounds (governance, when proposed and again when executed).
pub fn store<P: Params>(state: &mut Overlay<'_>, prefix: &'static str, key: Vec<u8>, params: &P) {
    assert!(
        params.problem().is_none(),
        "parameters are checked before they are set"
    );
    state.confine(prefix, |state| write(state, key, params));
}
