//! The tour's parties and its narration.

use anyhow::{bail, Context as _, Result};
use salus_client::record_flow::Actor;
use salus_client::{Client, Signer};
use salus_crypto::keystore::KeyPair;
use salus_types::Action;
use serde_json::json;

/// Someone in the story: a name and the keys it acts with.
pub(crate) struct Party {
    pub(crate) name: &'static str,
    pub(crate) actor: Actor,
}

impl Party {
    /// A newcomer with fresh keys.
    pub(crate) fn new(name: &'static str, chain_id: &str) -> Party {
        Party::with_keys(name, chain_id, KeyPair::generate())
    }

    pub(crate) fn with_keys(name: &'static str, chain_id: &str, keys: KeyPair) -> Party {
        Party {
            name,
            actor: Actor {
                signer: Signer::new(chain_id, keys.signing.clone(), 0),
                agreement: keys.agreement,
            },
        }
    }
}

/// The tour so far: the node it talks to, and every step it took.
pub(crate) struct Tour<'a> {
    pub(crate) client: Client,
    narrate: &'a dyn Fn(&str),
    steps: Vec<serde_json::Value>,
}

impl<'a> Tour<'a> {
    pub(crate) fn new(client: Client, narrate: &'a dyn Fn(&str)) -> Self {
        Tour {
            client,
            narrate,
            steps: Vec::new(),
        }
    }

    /// Records a step, and tells people about it.
    pub(crate) fn say(&mut self, what: String, detail: impl serde::Serialize) {
        let step = what.clone();
        self.say_as(&step, what, detail);
    }

    /// Records a step under a fixed name that scripts can look for, and
    /// tells people about it in words of its own.
    pub(crate) fn say_as(&mut self, step: &str, what: String, detail: impl serde::Serialize) {
        let detail = serde_json::to_value(detail).expect("API bodies serialize to JSON");
        (self.narrate)(&format!("• {what}"));
        self.steps.push(json!({"step": step, "detail": detail}));
    }

    /// Sends `actions` as `party` and waits for a successful receipt.
    pub(crate) async fn send(&mut self, party: &mut Party, actions: Vec<Action>) -> Result<u64> {
        let tx = party.actor.signer.sign(actions);
        let outcome = self
            .client
            .submit_and_wait(&tx)
            .await
            .with_context(|| format!("{}'s transaction", party.name))?;
        if !outcome.receipt.succeeded() {
            bail!(
                "{}'s transaction failed: {}",
                party.name,
                outcome.receipt.message
            );
        }
        Ok(outcome.height)
    }

    pub(crate) fn into_steps(self) -> Vec<serde_json::Value> {
        self.steps
    }
}

/// Polls `done` every 100 ms for up to a minute.
pub(crate) async fn wait_for<F, Fut>(done: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    for _ in 0..600 {
        if done().await? {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("gave up after a minute")
}
