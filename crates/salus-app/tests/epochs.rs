//! The epochs module through `Chain`, on a chain and a follower that must
//! agree on every root: the last block of each epoch fixes the next epoch's
//! validator set, a set never changes once written, a validator's new
//! address shows only from the next epoch, and bad input gets typed errors.

mod common;

use common::{genesis, proposer_key, Net, User};
use salus_app::epochs;
use salus_types::epochs::{last_height, EpochsAction, EpochsGenesis, Validator};
use salus_types::{ErrorCode, GenesisValidator};

const EPOCH_BLOCKS: u64 = 3;

fn net() -> (Net, Vec<Validator>) {
    let authority = User::new(1);
    let mut genesis = genesis(&authority, 1_000);
    genesis.epochs = EpochsGenesis {
        epoch_blocks: EPOCH_BLOCKS,
    };
    genesis.validators.push(GenesisValidator {
        public_key: User::new(201).key.public_key(),
        address: "10.0.0.2:7000".into(),
    });
    let mut set: Vec<Validator> = genesis.validators.iter().map(Validator::from).collect();
    set.sort();
    (Net::new(&genesis), set)
}

fn set(net: &Net, epoch: u64) -> Option<Vec<Validator>> {
    let snapshot = net.chain.store().snapshot().unwrap();
    epochs::set(&snapshot, epoch).unwrap()
}

fn set_address(address: &str) -> salus_types::Action {
    EpochsAction::SetAddress {
        address: address.into(),
    }
    .into()
}

#[test]
fn each_epoch_end_fixes_the_next_set_once() {
    let (net, genesis_set) = net();
    assert_eq!(set(&net, 0), Some(genesis_set.clone()));
    assert_eq!(set(&net, 1), None);
    let mut written = vec![genesis_set.clone()];
    while net.chain.tip().0.height < 4 * EPOCH_BLOCKS {
        net.block(&[]);
        let height = net.chain.tip().0.height;
        let epoch = height / EPOCH_BLOCKS;
        // Every epoch reached has its set, and earlier sets are untouched.
        for (e, expected) in written.iter().enumerate() {
            assert_eq!(set(&net, e as u64).as_ref(), Some(expected));
        }
        let next = set(&net, epoch + 1);
        if last_height(epoch, EPOCH_BLOCKS) == Some(height) {
            assert_eq!(next, Some(genesis_set.clone()), "height {height}");
            written.push(genesis_set.clone());
        } else {
            assert_eq!(next, None, "height {height}");
        }
    }
}

#[test]
fn a_new_address_shows_from_the_next_epoch_only() {
    let (net, genesis_set) = net();
    let mut validator = User::new(200);
    assert_eq!(validator.key.public_key(), proposer_key().public_key());
    net.ok(validator.tx(vec![set_address("10.0.0.1:7001")]));
    // Height 1 is in epoch 0: its set stays genesis's.
    assert_eq!(set(&net, 0), Some(genesis_set.clone()));
    while net.chain.tip().0.height < EPOCH_BLOCKS {
        net.block(&[]);
    }
    let next = set(&net, 1).unwrap();
    let mine = next
        .iter()
        .find(|v| v.key == validator.key.public_key())
        .unwrap();
    assert_eq!(mine.address, "10.0.0.1:7001");
    assert_eq!(next.len(), genesis_set.len());

    // Only a validator may announce an address, and only a well-formed one.
    let mut stranger = User::new(9);
    assert_eq!(
        net.code(stranger.tx(vec![set_address("10.0.0.9:7000")])),
        ErrorCode::NotAValidator
    );
    for bad in [
        "no-port",
        "10.0.0.1:0",
        "10.0.0.1:99999",
        ":7000",
        "node-1.example:7000",
    ] {
        assert_eq!(
            net.code(validator.tx(vec![set_address(bad)])),
            ErrorCode::BadAddress,
            "{bad}"
        );
    }
}

#[test]
fn genesis_refuses_an_epoch_too_short_to_run() {
    let authority = User::new(1);
    let mut genesis = genesis(&authority, 1_000);
    genesis.epochs.epoch_blocks = 1;
    let dir = tempfile::tempdir().unwrap();
    let store = salus_state::Store::open(&dir.path().join("chain.redb")).unwrap();
    let error = salus_app::Chain::open(store, &genesis).err().unwrap();
    assert!(error.to_string().contains("epoch"), "{error}");
}
