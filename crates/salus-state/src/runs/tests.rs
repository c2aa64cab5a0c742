use std::collections::BTreeMap;

use proptest::prelude::*;
use redb::{Database, ReadableDatabase};

use super::*;

const INDEX: RunIndex = RunIndex::new("test_runs", "test_run_directory");
/// The same tables with a maximum small enough for tests to pass it.
const SMALL: RunIndex = RunIndex::new("test_runs", "test_run_directory").with_max_entries(40);

fn memory() -> Database {
    crate::store::memory_database().unwrap()
}

/// Appends one run per batch, each batch one height, in one transaction
/// each (as flushes do).
fn write(db: &Database, index: &RunIndex, batches: &[BTreeMap<Vec<u8>, Vec<u8>>], from: u64) {
    let txn = db.begin_write().unwrap();
    index.create(&txn).unwrap();
    txn.commit().unwrap();
    for (offset, batch) in batches.iter().enumerate() {
        let height = from + offset as u64;
        let txn = db.begin_write().unwrap();
        index
            .append(
                &txn,
                height,
                height,
                batch.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
            )
            .unwrap();
        txn.commit().unwrap();
    }
}

/// The directory agrees with the data: runs are disjoint and in order,
/// and each holds as many entries as it says. Gives how many are sealed.
fn check_directory(db: &Database, index: &RunIndex) -> usize {
    let txn = db.begin_read().unwrap();
    let reader = index.reader(&txn).unwrap();
    let data = txn.open_table(index.data).unwrap();
    let mut runs = reader.newest_first.clone();
    runs.reverse();
    for pair in runs.windows(2) {
        assert!(pair[0].first <= pair[0].last && pair[0].last < pair[1].first);
    }
    for run in &runs {
        let from = run.first.to_be_bytes();
        let to = (run.first + 1).to_be_bytes();
        let stored = data.range::<&[u8]>(&from[..]..&to[..]).unwrap().count() as u64;
        assert_eq!(stored, run.entries, "run {run:?}");
    }
    runs.iter().filter(|run| run.level == SEALED).count()
}

fn runs(db: &Database) -> Vec<Run> {
    let mut runs = INDEX
        .reader(&db.begin_read().unwrap())
        .unwrap()
        .newest_first;
    runs.reverse();
    runs
}

#[test]
fn the_newest_runs_of_one_level_merge_into_one_run_of_the_next() {
    let db = memory();
    let batch = |i: u8| BTreeMap::from([(vec![i], vec![i])]);
    let batches: Vec<_> = (0..RUN_FANOUT as u8 * 2 + 1).map(batch).collect();
    write(&db, &INDEX, &batches, 10);
    let runs = runs(&db);
    // Two merged runs of RUN_FANOUT heights each, then the newest alone.
    let fanout = RUN_FANOUT as u64;
    assert_eq!(
        runs,
        vec![
            Run {
                first: 10,
                last: 9 + fanout,
                level: 1,
                entries: fanout
            },
            Run {
                first: 10 + fanout,
                last: 9 + 2 * fanout,
                level: 1,
                entries: fanout
            },
            Run {
                first: 10 + 2 * fanout,
                last: 10 + 2 * fanout,
                level: 0,
                entries: 1
            },
        ]
    );
    let reader = INDEX.reader(&db.begin_read().unwrap()).unwrap();
    for i in 0..batches.len() as u8 {
        assert_eq!(reader.get(&[i]).unwrap(), Some(vec![i]));
    }
    assert_eq!(reader.get(&[200]).unwrap(), None);
}

#[test]
fn a_merge_past_the_maximum_takes_the_oldest_runs_that_fit_and_seals_them() {
    let db = memory();
    let fanout = RUN_FANOUT as u64;
    let per_run = MAX_RUN_ENTRIES / (fanout - 1) + 1;
    let txn = db.begin_write().unwrap();
    INDEX.create(&txn).unwrap();
    {
        // Fake directory sizes: writing a million entries is not needed
        // to check the policy.
        let mut directory = txn.open_table(INDEX.directory).unwrap();
        for height in 0..fanout - 1 {
            directory.insert(height, (height, 0, per_run)).unwrap();
        }
    }
    INDEX
        .append(&txn, 100, 100, [(&b"k"[..], &b"v"[..])])
        .unwrap();
    txn.commit().unwrap();
    let fit = MAX_RUN_ENTRIES / per_run;
    assert_eq!(
        runs(&db),
        vec![
            Run {
                first: 0,
                last: fit - 1,
                level: SEALED,
                entries: fit * per_run
            },
            Run {
                first: fit,
                last: fit,
                level: 0,
                entries: per_run
            },
            Run {
                first: 100,
                last: 100,
                level: 0,
                entries: 1
            },
        ]
    );
}

