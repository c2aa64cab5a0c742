//! The pack format: many record versions in one object.
//!
//! A vault receives versions in batches, and one object per version costs a
//! file creation each on a local disk and a PUT each on S3 (see
//! `docs/decisions/one-pack-per-batch.md`). So each batch becomes one pack:
//!
//! ```text
//! "SALUSPK1" · entry · entry · …      entry = borsh(PackedVersion)
//! ```
//!
//! Each entry names its record, version and anchored ciphertext hash, so a
//! pack describes itself: the index can be checked against it, and an entry
//! read by offset is checked to be the one asked for. A pack is addressed by
//! the hash of its bytes and never changes; an erasure writes a new pack
//! without the erased entries and deletes the old one.

use object_store::path::Path;
use salus_types::records::RecordId;
use salus_types::Hash;

use super::StoredVersion;
use crate::VaultError;

const MAGIC: &[u8; 8] = b"SALUSPK1";

/// One version as a pack holds it.
#[derive(Debug, Clone, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct PackedVersion {
    pub record: RecordId,
    pub version: u32,
    /// The ciphertext hash the chain anchors for this version.
    pub hash: Hash,
    pub stored: StoredVersion,
}

/// Where an entry sits in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u64,
}

impl Span {
    pub fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + self.len
    }
}

/// A pack's id: the hash of its bytes.
pub type PackId = Hash;

pub fn pack_path(id: &PackId) -> Path {
    Path::from(format!("packs/{id}.pack"))
}

/// The pack an object path names, if it is one.
pub fn pack_of(path: &Path) -> Option<PackId> {
    let name = path.filename()?.strip_suffix(".pack")?;
    Hash::from_hex(name).ok()
}

fn corrupt(what: impl std::fmt::Display) -> VaultError {
    VaultError::Storage(format!("corrupt pack: {what}"))
}

/// Encodes entries into a pack: its id, its bytes, and each entry's span.
pub fn encode(entries: &[PackedVersion]) -> Result<(PackId, Vec<u8>, Vec<Span>), VaultError> {
    let mut bytes = MAGIC.to_vec();
    let mut spans = Vec::with_capacity(entries.len());
    for entry in entries {
        let offset = bytes.len() as u64;
        borsh::to_writer(&mut bytes, entry).map_err(|e| VaultError::Storage(e.to_string()))?;
        spans.push(Span {
            offset,
            len: bytes.len() as u64 - offset,
        });
    }
    let id = salus_crypto::sha256("salus/vault-pack/v1", &bytes);
    Ok((id, bytes, spans))
}

/// Every entry of a pack, with its span.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<(Span, PackedVersion)>, VaultError> {
    let mut rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("no magic"))?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let offset = (bytes.len() - rest.len()) as u64;
        let entry: PackedVersion =
            borsh::BorshDeserialize::deserialize(&mut rest).map_err(corrupt)?;
        let len = (bytes.len() - rest.len()) as u64 - offset;
        out.push((Span { offset, len }, entry));
    }
    Ok(out)
}

/// One entry, read by its span.
pub fn decode_one(bytes: &[u8]) -> Result<PackedVersion, VaultError> {
    borsh::from_slice(bytes).map_err(corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, content_len: usize) -> PackedVersion {
        PackedVersion {
            record: RecordId([n; 16]),
            version: u32::from(n),
            hash: Hash([n; 32]),
            stored: StoredVersion {
                content: vec![n; content_len],
                envelopes: vec![],
            },
        }
    }

    #[test]
    fn entries_read_back_whole_and_by_span() {
        let entries = vec![entry(1, 10), entry(2, 0), entry(3, 5_000)];
        let (id, bytes, spans) = encode(&entries).unwrap();
        assert_eq!(id, salus_crypto::sha256("salus/vault-pack/v1", &bytes));
        let all = decode_all(&bytes).unwrap();
        assert_eq!(all.iter().map(|(s, _)| *s).collect::<Vec<_>>(), spans);
        assert_eq!(all.into_iter().map(|(_, e)| e).collect::<Vec<_>>(), entries);
        for (span, expected) in spans.iter().zip(&entries) {
            let slice = &bytes[span.offset as usize..(span.offset + span.len) as usize];
            assert_eq!(&decode_one(slice).unwrap(), expected);
        }
        assert_eq!(pack_of(&pack_path(&id)), Some(id));
    }

    #[test]
    fn damaged_packs_are_errors() {
        let (_, bytes, spans) = encode(&[entry(1, 10), entry(2, 10)]).unwrap();
        assert!(decode_all(&bytes[1..]).is_err(), "no magic");
        assert!(decode_all(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        let first = &bytes[spans[0].offset as usize..][..spans[0].len as usize - 1];
        assert!(decode_one(first).is_err(), "short span");
        assert_eq!(pack_of(&Path::from("packs/zz.pack")), None);
    }
}
