//! Committed blocks held in the store's buffer read exactly as they will once
//! flushed, and after a crash the journal gives back every block not flushed.

use proptest::prelude::*;
use salus_crypto::SigningKey;
use salus_state::WriteSet;
use salus_state::{EventCursor, Pending, Snapshot, StateError, StateRead, StateScan, Store};
use salus_types::{
    token::TokenEvent, AccountId, Block, ErrorCode, Event, Hash, Header, Receipt, Tx, TxBody,
};

/// The account every test transfer pays, so that its event history spans blocks.
const SHARED: AccountId = AccountId([7; 20]);

fn transfer_tx(height: u64, index: u64) -> Tx {
    let key = SigningKey::from_seed(&[(height * 16 + index) as u8 + 1; 32]);
    TxBody {
        chain_id: "buffer-test".into(),
        signer: AccountId([(index + 1) as u8; 20]),
        public_key: key.public_key(),
        nonce: height,
        actions: vec![],
    }
    .sign(&key)
}

/// Block `height` of the test chain with `txs` transfers, each to [`SHARED`].
fn build(store: &Store, snapshot: &Snapshot, parent: Hash, writes: WriteSet, txs: u64) -> Built {
    let height = snapshot.height().map_or(0, |h| h + 1);
    let pending = store.prepare(snapshot, &[], height, writes).unwrap();
    let txs: Vec<Tx> = (0..txs).map(|i| transfer_tx(height, i)).collect();
    let receipts = txs
        .iter()
        .enumerate()
        .map(|(index, tx)| Receipt {
            tx_hash: tx.hash(),
            height,
            index: index as u32,
            code: ErrorCode::Ok,
            message: String::new(),
            failed_action: None,
            events: vec![Event::Token(TokenEvent::Transferred {
                from: tx.body.signer,
                to: SHARED,
                amount: u128::from(height),
            })],
        })
        .collect();
    let block = Block {
        header: Header {
            height,
            parent,
            timestamp_ms: 1_000 + height,
            proposer: SigningKey::from_seed(&[1; 32]).public_key(),
            tx_root: Block::tx_root_of(&txs),
            state_root: pending.root,
        },
        txs,
    };
    Built {
        pending,
        block,
        receipts,
    }
}

/// [`build`] on the store's current snapshot.
fn build_next(store: &Store, parent: Hash, writes: WriteSet, txs: u64) -> Built {
    build(store, &store.snapshot().unwrap(), parent, writes, txs)
}

struct Built {
    pending: Pending,
    block: Block,
    receipts: Vec<Receipt>,
}

impl Built {
    fn commit_buffered(&self, store: &Store) {
        store
            .commit_buffered(
                self.pending.clone().into(),
                self.block.clone(),
                self.receipts.clone(),
            )
            .unwrap();
    }
}

fn assert_buffer(store: &Store, flushed: Option<u64>, buffered: usize) {
    assert_eq!(store.flushed_height(), flushed);
    assert_eq!(store.buffered_blocks(), buffered);
}

fn writes(pairs: &[(&str, Option<&str>)]) -> WriteSet {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
        .collect()
}

/// Every read a snapshot offers, as one comparable value; state roots and
/// proofs only at the heights in `kept`.
fn everything(store: &Store, blocks: &[Block], kept: &dyn Fn(u64) -> bool) -> Vec<String> {
    let snapshot = store.snapshot().unwrap();
    let mut seen = vec![format!("height {:?}", snapshot.height())];
    for key in ["a", "b", "c", "p/1", "p/2", "p/3", "p/4", "q"] {
        seen.push(format!(
            "{key} = {:?}",
            snapshot.get(key.as_bytes()).unwrap()
        ));
    }
    for (after, limit) in [(None, 100), (None, 2), (Some("p/1"), 2), (Some("p/3"), 100)] {
        let page = snapshot
            .scan_prefix(b"p/", after.map(str::as_bytes), limit)
            .unwrap();
        seen.push(format!("scan p/ after {after:?} limit {limit}: {page:?}"));
    }
    for block in blocks {
        let height = block.header.height;
        seen.push(format!(
            "block {height}: {:?}",
            snapshot.block(height).unwrap()
        ));
        seen.push(format!(
            "height of {height}: {:?}",
            snapshot.height_of_block(&block.digest()).unwrap()
        ));
        if kept(height) {
            seen.push(format!("root {height}: {:?}", store.root(height).unwrap()));
            seen.push(format!(
                "proof of a at {height}: {:?}",
                store.get_with_proof(b"a", height).unwrap()
            ));
        }
        for (index, tx) in block.txs.iter().enumerate() {
            seen.push(format!(
                "tx {height}/{index}: {:?} {:?}",
                snapshot.tx_location(&tx.hash()).unwrap(),
                snapshot.receipt(height, index as u32).unwrap()
            ));
        }
    }
    // Page through the shared account's events, two at a time.
    let mut before = None;
    loop {
        let page = snapshot.events_for_account(&SHARED, before, 2).unwrap();
        let Some(last) = page.last() else { break };
        before = Some(EventCursor::of(last));
        seen.push(format!("events: {page:?}"));
    }
    seen
}