#[test]
fn sealed_runs_hold_their_entries_and_stay_readable() {
    let db = memory();
    // RUN_FANOUT runs of 3 entries pass SMALL's maximum of 40.
    let batches: Vec<BTreeMap<Vec<u8>, Vec<u8>>> = (0..RUN_FANOUT as u8 + 3)
        .map(|i| (0..3u8).map(|j| (vec![i, j], vec![j])).collect())
        .collect();
    write(&db, &SMALL, &batches, 1);
    assert_eq!(check_directory(&db, &SMALL), 1);
    let reader = SMALL.reader(&db.begin_read().unwrap()).unwrap();
    for batch in &batches {
        for (key, value) in batch {
            assert_eq!(reader.get(key).unwrap().as_ref(), Some(value));
        }
    }
}

#[test]
fn an_old_table_is_adopted_as_one_sealed_run_and_refused_beside_runs() {
    const OLD: TableDefinition<&[u8], &[u8]> = TableDefinition::new("test_old_index");
    let fill = |db: &Database| {
        let txn = db.begin_write().unwrap();
        INDEX.create(&txn).unwrap();
        let mut old = txn.open_table(OLD).unwrap();
        old.insert(&b"a"[..], &b"1"[..]).unwrap();
        old.insert(&b"b"[..], &b"2"[..]).unwrap();
        drop(old);
        txn.commit().unwrap();
    };
    let adopt = |db: &Database, newest| {
        let txn = db.begin_write().unwrap();
        let result = INDEX.adopt(&txn, OLD, newest, <[u8]>::to_vec);
        // A store that fails to open commits nothing.
        if result.is_ok() {
            txn.commit().unwrap();
        }
        result
    };
    let db = memory();
    fill(&db);
    // No block for the entries to point at.
    assert!(matches!(adopt(&db, None), Err(StateError::Corrupt(_))));
    adopt(&db, Some(7)).unwrap();
    let expected = Run {
        first: 0,
        last: 7,
        level: SEALED,
        entries: 2,
    };
    assert_eq!(runs(&db), vec![expected]);
    assert_eq!(check_directory(&db, &INDEX), 1);
    let reader = INDEX.reader(&db.begin_read().unwrap()).unwrap();
    assert_eq!(reader.get(b"b").unwrap(), Some(b"2".to_vec()));
    // The old table again beside the runs (an older binary wrote it).
    fill(&db);
    assert!(matches!(adopt(&db, Some(9)), Err(StateError::Corrupt(_))));
    assert_eq!(runs(&db), vec![expected]);
}

#[test]
fn an_empty_batch_adds_no_run() {
    let db = memory();
    write(&db, &INDEX, &[BTreeMap::new()], 0);
    assert!(runs(&db).is_empty());
}

proptest! {
    /// Whatever the merges did, a reader finds every entry written, and
    /// a descending scan returns them all in descending key order when
    /// keys lead with their height (as the event index's do per account).
    #[test]
    fn reads_see_every_entry_through_merges(
        batches in prop::collection::vec(
            prop::collection::btree_map(
                prop::collection::vec(0u8..6, 0..3),
                prop::collection::vec(any::<u8>(), 0..3),
                0..6,
            ),
            0..40,
        )
    ) {
        // Keys unique across runs: each leads with its batch's height.
        let batches: Vec<BTreeMap<Vec<u8>, Vec<u8>>> = batches
            .into_iter()
            .enumerate()
            .map(|(i, batch)| {
                batch
                    .into_iter()
                    .map(|(key, value)| ([vec![i as u8 + 1], key].concat(), value))
                    .collect()
            })
            .collect();
        // With the real maximum, and with one small enough to seal runs.
        for index in [&INDEX, &SMALL] {
            let db = memory();
            write(&db, index, &batches, 1);
            check_directory(&db, index);
            let reader = index.reader(&db.begin_read().unwrap()).unwrap();
            let mut all: Vec<RunEntry> = batches
                .iter()
                .flat_map(|b| b.iter().map(|(k, v)| (k.clone(), v.clone())))
                .collect();
            for (key, value) in &all {
                prop_assert_eq!(reader.get(key).unwrap(), Some(value.clone()));
            }
            prop_assert_eq!(reader.get(&[0]).unwrap(), None);
            if index.max_entries == MAX_RUN_ENTRIES {
                prop_assert!(reader.newest_first.len() < RUN_FANOUT * 2);
            }
            let scanned: Vec<RunEntry> = reader
                .descending(None, &[], Bound::Unbounded)
                .collect::<Result<_, _>>()
                .unwrap();
            all.reverse();
            prop_assert_eq!(&scanned, &all);
            // A bounded scan: the entries of heights 3 to 5 alone.
            let bounded: Vec<RunEntry> = reader
                .descending(None, &[3], Bound::Excluded(&[6][..]))
                .collect::<Result<_, _>>()
                .unwrap();
            let expected: Vec<RunEntry> = all
                .iter()
                .filter(|(key, _)| (3..6).contains(&key[0]))
                .cloned()
                .collect();
            prop_assert_eq!(bounded, expected);
        }
    }
}
