//! The demo's chapters, one per capability, in the order they run. Each
//! takes the tour and the cast, and adds its steps.

pub(crate) mod agreement;
mod credentials;
mod fhir_gateway;
mod finality;
mod governance;
mod identity;
mod insurance;
mod records;
mod validators;

pub(crate) use validators::Joiner;

use std::path::Path;

use anyhow::Result;
use salus_crypto::keystore::KeyPair;

use crate::tour::{Party, Tour};

/// The parties every chapter shares.
pub(crate) struct Cast {
    pub(crate) authority: Party,
    pub(crate) hospital: Party,
    pub(crate) patient: Party,
    pub(crate) insurer: Party,
}

/// Every chapter, in order.
/// `salus` is the binary the oracle daemons run as; `workdir` a scratch
/// directory for their keystore. A network of validators also has a
/// `joiner`, a node that the members vote into the set.
pub(crate) async fn run_all(
    tour: &mut Tour<'_>,
    chain_id: &str,
    authority: KeyPair,
    salus: &Path,
    workdir: &Path,
    joiner: Option<&Joiner>,
) -> Result<()> {
    let mut cast = Cast {
        authority: Party::with_keys("the consortium authority", chain_id, authority),
        hospital: Party::new("St. Mary's Hospital", chain_id),
        patient: Party::new("the patient", chain_id),
        insurer: Party::new("Acme Health Insurance", chain_id),
    };
    identity::run(tour, chain_id, &mut cast).await?;
    records::run(tour, chain_id, &mut cast).await?;
    fhir_gateway::run(tour, chain_id, &mut cast).await?;
    credentials::run(tour, chain_id, &mut cast).await?;
    insurance::run(tour, chain_id, &mut cast, salus, workdir).await?;
    let mut members = governance::run(tour, chain_id, &mut cast).await?;
    if let Some(joiner) = joiner {
        validators::run(tour, &mut members, joiner).await?;
    }
    finality::run(tour).await
}
