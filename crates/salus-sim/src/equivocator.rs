//! An equivocating validator: it runs the honest engine, but every notarize
//! or finalize vote it casts goes out in two versions. Half of its peers get
//! the honest vote; the other half get a vote, signed with the same key for
//! the same view, for a block that does not exist. Quorum intersection must
//! keep honest validators from finalizing two blocks at one height anyway.
//!
//! The lie is told at the p2p layer, below consensus, because that is where a
//! real Byzantine node tells it: it controls its own bytes on the wire.

use commonware_codec::varint::UInt;
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_consensus::simplex::types::{Finalize, Notarize, Proposal, Vote};
use commonware_cryptography::ed25519::PublicKey;
use commonware_cryptography::{Hasher as _, Sha256};
use commonware_p2p::{CheckedSender, LimitedSender, Recipients, Sender};
use commonware_runtime::IoBufs;
use salus_consensus::epochs::EpochSchemes;
use salus_consensus::{Digest, Scheme};
use std::time::SystemTime;

/// Wraps one channel's sender. With `schemes` set (the votes channel),
/// votes are split as above, each twin signed with the scheme of its
/// vote's epoch; other messages, and other channels, pass unchanged.
#[derive(Clone)]
pub struct Equivocating<S> {
    inner: S,
    spare: S,
    schemes: Option<EpochSchemes>,
}

impl<S: Clone> Equivocating<S> {
    /// A sender that equivocates on every vote it sends.
    pub fn votes(inner: S, schemes: EpochSchemes) -> Self {
        Equivocating {
            spare: inner.clone(),
            inner,
            schemes: Some(schemes),
        }
    }

    /// A sender that passes everything through.
    pub fn honest(inner: S) -> Self {
        Equivocating {
            spare: inner.clone(),
            inner,
            schemes: None,
        }
    }
}

/// The conflicting twin of an honest vote: same round and parent, another
/// payload, the same signer.
fn twin(scheme: &Scheme, vote: &Vote<Scheme, Digest>) -> Option<Vote<Scheme, Digest>> {
    let forge = |proposal: &Proposal<Digest>| {
        let payload = Sha256::hash(&[b"salus-sim equivocation", proposal.payload.as_ref()]);
        Proposal::new(proposal.round, proposal.parent, payload)
    };
    match vote {
        Vote::Notarize(notarize) => {
            Notarize::sign(scheme, forge(&notarize.proposal)).map(Vote::Notarize)
        }
        Vote::Finalize(finalize) => {
            Finalize::sign(scheme, forge(&finalize.proposal)).map(Vote::Finalize)
        }
        Vote::Nullify(_) => None,
    }
}

impl<S> LimitedSender for Equivocating<S>
where
    S: Sender<PublicKey = PublicKey>,
{
    type PublicKey = PublicKey;
    type Checked<'a>
        = Checked<'a, S>
    where
        Self: 'a;

    fn check(&mut self, recipients: Recipients<PublicKey>) -> Result<Checked<'_, S>, SystemTime> {
        let Equivocating {
            inner,
            spare,
            schemes,
        } = self;
        let checked = inner.check(recipients)?;
        Ok(Checked {
            checked,
            spare,
            schemes: schemes.as_ref(),
        })
    }
}

pub struct Checked<'a, S: Sender + 'a> {
    checked: S::Checked<'a>,
    spare: &'a mut S,
    schemes: Option<&'a EpochSchemes>,
}

impl<'a, S> CheckedSender for Checked<'a, S>
where
    S: Sender<PublicKey = PublicKey>,
{
    type PublicKey = PublicKey;

    fn recipients(&self) -> Vec<PublicKey> {
        self.checked.recipients()
    }

    fn send(
        self,
        message: impl Into<IoBufs> + Send,
        priority: bool,
    ) -> commonware_actor::Unreliable<commonware_actor::Feedback> {
        let message: IoBufs = message.into();
        let Some(schemes) = self.schemes else {
            return self.checked.send(message, priority);
        };
        // Votes travel on their epoch's sub-channel: a varint epoch, then the vote.
        let forged = commonware_p2p::utils::mux::parse(message.clone().coalesce())
            .ok()
            .and_then(|(epoch, vote)| {
                let vote = Vote::<Scheme, Digest>::decode(commonware_codec::Copying(vote.as_ref()))
                    .ok()?;
                let scheme = schemes.signer(epoch).ok().flatten()?;
                let mut forged = UInt(epoch).encode().to_vec();
                forged.extend_from_slice(&twin(&scheme, &vote)?.encode());
                Some(forged)
            });
        let Some(forged) = forged else {
            return self.checked.send(message, priority);
        };
        let mut recipients = self.checked.recipients();
        recipients.sort();
        let deceived = recipients.split_off(recipients.len() / 2);
        drop(self.checked);
        if !recipients.is_empty() {
            self.spare
                .send(Recipients::Some(recipients), message, priority);
        }
        if !deceived.is_empty() {
            self.spare
                .send(Recipients::Some(deceived), forged, priority);
        }
        commonware_actor::Unreliable::new(commonware_actor::Feedback::Ok)
    }
}
