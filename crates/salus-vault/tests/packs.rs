//! The blob store's packs on a local disk: batches share one object, reads
//! find each version, erasure rewrites shared packs so that nothing of the
//! erased record is left, and leftovers of interrupted work are collected.

use std::path::{Path, PathBuf};

use salus_types::records::RecordId;
use salus_types::vault::{KeyEnvelope, WrappedKey};
use salus_types::{AccountId, Hash};
use salus_vault::blobs::pack::PackedVersion;
use salus_vault::blobs::StoredVersion;
use salus_vault::{BlobConfig, BlobStore};

fn envelope(n: u8) -> KeyEnvelope {
    KeyEnvelope {
        recipient: AccountId([n; 20]),
        recipient_key: salus_crypto::AgreementPublicKey([n; 32]),
        enc: salus_crypto::AgreementPublicKey([n.wrapping_add(1); 32]),
        wrapped: WrappedKey([n; 64]),
    }
}

/// A version whose ciphertext is a recognizable 64-byte pattern.
fn version(record: u8, number: u32) -> PackedVersion {
    let mut content = vec![record, number as u8];
    content.extend((0..62u8).map(|i| i.wrapping_mul(31)));
    PackedVersion {
        record: RecordId([record; 16]),
        version: number,
        hash: salus_types::vault::ciphertext_hash(&content),
        stored: StoredVersion {
            content,
            envelopes: vec![envelope(record)],
        },
    }
}

fn open(dir: &Path) -> BlobStore {
    BlobStore::open(
        &BlobConfig::Local {
            dir: dir.join("blobs"),
            fsync: true,
        },
        &dir.join("packs.redb"),
    )
    .unwrap()
}

fn packs(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir.join("blobs").join("packs")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => vec![],
    }
}

/// Whether any file under `dir` contains `needle`.
fn anywhere(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            anywhere(&path, needle)
        } else {
            let bytes = std::fs::read(&path).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        }
    })
}