/// Compares line by line, so that a failure names the read that differs.
fn assert_same_reads(actual: Vec<String>, expected: Vec<String>) {
    for (actual, expected) in actual.iter().zip(&expected) {
        assert_eq!(actual, expected);
    }
    assert_eq!(actual.len(), expected.len());
}

/// Writes that overwrite, delete, and add keys on both sides of flushed ones.
fn chain_writes() -> Vec<WriteSet> {
    vec![
        writes(&[("a", Some("1")), ("p/2", Some("x")), ("p/4", Some("y"))]),
        writes(&[("a", Some("2")), ("p/1", Some("new")), ("b", Some("b"))]),
        writes(&[("p/2", None), ("p/3", Some("mid")), ("q", Some("q"))]),
        writes(&[]),
        writes(&[("p/4", None), ("a", None), ("c", Some("c"))]),
        writes(&[("p/2", Some("back")), ("p/1", None)]),
    ]
}

/// A store that flushed several blocks at once keeps the tree at the newest
/// of each flush and at every buffered height, and refuses the others by name.
fn assert_kept(store: &Store, blocks: &[Block], flush_ends: &[u64]) -> impl Fn(u64) -> bool {
    let flushed = store.flushed_height();
    let ends = flush_ends.to_vec();
    let kept = move |height: u64| ends.contains(&height) || Some(height) > flushed;
    for height in blocks.iter().map(|b| b.header.height) {
        if !kept(height) {
            assert!(matches!(
                store.root(height),
                Err(StateError::NotRetained { height: h }) if h == height
            ));
            assert!(matches!(
                store.get_with_proof(b"a", height),
                Err(StateError::NotRetained { .. })
            ));
        }
    }
    kept
}

/// A store that flushes every block writes a run of index entries per
/// flush and merges them as they pile up; it must read exactly like a store
/// that wrote all the blocks in one flush, hence one run.
#[test]
fn indexes_merged_across_many_flushes_read_like_one_flush() {
    let per_block = Store::in_memory().unwrap();
    let at_once = Store::in_memory().unwrap();
    let mut blocks = Vec::new();
    let mut parent = Hash::ZERO;
    // Enough blocks for merges on two levels of the index runs.
    for height in 0..70u64 {
        let key = format!("p/{}", height % 5);
        let set = writes(&[(key.as_str(), Some("v")), ("a", Some("a"))]);
        let built = build_next(&per_block, parent, set.clone(), height % 4);
        per_block
            .commit(&built.pending, &built.block, &built.receipts)
            .unwrap();
        let again = build_next(&at_once, parent, set, height % 4);
        assert_eq!(again.block, built.block, "same chain on both stores");
        again.commit_buffered(&at_once);
        parent = built.block.digest();
        blocks.push(built.block);
    }
    at_once.flush().unwrap();
    let newest = |height: u64| height == 69;
    assert_same_reads(
        everything(&per_block, &blocks, &newest),
        everything(&at_once, &blocks, &newest),
    );
}

#[test]
fn buffered_blocks_read_as_they_will_once_flushed() {
    let reference = Store::in_memory().unwrap();
    let buffered = Store::in_memory().unwrap();
    let mut blocks = Vec::new();
    let mut flush_ends = Vec::new();
    let mut parent = Hash::ZERO;
    for (height, set) in chain_writes().into_iter().enumerate() {
        let built = build_next(&reference, parent, set.clone(), height as u64 % 3 + 1);
        reference
            .commit(&built.pending, &built.block, &built.receipts)
            .unwrap();
        let again = build_next(&buffered, parent, set, height as u64 % 3 + 1);
        assert_eq!(again.block, built.block, "same chain on both stores");
        again.commit_buffered(&buffered);
        parent = built.block.digest();
        blocks.push(built.block);
        // Half the time the buffer holds several blocks over a flushed prefix.
        if height == 2 {
            buffered.flush().unwrap();
            flush_ends.push(2);
            assert_buffer(&buffered, Some(2), 0);
        }
        let kept = assert_kept(&buffered, &blocks, &flush_ends);
        assert_same_reads(
            everything(&buffered, &blocks, &kept),
            everything(&reference, &blocks, &kept),
        );
    }
    assert_buffer(&buffered, Some(2), 3);
    assert_eq!(buffered.committed_height().unwrap(), Some(5));
    buffered.flush().unwrap();
    flush_ends.push(5);
    assert_buffer(&buffered, Some(5), 0);
    let kept = assert_kept(&buffered, &blocks, &flush_ends);
    assert!(!kept(0) && !kept(4), "heights inside a flush are not kept");
    assert_same_reads(
        everything(&buffered, &blocks, &kept),
        everything(&reference, &blocks, &kept),
    );
}

