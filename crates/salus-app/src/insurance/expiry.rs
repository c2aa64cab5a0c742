//! The expiry queue: each policy waits in the bucket of the time its term
//! ends, and the end of each block sweeps the buckets the block's time has
//! passed, releasing the cover of the policies that ended.

use salus_state::{Overlay, StateError};
use salus_types::insurance::{
    expiry_cursor_key, expiry_key, policy_key, pool_key, InsuranceEvent, Policy, EXPIRY_BUCKET_MS,
    MAX_BUCKETS_PER_BLOCK, MAX_BUCKET_POLICIES, MAX_RELEASES_PER_BLOCK,
};

use super::{policy, pool};
use crate::context::{read, write, BlockContext, Events, ExecResult};

/// Queues `policy` for release when its term ends: in the bucket of its
/// end, or the first after it with room.
pub(super) fn queue_expiry(state: &mut Overlay<'_>, policy: &Policy) -> Result<(), StateError> {
    let mut bucket = policy.ends_ms / EXPIRY_BUCKET_MS;
    loop {
        let mut queued: Vec<u64> = read(state, &expiry_key(bucket))?.unwrap_or_default();
        if queued.len() < MAX_BUCKET_POLICIES {
            queued.push(policy.id);
            write(state, expiry_key(bucket), &queued);
            return Ok(());
        }
        bucket += 1;
    }
}

/// Releases the cover of policies whose term has ended, sweeping expiry
/// buckets from the cursor up to the block's time (at most
/// `MAX_BUCKETS_PER_BLOCK` a block). A policy not yet swept still counts as
/// active cover, which only makes the capital check stricter.
pub(super) fn release_ended(
    ctx: &BlockContext<'_>,
    state: &mut Overlay<'_>,
    events: &mut Events,
) -> ExecResult<()> {
    let Some(start) = read::<u64>(state, &expiry_cursor_key())? else {
        return Ok(());
    };
    let mut cursor = start;
    let now = ctx.timestamp_ms;
    let last = now / EXPIRY_BUCKET_MS;
    let (mut swept, mut released) = (0, 0);
    while cursor <= last && swept < MAX_BUCKETS_PER_BLOCK && released < MAX_RELEASES_PER_BLOCK {
        let queued: Vec<u64> = read(state, &expiry_key(cursor))?.unwrap_or_default();
        let (ended, waiting): (Vec<u64>, Vec<u64>) = {
            let mut ended = Vec::new();
            let mut waiting = Vec::new();
            for id in queued {
                let policy = policy(state, id)?
                    .ok_or_else(|| StateError::Corrupt(format!("queued policy {id} is missing")))?;
                if policy.ends_ms <= now && released + ended.len() < MAX_RELEASES_PER_BLOCK {
                    ended.push(id);
                } else {
                    waiting.push(id);
                }
            }
            (ended, waiting)
        };
        released += ended.len();
        let done = waiting.is_empty();
        // A bucket is rewritten only when something left it.
        if !ended.is_empty() {
            if done {
                state.delete(expiry_key(cursor));
            } else {
                write(state, expiry_key(cursor), &waiting);
            }
        }
        for id in ended {
            release(state, id, events)?;
        }
        // The current bucket may still fill, and a bucket cut short by the
        // release limit is not done: sweep it again next block.
        if cursor == last || !done {
            break;
        }
        cursor += 1;
        swept += 1;
    }
    if cursor != start {
        write(state, expiry_cursor_key(), &cursor);
    }
    Ok(())
}

fn release(state: &mut Overlay<'_>, id: u64, events: &mut Events) -> ExecResult<()> {
    let mut policy =
        policy(state, id)?.ok_or_else(|| StateError::Corrupt(format!("policy {id} is missing")))?;
    assert!(!policy.released, "a policy is released once");
    let mut pool = pool(state, policy.pool)?
        .ok_or_else(|| StateError::Corrupt(format!("pool {} is missing", policy.pool)))?;
    // Pending claims stay reserved until they settle.
    pool.active_cover = pool
        .active_cover
        .checked_sub(policy.remaining - policy.pending)
        .expect("active cover includes every unreleased policy's remaining cover");
    policy.released = true;
    write(state, policy_key(id), &policy);
    write(state, pool_key(pool.id), &pool);
    events.emit(InsuranceEvent::PolicyEnded {
        policy: id,
        pool: pool.id,
        holder: policy.holder,
    });
    Ok(())
}
