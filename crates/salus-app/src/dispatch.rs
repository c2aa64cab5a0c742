//! Every phase of every module, dispatched from the module registry
//! (`salus_types::with_modules!`): nothing here names a module. The registry
//! line `tag => name Variant { … }` means the module's rules are
//! `crate::name::Variant`, a [`Module`] whose prefix is `name`.

use salus_state::{Overlay, StateError, StateRead};
use salus_types::{Action, Genesis, Tx, TxError, MAX_BLOCK_WEIGHT};

use crate::context::{
    ActionError, BlockContext, Events, ExecError, ExecResult, Module, TxContext, TxOrigin,
};
use crate::genesis::GenesisError;

/// Why admission refuses a transaction before any state is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatelessError {
    #[error(transparent)]
    Tx(#[from] TxError),
    #[error("action {index} is refused: {error}")]
    Action { index: usize, error: ActionError },
}

/// Whether two strings are equal, at compile time.
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A module's genesis section, or nothing for a module without one.
macro_rules! genesis_section {
    ($genesis:ident, $module:ident, $section:ty) => {
        &$genesis.$module
    };
    ($genesis:ident, $module:ident) => {
        &()
    };
}

macro_rules! dispatch {
    ($(
        $(#[$attr:meta])*
        $tag:literal => $module:ident $variant:ident {
            action: $action:ty,
            event: $event:ty,
            $(genesis: $genesis:ty,)?
            errors: $low:literal..$high:literal,
        },
    )*) => {
        $(
            $(#[$attr])*
            const _: () = assert!(
                same(<crate::$module::$variant as Module>::PREFIX, stringify!($module)),
                concat!("module `", stringify!($module), "` must keep its state under its own name")
            );
        )*

        /// Each module's [`Module::Cache`], owned by the chain.
        #[derive(Default)]
        pub struct ModuleCaches {
            $($(#[$attr])* pub $module: <crate::$module::$variant as Module>::Cache,)*
        }

        /// Runs the stateless check of `action`'s module.
        pub(crate) fn check_action(tx: &TxOrigin<'_>, action: &Action) -> Result<(), ActionError> {
            match action {
                $($(#[$attr])* Action::$variant(action) => crate::$module::$variant::check(tx, action),)*
            }
        }

        /// Runs the pre-check of `action`'s module, which may fill its cache.
        pub(crate) fn precheck_action(
            caches: &ModuleCaches,
            state: &dyn StateRead,
            tx: &TxOrigin<'_>,
            action: &Action,
        ) -> Result<(), StateError> {
            match action {
                $($(#[$attr])* Action::$variant(action) =>
                    crate::$module::$variant::precheck(&caches.$module, state, tx, action),)*
            }
        }

        /// `action`'s weight against the block budget.
        pub fn action_weight(action: &Action) -> u64 {
            match action {
                $($(#[$attr])* Action::$variant(action) => crate::$module::$variant::weight(action),)*
            }
        }

        /// Checks and executes `action`, with writes confined to its module's
        /// prefix.
        pub(crate) fn execute_action(
            ctx: &TxContext<'_>,
            caches: &ModuleCaches,
            state: &mut Overlay<'_>,
            action: &Action,
            events: &mut Events,
        ) -> ExecResult<()> {
            match action {
                $($(#[$attr])* Action::$variant(action) => {
                    type M = crate::$module::$variant;
                    M::check(&ctx.tx, action)?;
                    state.confine(M::PREFIX, |state| {
                        M::execute(ctx, &caches.$module, state, action, events)
                    })
                })*
            }
        }

        /// Every module's end-of-block work, in registry order, each confined
        /// to its prefix. A rule rejection there is a broken invariant.
        pub(crate) fn end_block(
            ctx: &BlockContext<'_>,
            state: &mut Overlay<'_>,
            events: &mut Events,
        ) -> Result<(), StateError> {
            $(
            $(#[$attr])*
            {
                type M = crate::$module::$variant;
                state
                    .confine(M::PREFIX, |state| M::end_block(ctx, state, events))
                    .map_err(|error| match error {
                        ExecError::State(error) => error,
                        ExecError::Rejected(rejection) => StateError::Corrupt(format!(
                            concat!("the end of block ", "{}", " broke an invariant of module `", stringify!($module), "`: {}"),
                            ctx.height, rejection
                        )),
                    })?;
            })*
            Ok(())
        }

        /// Every module's genesis, in registry order, each confined to its
        /// prefix.
        pub(crate) fn init_genesis(
            state: &mut Overlay<'_>,
            genesis: &Genesis,
        ) -> Result<(), GenesisError> {
            $(
            $(#[$attr])*
            {
                type M = crate::$module::$variant;
                let section = genesis_section!(genesis, $module $(, $genesis)?);
                state.confine(M::PREFIX, |state| M::init_genesis(state, section))?;
            })*
            Ok(())
        }
    };
}

salus_types::with_modules!(dispatch);

/// The transaction's weight: the sum of its actions'.
pub fn tx_weight(tx: &Tx) -> u64 {
    tx.body
        .actions
        .iter()
        .map(action_weight)
        .fold(0, u64::saturating_add)
}

/// The origin of `tx`'s actions.
pub fn origin_of(tx: &Tx) -> TxOrigin<'_> {
    TxOrigin {
        chain_id: &tx.body.chain_id,
        signer: tx.body.signer,
        tx_nonce: tx.body.nonce,
        signing_key: tx.body.public_key,
    }
}

/// What admission checks of a transaction's actions without state or
/// signature: each action's stateless check, and that the transaction fits
/// a block's weight budget. (The envelope's shape is `Tx::check_shape`.)
pub fn check_actions(tx: &Tx) -> Result<(), StatelessError> {
    let origin = origin_of(tx);
    for (index, action) in tx.body.actions.iter().enumerate() {
        check_action(&origin, action).map_err(|error| StatelessError::Action { index, error })?;
    }
    let weight = tx_weight(tx);
    if weight > MAX_BLOCK_WEIGHT {
        return Err(TxError::TooHeavy(weight).into());
    }
    Ok(())
}

/// Runs every action's pre-check against `state` (finalized), filling the
/// modules' caches.
pub fn precheck(caches: &ModuleCaches, state: &dyn StateRead, tx: &Tx) -> Result<(), StateError> {
    let origin = origin_of(tx);
    tx.body
        .actions
        .iter()
        .try_for_each(|action| precheck_action(caches, state, &origin, action))
}
