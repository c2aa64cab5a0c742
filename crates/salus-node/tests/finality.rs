//! Clients check finality themselves: every header comes with a finalization
//! certificate, which the client checks against the validator set it pinned
//! from genesis. A node that serves a forged or uncertified header, or a state
//! proof against one, is caught.

mod common;

use std::time::Duration;

use salus_client::finality::{verify_finality, FinalityError, ValidatorHistory};
use salus_client::{actions, Client, ClientError};
use salus_types::token::{balance_key, Allocation};
use salus_types::{AccountId, GenesisValidator};

const EPOCH_BLOCKS: u64 = 4;

fn not_final(error: ClientError) -> FinalityError {
    match error {
        ClientError::NotFinal { source, .. } => source,
        other => panic!("expected a finality failure, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_verify_certificates_and_catch_forged_headers() {
    let honest_dir = tempfile::tempdir().unwrap();
    // Epochs of four blocks: the client follows the validator sets across
    // several boundaries, each switch of consensus instance included.
    let (honest, chain) = common::spawn_with(honest_dir.path(), |config| {
        config.genesis.epochs.epoch_blocks = EPOCH_BLOCKS;
    });
    let genesis_keys: Vec<_> = chain
        .genesis
        .validators
        .iter()
        .map(|v| v.public_key)
        .collect();
    let trusted = ValidatorHistory::new(&genesis_keys, EPOCH_BLOCKS).unwrap();
    let client = Client::trusting(
        format!("http://{}", honest.handle.http_addr),
        trusted.clone(),
    );

    // An honest node: a transfer's effect is proven against a certified header.
    let mut signer = salus_client::Signer::new(
        chain.genesis.chain_id.clone(),
        chain.authority.signing.clone(),
        0,
    );
    let recipient = AccountId([3; 20]);
    let outcome = client
        .submit_and_wait(&signer.sign(vec![actions::transfer(recipient, 42)]))
        .await
        .unwrap();
    while client.status().await.unwrap().height < 4 * EPOCH_BLOCKS {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let proven = client.proven(&balance_key(&recipient), None).await.unwrap();
    assert_eq!(proven.value, Some(42u128.to_le_bytes().to_vec()));
    assert!(proven.header.height >= outcome.height);
    // Every block verifies, whether certified itself or through a
    // descendant, in whichever epoch: the client learns each epoch's set
    // from the block that fixed it.
    let fresh = Client::trusting(client.base(), trusted.clone());
    for height in 1..=proven.header.height {
        assert_eq!(fresh.header(height).await.unwrap().height, height);
    }
    let history = fresh.validator_history().await.unwrap();
    assert!(history.latest_epoch() >= 3, "{history:?}");
    assert_eq!(history.validators(3).unwrap(), genesis_keys.as_slice());
    // A set proven against the wrong block is refused.
    let set: salus_client::api::epochs::EpochSet =
        reqwest::get(format!("{}/v1/epochs/2", client.base()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(set.height, 2 * EPOCH_BLOCKS - 1);
    let other = fresh.header(set.height - 1).await.unwrap();
    assert!(matches!(
        salus_client::finality::verify_epoch_set(&set, &other),
        Err(ClientError::Proof(_))
    ));
    let mut moved = set.clone();
    moved.height = other.height;
    assert!(salus_client::finality::verify_epoch_set(&moved, &other).is_err());
    for (path, status) in [("/v1/epochs/999999", 404), ("/v1/epochs/two", 400)] {
        let response = reqwest::get(format!("{}{path}", client.base()))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
    }

    // Tampered proofs from the honest node are caught.
    let height = 2;
    let header = fresh.header(height).await.unwrap();
    let proof = client.finality(height).await.unwrap();
    assert_eq!(
        verify_finality(&trusted, height, &proof).unwrap()[0],
        header
    );
    let mut forged_root = proof.clone();
    forged_root.headers.last_mut().unwrap().state_root.0[0] ^= 1;
    let error = not_final(verify_finality(&trusted, height, &forged_root).unwrap_err());
    assert!(matches!(error, FinalityError::WrongBlock { .. }), "{error}");
    let mut uncertified = proof.clone();
    uncertified.certificate.clear();
    let error = not_final(verify_finality(&trusted, height, &uncertified).unwrap_err());
    assert!(matches!(error, FinalityError::Malformed(_)), "{error}");
    let mut elsewhere = proof.clone();
    elsewhere.height = height + 1;
    assert!(matches!(
        verify_finality(&trusted, height + 1, &elsewhere),
        Err(ClientError::Proof(_))
    ));
    let mut gap = proof.clone();
    gap.headers.insert(0, header.clone());
    assert!(matches!(
        verify_finality(&trusted, height, &gap),
        Err(ClientError::Proof(_))
    ));

    // A node that runs its own validator over the same genesis, in which a
    // stranger holds a fortune, serves consistent headers, state proofs and
    // certificates, all signed by the wrong set.
    let stranger = AccountId([9; 20]);
    let forged_dir = tempfile::tempdir().unwrap();
    let honest_genesis = chain.genesis.clone();
    let (forger, _) = common::spawn_with(forged_dir.path(), |config| {
        let mut genesis = honest_genesis;
        genesis.validators = vec![GenesisValidator {
            public_key: config.validator_key.public_key(),
            address: String::new(),
        }];
        genesis.token.allocations.push(Allocation {
            account: stranger,
            amount: 1_000_000_000,
        });
        config.genesis = genesis;
    });
    let forged_base = format!("http://{}", forger.handle.http_addr);
    let raw = Client::new(forged_base.clone());
    for _ in 0..200 {
        if raw.status().await.unwrap().height >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let fooled = Client::trusting(forged_base.clone(), trusted.clone());
    let error = not_final(
        fooled
            .proven(&balance_key(&stranger), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(error, FinalityError::NotAQuorum(0));
    // Its state proof does check out against its own header: only the
    // certificate gives it away.
    let state = raw.state(&balance_key(&stranger), None).await.unwrap();
    let header = raw.block(state.height).await.unwrap().header;
    salus_client::verify_state(
        &header,
        &balance_key(&stranger),
        Some(&1_000_000_000u128.to_le_bytes()),
        &state.proof,
    )
    .unwrap();
    // A client that pinned the honest node's set on first use is not
    // fooled either when it later asks the forger.
    let first_use = Client::new(client.base());
    first_use.header(1).await.unwrap();
    let history = first_use.validator_history().await.unwrap();
    let switched = Client::trusting(forged_base, history);
    let error = not_final(switched.header(1).await.unwrap_err());
    assert_eq!(error, FinalityError::NotAQuorum(0));

    forger.stop().unwrap();
    honest.stop().unwrap();
}
