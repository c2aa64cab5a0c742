//! Free loopback ports for local networks and tests.

use super::ConfigError;

/// Where [`free_ports`] looks: below Linux's default ephemeral range
/// (32768–60999), so that no outgoing connection of this or another process
/// takes a node's port while the node is down for a restart.
const LOCAL_PORTS: std::ops::Range<u32> = 10_000..32_000;

/// The first of `count` consecutive loopback ports that are free now.
///
/// Each call in a process starts its search elsewhere: two testnets laid out
/// at once in one process would otherwise both find the same ports free,
/// before either binds them.
pub fn free_ports(count: u16) -> Result<u16, ConfigError> {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let too_many = || ConfigError::Invalid {
        path: "127.0.0.1".into(),
        reason: format!("no {count} consecutive free ports"),
    };
    let span = (LOCAL_PORTS.end - LOCAL_PORTS.start)
        .checked_sub(u32::from(count))
        .filter(|span| *span > 0)
        .ok_or_else(too_many)?;
    let mut state = (std::process::id() ^ 0x5a5a).wrapping_add(call.wrapping_mul(7_919));
    for _ in 0..1_000 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let base = (LOCAL_PORTS.start + (state >> 8) % span) as u16;
        if (0..count).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return Ok(base);
        }
    }
    Err(too_many())
}

/// A free loopback address (from [`free_ports`]).
pub fn free_loopback_addr() -> Result<std::net::SocketAddr, ConfigError> {
    Ok(std::net::SocketAddr::from(([127, 0, 0, 1], free_ports(1)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_stay_below_the_ephemeral_range_and_differ_call_by_call() {
        let bases: Vec<u16> = (0..16).map(|_| free_ports(8).unwrap()).collect();
        for base in &bases {
            assert!(LOCAL_PORTS.contains(&u32::from(*base)));
            assert!(u32::from(*base) + 8 <= LOCAL_PORTS.end);
        }
        let mut distinct = bases.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // Free ports are searched from a new start per call; sixteen calls
        // landing on fewer than twelve bases would mean they do not.
        assert!(distinct.len() >= 12, "{bases:?}");
        assert!(matches!(
            free_ports(u16::MAX),
            Err(ConfigError::Invalid { .. })
        ));
    }
}
