//! A Salus block as commonware sees it.

use std::sync::Arc;

use bytes::BufMut;
use commonware_codec::{EncodeSize, Error as CodecError, Read, ReadRangeExt, Write};
use commonware_consensus::types::Height;
use commonware_consensus::{Block as CBlock, Heightable};
use commonware_cryptography::Digestible;
use salus_types::{Block, MAX_BLOCK_BYTES, MAX_BLOCK_TXS};

use crate::{to_digest, Digest};

/// Carries the block with its canonical encoding and digest, computed once.
/// Decoding recomputes the digest from the bytes and checks the transactions
/// against the header's transaction root: the digest covers only the header, so
/// without that check a peer could pair a real header with other transactions,
/// and marshal would store and deliver the forgery under the real digest.
#[derive(Clone, Debug)]
pub struct ConsensusBlock {
    block: Arc<Block>,
    encoded: Arc<Vec<u8>>,
    digest: Digest,
}

impl PartialEq for ConsensusBlock {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl Eq for ConsensusBlock {}

impl ConsensusBlock {
    pub fn new(block: Block) -> Self {
        let encoded = block.encode();
        let digest = to_digest(&block.digest());
        ConsensusBlock {
            block: Arc::new(block),
            encoded: Arc::new(encoded),
            digest,
        }
    }

    pub fn block(&self) -> &Block {
        &self.block
    }
}

impl Write for ConsensusBlock {
    fn write(&self, buf: &mut impl BufMut) {
        self.encoded.as_ref().write(buf);
    }
}

impl EncodeSize for ConsensusBlock {
    fn encode_size(&self) -> usize {
        self.encoded.as_ref().encode_size()
    }
}

impl Read for ConsensusBlock {
    type Cfg = ();

    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        let bytes = Vec::<u8>::read_range(buf, 0..=MAX_BLOCK_BYTES)?;
        let block = Block::decode(&bytes).map_err(|_| CodecError::Invalid("salus", "block"))?;
        if block.txs.len() > MAX_BLOCK_TXS {
            return Err(CodecError::Invalid("salus", "too many transactions"));
        }
        if Block::tx_root_of(&block.txs) != block.header.tx_root {
            return Err(CodecError::Invalid(
                "salus",
                "transactions do not match the header",
            ));
        }
        let digest = to_digest(&block.digest());
        Ok(ConsensusBlock {
            block: Arc::new(block),
            encoded: Arc::new(bytes),
            digest,
        })
    }
}

impl Digestible for ConsensusBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.digest
    }
}

impl Heightable for ConsensusBlock {
    fn height(&self) -> Height {
        Height::new(self.block.header.height)
    }
}

impl CBlock for ConsensusBlock {
    fn parent(&self) -> Digest {
        to_digest(&self.block.header.parent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode, Encode};
    use salus_types::{Hash, Header, PublicKey};

    fn sample() -> Block {
        Block {
            header: Header {
                height: 3,
                parent: Hash([1; 32]),
                timestamp_ms: 5,
                proposer: PublicKey([2; 32]),
                tx_root: Hash::ZERO,
                state_root: Hash([3; 32]),
            },
            txs: vec![],
        }
    }

    #[test]
    fn codec_round_trip_and_rejects_garbage() {
        let block = ConsensusBlock::new(sample());
        let bytes = block.encode();
        let back = ConsensusBlock::decode_cfg(bytes.clone(), &()).unwrap();
        assert_eq!(back.digest(), block.digest());
        assert_eq!(back.block(), block.block());
        assert_eq!(back.height(), Height::new(3));
        let mut bad = bytes.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        // Any change either fails to decode or yields a different digest.
        if let Ok(other) = ConsensusBlock::decode_cfg(bytes::Bytes::from(bad), &()) {
            assert_ne!(other.digest(), block.digest());
        }
        assert!(ConsensusBlock::decode_cfg(bytes::Bytes::from_static(&[5, 1, 2]), &()).is_err());

        // A real header with transactions it does not commit to is refused.
        let key = salus_crypto::SigningKey::from_seed(&[4; 32]);
        let tx = salus_types::TxBody {
            chain_id: "c".into(),
            signer: salus_types::AccountId::from_public_key(&key.public_key()),
            public_key: key.public_key(),
            nonce: 0,
            actions: vec![],
        }
        .sign(&key);
        let mut forged = sample();
        forged.txs.push(tx);
        let forged = ConsensusBlock::new(forged);
        assert_eq!(forged.digest(), block.digest(), "same header, same digest");
        assert!(ConsensusBlock::decode_cfg(forged.encode(), &()).is_err());
    }
}
