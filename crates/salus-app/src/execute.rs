//! Transaction execution: all-or-nothing per transaction.
//!
//! A transaction first passes authorization (right key, next nonce). Failing that
//! makes it *invalid*: it must never be in a block, and a block containing one is
//! rejected. Past authorization its nonce is consumed whatever happens next; its
//! actions then run in a scratch overlay that is kept only if every action
//! succeeds. A failed transaction is still included, with its error code.

use salus_state::{Overlay, StateError};
use salus_types::{ErrorCode, Hash, Receipt, Tx, TxError};

use crate::auth;
use crate::context::{BlockContext, Events, ExecError, TxContext};
use crate::dispatch::{self, execute_action, origin_of, ModuleCaches};

/// What a block gives its transactions.
#[derive(Clone, Copy)]
pub struct BlockEnv<'a> {
    pub chain_id: &'a str,
    pub height: u64,
    /// The digest of the block this one builds on.
    pub parent: Hash,
    pub timestamp_ms: u64,
    /// What the modules' pre-checks remembered at admission.
    pub caches: &'a ModuleCaches,
}

/// Why a block cannot be accepted.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("transaction {index} is invalid: {error}")]
    InvalidTx { index: usize, error: TxError },
    #[error(transparent)]
    State(#[from] StateError),
}

/// The result of offering one transaction to a block.
#[derive(Debug)]
pub enum Applied {
    /// In the block; the receipt says whether its actions succeeded.
    Included(Receipt),
    /// Not allowed in any block in this state.
    Invalid(TxError),
}

/// Applies one transaction on top of `block`. Signatures must already be
/// verified; everything else is checked here.
pub fn apply_tx(
    env: &BlockEnv<'_>,
    block: &mut Overlay<'_>,
    tx: &Tx,
    index: u32,
) -> Result<Applied, StateError> {
    if let Err(error) = tx.check_shape(env.chain_id) {
        return Ok(Applied::Invalid(error));
    }
    let nonce_writes = {
        let mut scratch = Overlay::new(&*block);
        if let Err(error) = auth::authorize(&mut scratch, tx)? {
            return Ok(Applied::Invalid(error));
        }
        scratch.into_writes()
    };
    block.absorb(nonce_writes);

    let ctx = TxContext {
        tx: origin_of(tx),
        height: env.height,
        parent: env.parent,
        timestamp_ms: env.timestamp_ms,
    };
    let (outcome, writes, events) = {
        let mut scratch = Overlay::new(&*block);
        let mut events = Events::default();
        let mut outcome = Ok(());
        for (position, action) in tx.body.actions.iter().enumerate() {
            match execute_action(&ctx, env.caches, &mut scratch, action, &mut events) {
                Ok(()) => {}
                Err(ExecError::State(e)) => return Err(e),
                Err(ExecError::Rejected(rejection)) => {
                    outcome = Err((position as u32, rejection));
                    break;
                }
            }
        }
        (outcome, scratch.into_writes(), events.0)
    };
    let receipt = match outcome {
        Ok(()) => {
            block.absorb(writes);
            Receipt {
                tx_hash: tx.hash(),
                height: env.height,
                index,
                code: ErrorCode::Ok,
                message: String::new(),
                failed_action: None,
                events,
            }
        }
        Err((position, rejection)) => Receipt {
            tx_hash: tx.hash(),
            height: env.height,
            index,
            code: rejection.code,
            message: rejection.message,
            failed_action: Some(position),
            events: Vec::new(),
        },
    };
    Ok(Applied::Included(receipt))
}

/// Executes every transaction of a block; any invalid one rejects the block.
pub fn execute_block(
    env: &BlockEnv<'_>,
    block: &mut Overlay<'_>,
    txs: &[Tx],
) -> Result<Vec<Receipt>, BlockError> {
    let mut receipts = Vec::with_capacity(txs.len());
    for (index, tx) in txs.iter().enumerate() {
        let position = u32::try_from(index).expect("block size is bounded far below u32::MAX");
        match apply_tx(env, block, tx, position)? {
            Applied::Included(receipt) => receipts.push(receipt),
            Applied::Invalid(error) => return Err(BlockError::InvalidTx { index, error }),
        }
    }
    end_block(env, block, &mut receipts)?;
    Ok(receipts)
}

/// Runs every module's end-of-block work after the block's transactions;
/// if it emitted events, appends the block's own receipt for them.
pub fn end_block(
    env: &BlockEnv<'_>,
    block: &mut Overlay<'_>,
    receipts: &mut Vec<Receipt>,
) -> Result<(), StateError> {
    let ctx = BlockContext {
        chain_id: env.chain_id,
        height: env.height,
        timestamp_ms: env.timestamp_ms,
    };
    let mut events = Events::default();
    dispatch::end_block(&ctx, block, &mut events)?;
    if !events.0.is_empty() {
        let index =
            u32::try_from(receipts.len()).expect("block size is bounded far below u32::MAX");
        receipts.push(Receipt::end_of_block(env.height, index, events.0));
    }
    Ok(())
}
