//! The toy module took exactly the steps of "Adding a module"
//! (ARCHITECTURE.md): its types file (`salus_types::toy`), its rules file
//! (`salus_app::toy`), one registry line, and a `mod` line beside each file.
//! Nothing else in the code names it. Here it runs through the real chain:
//! its actions encode under its registry tag, every phase reaches it, its
//! error codes are known by name, its events are indexed, and a write
//! outside its prefix fails loudly. Run with `--features toy-module`.

mod common;

use std::sync::atomic::Ordering;

use salus_app::toy::counter;
use salus_types::toy::ToyAction;
use salus_types::{codec, Action, ErrorCode, Event};

use common::{genesis, Net, User};

fn count(by: u32) -> Action {
    Action::from(ToyAction::Count { by })
}

#[test]
fn the_registry_line_is_all_the_encoding_needs() {
    let action = count(7);
    assert_eq!(action.module(), "toy");
    let bytes = codec::encode(&action);
    assert_eq!(bytes[0], 250, "the toy's registry tag leads its encoding");
    assert_eq!(
        codec::decode::<Action>("action", &bytes, 64).unwrap(),
        action
    );
    assert!(salus_types::modules()
        .iter()
        .any(|m| m.name == "toy" && m.tag == 250 && m.errors == (9900..10000)));
    assert_eq!(ErrorCode::ToyZero.name(), "toy_zero");
    assert_eq!(ErrorCode::from_name("toy_zero"), Some(ErrorCode::ToyZero));
}

#[test]
fn every_phase_reaches_the_toy_module() {
    let mut alice = User::new(2);
    let net = Net::new(&genesis(&User::new(1), 1_795_305_600_000));

    // Stateless check: admission refuses a count of zero, and a block that
    // carries one anyway gets a failed receipt with the toy's code.
    let zero = alice.tx(vec![count(0)]);
    assert!(salus_app::check_actions(&zero).is_err());
    assert_eq!(net.code(zero), ErrorCode::ToyZero);

    // Weight: each count weighs one against the block budget.
    let three = alice.tx(vec![count(1), count(2), count(3)]);
    assert_eq!(salus_app::tx_weight(&three), 3);

    // Pre-check: admission fills the module's own cache.
    let snapshot = net.chain.store().snapshot().unwrap();
    net.chain
        .precheck(&snapshot, std::slice::from_ref(&three))
        .unwrap();
    drop(snapshot);

    // Execution: the counter lives under `toy/`, and the event is indexed
    // for the account it names (and replayed by the follower, which must
    // reach the same root).
    let receipts = net.block(&[three]);
    assert_eq!(receipts[0].code, ErrorCode::Ok, "{}", receipts[0].message);
    let snapshot = net.chain.store().snapshot().unwrap();
    assert_eq!(counter(&snapshot, &alice.id).unwrap(), 6);
    let events = snapshot.events_for_account(&alice.id, None, 10).unwrap();
    assert!(matches!(
        events[0].event,
        Event::Toy(salus_types::toy::ToyEvent::Counted { total: 6, .. })
    ));
    assert!(
        salus_state::StateRead::get(&snapshot, &salus_types::toy::counter_key(&alice.id))
            .unwrap()
            .is_some()
    );
}

#[test]
fn the_precheck_cache_is_the_modules_own() {
    let mut alice = User::new(2);
    let net = Net::new(&genesis(&User::new(1), 1_795_305_600_000));
    let tx = alice.tx(vec![count(1), count(1)]);
    let caches = salus_app::ModuleCaches::default();
    let snapshot = net.chain.store().snapshot().unwrap();
    salus_app::precheck(&caches, &snapshot, &tx).unwrap();
    assert_eq!(caches.toy.0.load(Ordering::Relaxed), 2);
}

#[test]
#[should_panic(expected = "escapes module prefix `toy/`")]
fn a_write_outside_the_modules_prefix_fails() {
    let mut alice = User::new(2);
    let net = Net::new(&genesis(&User::new(1), 1_795_305_600_000));
    net.block(&[alice.tx(vec![Action::from(ToyAction::StrayWrite)])]);
}
