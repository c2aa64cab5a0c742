//! Chapter 8: the client trusted no node. Every state value the tour read
//! was proven against a header whose finalization certificate the client
//! checked itself, against the validator sets it follows from genesis
//! through each epoch; a header with one bit changed is caught.

use anyhow::{bail, Result};
use salus_client::finality::verify_finality;
use salus_client::ClientError;
use serde_json::json;

use crate::tour::Tour;

pub(crate) async fn run(tour: &mut Tour<'_>) -> Result<()> {
    let client = tour.client.clone();
    let tip = client.status().await?.height;
    let header = client.header(tip).await?;
    let history = client.validator_history().await?;
    let epoch = history.latest_epoch();
    let validators = history.validators(epoch).map_or(0, <[_]>::len);
    let epoch_set = client.epoch_set(epoch).await?;
    tour.say_as(
        "finality checked",
        format!(
            "The client checked every header it used itself: block {tip} carries a certificate signed by a quorum of epoch {epoch}'s {validators} validator(s). Epochs last {} blocks; the client learned each epoch's set from the last block of the epoch before, as a state proof, starting from the set it pinned at genesis.",
            epoch_set.epoch_blocks
        ),
        json!({"height": tip, "epoch": epoch, "validators": validators, "state_root": header.state_root}),
    );
    let mut forged = client.finality(tip).await?;
    if let Some(last) = forged.headers.last_mut() {
        last.state_root.0[0] ^= 1;
    }
    match verify_finality(&history, tip, &forged) {
        Err(error @ ClientError::NotFinal { .. }) => {
            let cause = std::error::Error::source(&error)
                .map(|source| format!(": {source}"))
                .unwrap_or_default();
            tour.say_as(
                "forgery caught",
                format!(
                    "A header with one bit of its state root changed is refused: {error}{cause}."
                ),
                json!({"height": tip}),
            )
        }
        other => bail!("a forged header must fail its certificate check, not give {other:?}"),
    }
    Ok(())
}
