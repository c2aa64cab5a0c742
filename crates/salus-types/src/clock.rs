//! The wall clock of the parts that live off chain: vault request stamps and
//! their freshness checks, the demo, tests. The state machine never reads it
//! (its only time is the block header's timestamp).

use std::sync::Arc;

/// Milliseconds since the Unix epoch. Injected so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The machine's wall clock, in milliseconds since the Unix epoch (0 if the
/// clock is set before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The machine's wall clock as a [`Clock`].
pub fn system_clock() -> Clock {
    Arc::new(now_ms)
}
