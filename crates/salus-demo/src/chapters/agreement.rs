//! On a network: every validator holds the same block and state.

use anyhow::{ensure, Result};
use salus_client::Client;

use crate::tour::Tour;

/// Every validator holds the same block and state root at a common height.
pub(crate) async fn validators_agree(tour: &mut Tour<'_>, apis: &[String]) -> Result<()> {
    let clients: Vec<Client> = apis.iter().map(|a| Client::new(a.clone())).collect();
    let mut lowest = u64::MAX;
    for client in &clients {
        lowest = lowest.min(client.status().await?.height);
    }
    let mut views = Vec::new();
    for client in &clients {
        let block = client.block(lowest).await?;
        views.push((block.digest.to_hex(), block.header.state_root.to_hex()));
    }
    ensure!(
        views.windows(2).all(|w| w[0] == w[1]),
        "validators disagree at height {lowest}: {views:?}"
    );
    let root = views[0].1.clone();
    tour.say_as(
        "validators agree",
        format!(
            "All {} validators hold the same block and state root at height {lowest} ({}…).",
            clients.len(),
            &root[..16.min(root.len())]
        ),
        serde_json::json!({"height": lowest, "state_root": root, "validators": clients.len()}),
    );
    Ok(())
}