#[test]
fn after_a_crash_the_journal_holds_every_block_not_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let mut built = Vec::new();
    {
        let store = Store::open(&path).unwrap();
        let mut parent = Hash::ZERO;
        for set in chain_writes().into_iter().take(4) {
            let next = build(&store, &store.snapshot().unwrap(), parent, set, 2);
            parent = next.block.digest();
            next.commit_buffered(&store);
            built.push(next);
            if built.len() == 2 {
                store.flush().unwrap();
                assert!(store.journaled_blocks().unwrap().is_empty());
            }
        }
        assert_eq!(store.snapshot().unwrap().height(), Some(3));
        // Dropped without a flush: heights 2 and 3 are only in the journal.
    }
    let store = Store::open(&path).unwrap();
    assert_buffer(&store, Some(1), 0);
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.height(), Some(1));
    assert_eq!(snapshot.get(b"a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(snapshot.block(2).unwrap(), None);
    assert_eq!(
        snapshot.tx_location(&built[2].block.txs[0].hash()).unwrap(),
        None
    );
    drop(snapshot);
    let journaled = store.journaled_blocks().unwrap();
    let lost: Vec<Block> = built[2..].iter().map(|b| b.block.clone()).collect();
    assert_eq!(journaled, lost);
    // Executed again, the journaled blocks commit on top of what was flushed.
    for again in &built[2..] {
        again.commit_buffered(&store);
    }
    assert!(store.journaled_blocks().unwrap().is_empty(), "all replayed");
    store.flush().unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert!(store.journaled_blocks().unwrap().is_empty(), "flushed");
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.height(), Some(3));
    assert_eq!(store.root(3).unwrap(), built[3].pending.root);
    assert_eq!(snapshot.get(b"q").unwrap(), Some(b"q".to_vec()));
}

#[test]
fn a_journal_that_does_not_continue_the_tables_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        let store = Store::open(&path).unwrap();
        let mut parent = Hash::ZERO;
        for (height, set) in chain_writes().into_iter().take(4).enumerate() {
            let next = build(&store, &store.snapshot().unwrap(), parent, set, 1);
            parent = next.block.digest();
            next.commit_buffered(&store);
            if height == 1 {
                store.flush().unwrap();
            }
        }
    }
    // The state file goes back to before the journal's first block.
    std::fs::remove_file(&path).unwrap();
    match Store::open(&path) {
        Err(StateError::Corrupt(message)) => {
            assert!(message.contains("journal holds block 2"), "{message}")
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a journal that skips blocks 0 and 1 was accepted"),
    }
}

