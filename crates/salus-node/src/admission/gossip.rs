//! Transaction gossip between validators.
//!
//! A transaction submitted to any validator must reach whichever validator
//! leads the next view, so every transaction a node admits from a client is
//! sent once to every other validator over the authenticated p2p network.
//! Received transactions are admitted exactly like a client's (signatures,
//! shape, current key, nonce window, mempool bounds) and never forwarded again,
//! so gossip cannot loop. A Byzantine peer can send garbage; it is refused
//! transaction by transaction, and a malformed message is dropped whole.

use std::sync::Arc;

use commonware_p2p::{Receiver, Recipients, Sender};
use futures::FutureExt as _;
use salus_app::Chain;
use salus_types::{codec, Tx};
use tracing::{debug, warn};

use super::admit;
use super::mempool::Mempool;

/// The most bytes of transactions in one gossip message (well below the p2p
/// message limit).
pub const MAX_GOSSIP_BYTES: usize = 4 * 1024 * 1024;
/// Batches waiting to be gossiped; beyond this, gossip is skipped (the
/// transactions stay in the local mempool and reach the chain when this node
/// leads).
const OUTBOX: usize = 1_024;

/// Where the API hands admitted transactions for gossip.
#[derive(Clone)]
pub struct Gossip {
    outbox: tokio::sync::mpsc::Sender<Vec<Tx>>,
}

impl Gossip {
    pub fn channel() -> (Gossip, tokio::sync::mpsc::Receiver<Vec<Tx>>) {
        let (outbox, inbox) = tokio::sync::mpsc::channel(OUTBOX);
        (Gossip { outbox }, inbox)
    }

    /// Queues transactions for the other validators.
    pub fn share(&self, txs: Vec<Tx>) {
        if txs.is_empty() {
            return;
        }
        if self.outbox.try_send(txs).is_err() {
            warn!("the gossip outbox is full; these transactions wait for this node to lead");
        }
    }
}

/// Splits transactions into messages of at most [`MAX_GOSSIP_BYTES`].
fn messages(txs: &[Tx]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut batch: Vec<Tx> = Vec::new();
    let mut bytes = 0;
    for tx in txs {
        let size = tx.encode().len();
        if bytes + size > MAX_GOSSIP_BYTES && !batch.is_empty() {
            out.push(codec::encode(&batch));
            batch.clear();
            bytes = 0;
        }
        bytes += size;
        batch.push(tx.clone());
    }
    if !batch.is_empty() {
        out.push(codec::encode(&batch));
    }
    out
}

/// Runs gossip until the network closes.
pub async fn run<S, R>(
    mut sender: S,
    mut receiver: R,
    mut outbox: tokio::sync::mpsc::Receiver<Vec<Tx>>,
    chain: Arc<Chain>,
    mempool: Arc<Mempool>,
) where
    S: Sender,
    R: Receiver,
{
    loop {
        futures::select! {
            batch = outbox.recv().fuse() => {
                let Some(batch) = batch else { return };
                for message in messages(&batch) {
                    sender.send(Recipients::All, message, false);
                }
            }
            message = receiver.recv().fuse() => {
                let Ok(message) = message else { return };
                let (peer, bytes) = message;
                let txs: Vec<Tx> = match codec::decode("gossiped transactions", bytes.as_ref(), MAX_GOSSIP_BYTES + 1024) {
                    Ok(txs) => txs,
                    Err(error) => {
                        warn!(%peer, %error, "dropped a malformed gossip message");
                        continue;
                    }
                };
                let count = txs.len();
                let started = std::time::Instant::now();
                // Checking signatures takes milliseconds per hundred
                // transactions: on a blocking thread, so that votes and
                // proposals on this node's async workers do not wait for it.
                // The next message waits, which keeps admission in order.
                let (chain, mempool) = (chain.clone(), mempool.clone());
                let admitted = tokio::task::spawn_blocking(move || admit(&chain, &mempool, txs)).await;
                let Ok(admitted) = admitted else {
                    warn!("a gossip admission task failed");
                    continue;
                };
                match admitted {
                    Ok(admission) => {
                        let admitted = admission.admitted.len();
                        let took_ms = started.elapsed().as_millis() as u64;
                        debug!(%peer, count, admitted, took_ms, "gossiped transactions");
                    }
                    Err(error) => warn!(%error, "cannot read state to admit gossiped transactions"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salus_crypto::SigningKey;
    use salus_types::token::TokenAction;
    use salus_types::{AccountId, Action, TxBody};

    #[test]
    fn messages_are_bounded_and_decode_back() {
        let key = SigningKey::from_seed(&[1; 32]);
        let txs: Vec<Tx> = (0..8000)
            .map(|nonce| {
                TxBody {
                    chain_id: "c".into(),
                    signer: AccountId::from_public_key(&key.public_key()),
                    public_key: key.public_key(),
                    nonce,
                    actions: vec![
                        Action::Token(TokenAction::Transfer {
                            to: AccountId([0; 20]),
                            amount: 1,
                        });
                        16
                    ],
                }
                .sign(&key)
            })
            .collect();
        let encoded = messages(&txs);
        assert!(
            encoded.len() > 1,
            "8000 large transactions need several messages"
        );
        let mut back = Vec::new();
        for message in &encoded {
            assert!(message.len() <= MAX_GOSSIP_BYTES + 1024);
            back.extend(
                codec::decode::<Vec<Tx>>("gossip", message, MAX_GOSSIP_BYTES + 1024).unwrap(),
            );
        }
        assert_eq!(back, txs);
        assert!(messages(&[]).is_empty());
    }
}