async fn read(blobs: &BlobStore, v: &PackedVersion) -> Option<StoredVersion> {
    blobs.version(&v.record, v.version, &v.hash).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_one_pack_and_every_version_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = open(dir.path());
    let batch: Vec<PackedVersion> = (1..=20).map(|r| version(r, 1)).collect();
    let mut twice = version(3, 1);
    twice.stored.envelopes = vec![envelope(99)];
    let mut upload = batch.clone();
    upload.push(twice);
    blobs.put_versions(upload).await.unwrap();
    assert_eq!(packs(dir.path()).len(), 1, "one pack for the batch");
    for v in &batch[..2] {
        assert_eq!(read(&blobs, v).await.as_ref(), Some(&v.stored));
    }
    // The version given twice in one batch holds both writers' envelopes.
    let third = read(&blobs, &batch[2]).await.unwrap();
    assert_eq!(third.envelopes, vec![envelope(3), envelope(99)]);
    // Another hash, or another version number, is not stored.
    let mut wrong = batch[0].clone();
    wrong.hash = Hash([7; 32]);
    assert_eq!(read(&blobs, &wrong).await, None);
    wrong = batch[0].clone();
    wrong.version = 2;
    assert_eq!(read(&blobs, &wrong).await, None);

    // Storing a held version again adds its envelopes and writes no pack.
    let mut again = batch[0].clone();
    again.stored.envelopes = vec![envelope(42)];
    blobs.put_versions(vec![again]).await.unwrap();
    assert_eq!(packs(dir.path()).len(), 1);
    let added = blobs.added_envelopes(&batch[0].record, 1).await.unwrap();
    assert_eq!(added, vec![envelope(42)]);

    // Everything survives reopening.
    drop(blobs);
    let blobs = open(dir.path());
    for v in &batch[3..] {
        assert_eq!(read(&blobs, v).await.as_ref(), Some(&v.stored));
    }
    assert_eq!(blobs.records().await.unwrap().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_rewrites_shared_packs_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = open(dir.path());
    let (erased_v1, erased_v2) = (version(1, 1), version(1, 2));
    let (kept_a, kept_b) = (version(2, 1), version(3, 1));
    blobs
        .put_versions(vec![erased_v1.clone(), kept_a.clone()])
        .await
        .unwrap();
    blobs
        .put_versions(vec![kept_b.clone(), erased_v2.clone()])
        .await
        .unwrap();
    blobs
        .add_envelopes(&erased_v1.record, 1, &[envelope(50)])
        .await
        .unwrap();
    blobs.sync().await.unwrap();
    let before = packs(dir.path());
    assert_eq!(before.len(), 2);
    for v in [&erased_v1, &erased_v2] {
        assert!(anywhere(dir.path(), &v.stored.content));
    }

    // Two versions and one envelope object.
    assert_eq!(blobs.erase(&erased_v1.record).await.unwrap(), 3);
    for v in [&erased_v1, &erased_v2] {
        assert_eq!(read(&blobs, v).await, None);
        assert!(
            !anywhere(dir.path(), &v.stored.content),
            "ciphertext of an erased record is still on disk"
        );
    }
    assert!(blobs
        .added_envelopes(&erased_v1.record, 1)
        .await
        .unwrap()
        .is_empty());
    for v in [&kept_a, &kept_b] {
        assert_eq!(read(&blobs, v).await.as_ref(), Some(&v.stored));
    }
    let after = packs(dir.path());
    assert_eq!(after.len(), 2, "each shared pack was replaced");
    assert!(after.iter().all(|p| !before.contains(p)));
    assert_eq!(
        blobs.records().await.unwrap(),
        vec![kept_a.record, kept_b.record]
    );

    // Erasing the rest leaves no pack at all.
    blobs.erase(&kept_a.record).await.unwrap();
    blobs.erase(&kept_b.record).await.unwrap();
    assert!(packs(dir.path()).is_empty());
    assert_eq!(blobs.erase(&kept_a.record).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packs_left_by_interrupted_work_are_taken_in_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (erased, kept) = (version(1, 1), version(2, 1));
    {
        let blobs = open(dir.path());
        blobs
            .put_versions(vec![erased.clone(), kept.clone()])
            .await
            .unwrap();
        // An erasure that crashed after indexing the new pack but before
        // deleting the old one: put the old pack back after the erasure.
        let old = packs(dir.path()).remove(0);
        let saved = std::fs::read(&old).unwrap();
        blobs.erase(&erased.record).await.unwrap();
        std::fs::write(&old, saved).unwrap();
        // A write that crashed mid-upload, and one that crashed after its
        // upload but before indexing it.
        let packs_dir = dir.path().join("blobs/packs");
        std::fs::write(
            packs_dir.join(format!("{}.pack", Hash([0xab; 32]))),
            b"SALUSPK1\x01",
        )
        .unwrap();
        let unindexed = version(3, 1);
        let (id, bytes, _) =
            salus_vault::blobs::pack::encode(std::slice::from_ref(&unindexed)).unwrap();
        std::fs::write(packs_dir.join(format!("{id}.pack")), bytes).unwrap();
    }
    let blobs = open(dir.path());
    // The old pack's erased version and the unacknowledged write are taken in
    // (each is anchored; the vault's reconcile erases what the chain erased);
    // the damaged pack is deleted.
    assert_eq!(blobs.adopt_unindexed_packs().await.unwrap(), (2, 1));
    assert_eq!(
        read(&blobs, &version(3, 1)).await,
        Some(version(3, 1).stored)
    );
    blobs.erase(&erased.record).await.unwrap();
    assert!(!anywhere(dir.path(), &erased.stored.content));
    assert_eq!(read(&blobs, &kept).await.as_ref(), Some(&kept.stored));
    assert_eq!(blobs.adopt_unindexed_packs().await.unwrap(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_index_is_rebuilt_from_the_packs() {
    let dir = tempfile::tempdir().unwrap();
    let batch: Vec<PackedVersion> = (1..=5).map(|r| version(r, 1)).collect();
    {
        let blobs = open(dir.path());
        blobs.put_versions(batch[..3].to_vec()).await.unwrap();
        blobs.put_versions(batch[3..].to_vec()).await.unwrap();
    }
    std::fs::remove_file(dir.path().join("packs.redb")).unwrap();
    let blobs = open(dir.path());
    assert_eq!(read(&blobs, &batch[0]).await, None, "nothing indexed yet");
    assert_eq!(blobs.adopt_unindexed_packs().await.unwrap(), (2, 0));
    for v in &batch {
        assert_eq!(read(&blobs, v).await.as_ref(), Some(&v.stored));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_left_by_racing_writes_is_erased_too() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = open(dir.path());
    let (raced, a, b) = (version(1, 1), version(2, 1), version(3, 1));
    // Both writes find the version missing and pack it; one of them indexes
    // it, the other's pack keeps an unindexed copy beside a live version.
    let (first, second) = tokio::join!(
        blobs.put_versions(vec![raced.clone(), a.clone()]),
        blobs.put_versions(vec![raced.clone(), b.clone()]),
    );
    first.unwrap();
    second.unwrap();
    assert_eq!(packs(dir.path()).len(), 2);
    assert_eq!(read(&blobs, &raced).await.as_ref(), Some(&raced.stored));

    blobs.erase(&raced.record).await.unwrap();
    assert!(
        !anywhere(dir.path(), &raced.stored.content),
        "a racing write's copy outlived the erasure"
    );
    for v in [&a, &b] {
        assert_eq!(read(&blobs, v).await.as_ref(), Some(&v.stored));
    }
}
