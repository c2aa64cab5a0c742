//! The blob store on a real S3-compatible service (moto's server, which
//! `.ci/run` installs). Ignored by default because it needs that server:
//! `cargo test -p salus-vault --test s3 -- --ignored`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use salus_types::records::RecordId;
use salus_types::vault::{KeyEnvelope, WrappedKey};
use salus_types::{AccountId, Hash};
use salus_vault::blobs::pack::PackedVersion;
use salus_vault::blobs::StoredVersion;
use salus_vault::{BlobConfig, BlobStore};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn envelope(n: u8) -> KeyEnvelope {
    KeyEnvelope {
        recipient: AccountId([n; 20]),
        recipient_key: salus_crypto::AgreementPublicKey([n; 32]),
        enc: salus_crypto::AgreementPublicKey([n + 1; 32]),
        wrapped: WrappedKey([n; 64]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3-compatible server (moto_server on PATH)"]
async fn blobs_round_trip_through_an_s3_compatible_store() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed (pip install 'moto[server]')"),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Create the bucket once the server answers.
    loop {
        if let Ok(response) = http.put(format!("{endpoint}/salus-vault")).send().await {
            assert!(
                response.status().is_success(),
                "cannot create the bucket: {}",
                response.status()
            );
            break;
        }
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let index = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(
        &BlobConfig::S3 {
            endpoint,
            bucket: "salus-vault".into(),
            region: "us-east-1".into(),
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            allow_http: true,
        },
        &index.path().join("packs.redb"),
    )
    .unwrap();

    let (record, other) = (
        RecordId([0x11; 16]),
        RecordId([0x11; 16]).0.map(|b| b ^ 0xff),
    );
    let other = RecordId(other);
    let hash = Hash([3; 32]);
    let stored = StoredVersion {
        content: b"ciphertext bytes".to_vec(),
        envelopes: vec![envelope(1)],
    };
    // Both versions go into one pack object.
    let packed = |record| PackedVersion {
        record,
        version: 1,
        hash,
        stored: stored.clone(),
    };
    blobs
        .put_versions(vec![packed(record), packed(other)])
        .await
        .unwrap();
    assert_eq!(
        blobs.version(&record, 1, &hash).await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(blobs.version(&record, 2, &hash).await.unwrap(), None);

    // Writing the version again adds its envelopes rather than replacing it.
    let again = StoredVersion {
        content: stored.content.clone(),
        envelopes: vec![envelope(2)],
    };
    blobs.put_version(&record, 1, &hash, &again).await.unwrap();
    blobs
        .add_envelopes(&record, 1, &[envelope(3)])
        .await
        .unwrap();
    let added = blobs.added_envelopes(&record, 1).await.unwrap();
    assert_eq!(added, vec![envelope(2), envelope(3)]);
    blobs.sync().await.unwrap();

    let mut held = blobs.records().await.unwrap();
    held.sort();
    let mut expected = vec![record, other];
    expected.sort();
    assert_eq!(held, expected);
    assert_eq!(blobs.erase(&record).await.unwrap(), 2);
    assert_eq!(blobs.version(&record, 1, &hash).await.unwrap(), None);
    assert!(blobs.added_envelopes(&record, 1).await.unwrap().is_empty());
    assert_eq!(
        blobs.records().await.unwrap(),
        vec![other],
        "other records stay"
    );
    // The erasure rewrote the shared pack: the other version still reads back,
    // and no pack is left over.
    assert_eq!(
        blobs.version(&other, 1, &hash).await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(blobs.adopt_unindexed_packs().await.unwrap(), (0, 0));
    assert_eq!(blobs.erase(&other).await.unwrap(), 1);
    assert!(blobs.records().await.unwrap().is_empty());
}
