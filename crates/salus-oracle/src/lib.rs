//! The oracle daemon behind `salus oracle run`.
//!
//! It polls its node for the open questions on whose committee its key sits,
//! reads each question's evidence through the vault as any reader would
//! (purpose `payment`, under the grant the question's client opened, so
//! every read lands in the patient's audit trail), evaluates the question's
//! rule on the decrypted FHIR resources ([`salus_client::rules`]) and signs
//! its answer. Everything it knows lives on chain: it keeps nothing on disk,
//! plaintext least of all, so a restart at any moment (even kill -9) resumes
//! with the questions still unanswered. Nothing is answered twice: a round
//! takes its nonces from the chain, and ed25519 signatures are
//! deterministic, so answers resubmitted after a crash are the very
//! transactions already sent, included once.

pub mod process;

use std::time::Duration;

use salus_client::record_flow::{Actor, FlowError, RecordFlow};
use salus_client::{rules, Client, ClientError};
use salus_types::consent::Purpose;
use salus_types::oracle::{Answer, OracleAction, Question};
use salus_types::records::RecordId;
use salus_types::{Action, Tx};
use serde_json::Value;

/// How often the daemon asks for work when it has none.
pub const DEFAULT_POLL: Duration = Duration::from_millis(250);
/// At most this many answers go out in one round (one batch, then a wait
/// for finality), bounding what a restart may have to redo.
pub const MAX_ANSWERS_PER_ROUND: usize = 256;

/// How long a round waits for its answers to be final.
const FINALITY_TIMEOUT: Duration = Duration::from_secs(30);

/// A deliberate fault, for drills and demos of slashing: the daemon answers
/// without reading, always the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    AlwaysDeny,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Flow(#[from] FlowError),
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Answers submitted and final.
    pub answered: usize,
    /// Questions whose evidence could not be read yet (keys not shared,
    /// the vault behind): tried again next round.
    pub waiting: usize,
}

pub struct Daemon {
    client: Client,
    actor: Actor,
    fault: Option<Fault>,
}

impl Daemon {
    /// A daemon for `actor` (the oracle's signer and agreement secret).
    pub fn new(client: Client, actor: Actor, fault: Option<Fault>) -> Daemon {
        Daemon {
            client,
            actor,
            fault,
        }
    }

    /// Rounds until `stop` resolves; a failed round is logged and retried
    /// after the poll interval (a node restarting is not the daemon's end).
    pub async fn run(mut self, poll: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let pause = match self.round().await {
                Ok(round) if round.answered > 0 => Duration::ZERO,
                Ok(_) => poll,
                Err(error) => {
                    tracing::warn!(%error, "oracle round failed; retrying");
                    poll
                }
            };
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One round: answers every open, unanswered question assigned to this
    /// oracle whose evidence it can read, in one batch, and waits until the
    /// batch is final.
    pub async fn round(&mut self) -> Result<Round, DaemonError> {
        let me = self.actor.account();
        let assigned = self.client.assigned(&me, None).await?;
        let pending: Vec<&Question> = assigned
            .questions
            .iter()
            .filter(|q| q.member(&me).is_some_and(|m| m.answer.is_none()))
            .take(MAX_ANSWERS_PER_ROUND)
            .collect();
        if pending.is_empty() {
            return Ok(Round::default());
        }
        let flow = RecordFlow::connect(&self.client).await?;
        let mut answers = Vec::new();
        let mut round = Round::default();
        for (question, judged) in self.judge_all(&flow, &pending).await? {
            match judged {
                Ok(answer) => answers.push((question, answer)),
                Err(error) => {
                    // The question and the error only: errors never hold content.
                    tracing::debug!(question, %error, "evidence not readable yet");
                    round.waiting += 1;
                }
            }
        }
        if answers.is_empty() {
            return Ok(round);
        }
        // The chain is the only memory: the next nonce comes from it.
        self.actor.signer.next_nonce = self.client.next_nonce(&me).await?;
        let txs: Vec<Tx> = answers
            .iter()
            .map(|(question, answer)| {
                self.actor
                    .signer
                    .sign(vec![Action::Oracle(OracleAction::Answer {
                        question: *question,
                        answer: answer.clone(),
                    })])
            })
            .collect();
        self.client.submit_batch(&txs).await?;
        if let Some(last) = txs.last() {
            self.client
                .wait_final(&last.hash(), FINALITY_TIMEOUT)
                .await?;
        }
        for (question, answer) in &answers {
            tracing::info!(question, ?answer, "answered");
        }
        round.answered = answers.len();
        Ok(round)
    }

    /// Reads the evidence of every question (in vault calls of many reads)
    /// and applies each question's rule; a question with evidence it
    /// cannot read yet gets that error instead of an answer.
    async fn judge_all(
        &self,
        flow: &RecordFlow<'_>,
        questions: &[&Question],
    ) -> Result<Vec<(u64, Result<Answer, FlowError>)>, DaemonError> {
        if self.fault == Some(Fault::AlwaysDeny) {
            return Ok(questions.iter().map(|q| (q.id, Ok(Answer::Deny))).collect());
        }
        let wanted: Vec<(RecordId, u32)> = questions
            .iter()
            .flat_map(|q| q.evidence.iter().map(|e| (e.record, e.version)))
            .collect();
        let mut reads = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(salus_client::api::vault::MAX_VAULT_BATCH) {
            reads.extend(flow.get_many(&self.actor, chunk, Purpose::Payment).await?);
        }
        let mut reads = reads.into_iter();
        let mut judged = Vec::with_capacity(questions.len());
        for question in questions {
            let mut resources = Vec::with_capacity(question.evidence.len());
            let mut failure = None;
            for read in reads.by_ref().take(question.evidence.len()) {
                match read {
                    // Content that is not JSON counts for nothing: the rule denies.
                    Ok(read) => resources
                        .push(serde_json::from_slice(&read.plaintext).unwrap_or(Value::Null)),
                    Err(error) => failure = Some(error),
                }
            }
            let answer = match failure {
                Some(error) => Err(error),
                None => Ok(rules::evaluate(&question.rule, &resources)),
            };
            judged.push((question.id, answer));
        }
        Ok(judged)
    }
}