#[test]
fn buffered_blocks_must_follow_the_newest_and_a_discard_forgets_them() {
    let store = Store::in_memory().unwrap();
    let sets = chain_writes();
    let first = build(
        &store,
        &store.snapshot().unwrap(),
        Hash::ZERO,
        sets[0].clone(),
        1,
    );
    let skipped = store
        .prepare(
            &store.snapshot().unwrap(),
            &[&first.pending],
            1,
            sets[1].clone(),
        )
        .unwrap();
    let orphan = Block {
        header: Header {
            height: 1,
            state_root: skipped.root,
            ..first.block.header.clone()
        },
        txs: vec![],
    };
    assert!(matches!(
        store.commit_buffered(skipped.clone().into(), orphan.clone(), vec![]),
        Err(StateError::OutOfOrder {
            actual: 1,
            expected_parent: None
        })
    ));
    store
        .commit_buffered(first.pending.into(), first.block, first.receipts)
        .unwrap();
    store
        .commit_buffered(skipped.into(), orphan, vec![])
        .unwrap();
    assert_eq!(store.committed_height().unwrap(), Some(1));
    store.discard_buffered();
    assert_eq!(store.journaled_blocks().unwrap().len(), 2);
    assert_eq!(store.committed_height().unwrap(), None);
    assert_eq!(store.snapshot().unwrap().height(), None);
    assert_eq!(store.snapshot().unwrap().get(b"a").unwrap(), None);
    // Nothing buffered: a flush writes nothing, and the journal keeps both.
    store.flush().unwrap();
    assert_eq!(store.flushed_height(), None);
    assert_eq!(store.journaled_blocks().unwrap().len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Prefix scans over any mix of buffered and flushed writes list what the
    /// same writes give once all are flushed.
    #[test]
    fn scans_merge_the_buffer_with_the_tables(
        sets in prop::collection::vec(
            prop::collection::btree_map(
                prop::sample::select(vec!["p/a", "p/b", "p/c", "p/d", "p/e", "pz", "o"]),
                prop::option::of(prop::sample::select(vec!["1", "2", "3"])),
                0..5,
            ),
            1..6,
        ),
        flush_after in 0usize..6,
        limit in 1usize..6,
        after in prop::option::of(prop::sample::select(vec!["p/", "p/b", "p/c", "p/e"])),
    ) {
        let reference = Store::in_memory().unwrap();
        let buffered = Store::in_memory().unwrap();
        let mut parent = Hash::ZERO;
        for (index, set) in sets.iter().enumerate() {
            let set: WriteSet = set
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
                .collect();
            let built = build(&reference, &reference.snapshot().unwrap(), parent, set.clone(), 0);
            reference.commit(&built.pending, &built.block, &built.receipts).unwrap();
            let again = build(&buffered, &buffered.snapshot().unwrap(), parent, set, 0);
            buffered.commit_buffered(again.pending.into(), again.block, again.receipts).unwrap();
            parent = built.block.digest();
            if index == flush_after {
                buffered.flush().unwrap();
            }
        }
        let after = after.map(str::as_bytes);
        let expected = reference.snapshot().unwrap().scan_prefix(b"p/", after, limit).unwrap();
        let actual = buffered.snapshot().unwrap().scan_prefix(b"p/", after, limit).unwrap();
        prop_assert_eq!(actual, expected);
    }

    /// Flushing blocks in groups writes only the tree each group ends with;
    /// that must be every node a later block or proof needs. At every kept
    /// height, roots and proofs of every key (present or absent) equal a
    /// store that flushed block by block, and so do the blocks built on top.
    #[test]
    fn group_flushes_keep_all_a_later_block_needs(
        sets in prop::collection::vec(
            prop::collection::btree_map(
                prop::collection::vec(0u8..12, 1..3),
                prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..3)),
                0..12,
            ),
            2..14,
        ),
        flushes in prop::collection::vec(any::<bool>(), 14),
        keep_every in 0u64..5,
    ) {
        let reference = Store::in_memory().unwrap();
        let grouped = Store::in_memory().unwrap();
        // Heights that end an "epoch" stay kept, whatever the grouping.
        grouped.keep_every(keep_every);
        let mut parent = Hash::ZERO;
        let mut kept = Vec::new();
        let keys: Vec<Vec<u8>> = sets.iter().flat_map(|s| s.keys().cloned()).collect();
        for (height, set) in sets.into_iter().enumerate() {
            let set: WriteSet = set.into_iter().collect();
            let built = build(&reference, &reference.snapshot().unwrap(), parent, set.clone(), 0);
            reference.commit(&built.pending, &built.block, &built.receipts).unwrap();
            let again = build(&grouped, &grouped.snapshot().unwrap(), parent, set, 0);
            prop_assert_eq!(again.pending.root, built.pending.root);
            grouped.commit_buffered(again.pending.into(), again.block, again.receipts).unwrap();
            parent = built.block.digest();
            if flushes[height] {
                grouped.flush().unwrap();
                kept.push(height as u64);
            }
        }
        // Everything flushed, one more block over every key, half deleted.
        grouped.flush().unwrap();
        kept.push(grouped.flushed_height().unwrap());
        let last: WriteSet = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), (i % 2 == 0).then(|| vec![9])))
            .collect();
        let built = build(&reference, &reference.snapshot().unwrap(), parent, last.clone(), 0);
        let again = build(&grouped, &grouped.snapshot().unwrap(), parent, last, 0);
        prop_assert_eq!(again.pending.root, built.pending.root);
        let tip = grouped.committed_height().unwrap().unwrap();
        for key in &keys {
            let (height, value, proof) = grouped.get_latest_with_proof(key).unwrap();
            prop_assert_eq!(height, tip);
            prop_assert_eq!((value, proof), reference.get_with_proof(key, tip).unwrap());
        }
        for height in 0..=tip {
            let flushed = grouped.flushed_height();
            let epoch_end = keep_every > 0 && (height + 1) % keep_every == 0;
            if !kept.contains(&height) && !epoch_end && Some(height) <= flushed {
                let refused = matches!(
                    grouped.root(height),
                    Err(StateError::NotRetained { .. })
                );
                prop_assert!(refused, "height {} is not kept", height);
                continue;
            }
            prop_assert_eq!(grouped.root(height).unwrap(), reference.root(height).unwrap());
            for key in &keys {
                prop_assert_eq!(
                    grouped.get_with_proof(key, height).unwrap(),
                    reference.get_with_proof(key, height).unwrap()
                );
            }
        }
    }
}
