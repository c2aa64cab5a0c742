//! Finalization certificates for the API: marshal keeps one per height it
//! saw finalized directly, and a client checks a header against it (see
//! salus-finality).

use commonware_consensus::types::Height;

use crate::engine::Mailbox;

/// Reads certificates from this validator's marshal archive.
#[derive(Clone)]
pub struct Certificates {
    marshal: Mailbox,
}

impl Certificates {
    pub(crate) fn new(marshal: Mailbox) -> Certificates {
        Certificates { marshal }
    }

    /// The wire form of the certificate that finalized `height` directly,
    /// if this node has one. A block finalized only as the ancestor of a
    /// later certified block has none of its own.
    pub async fn at(&self, height: u64) -> Option<Vec<u8>> {
        self.marshal
            .get_finalization(Height::new(height))
            .await
            .map(|finalization| salus_finality::encode(&finalization))
    }
}
