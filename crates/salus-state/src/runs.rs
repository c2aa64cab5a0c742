//! Indexes keyed at random (a transaction's hash, an account), written as
//! sorted runs that a flush appends and a later flush merges.
//!
//! Inserting a flush's entries one by one into a B-tree keyed at random
//! touches one page per entry once the tree outgrows the flush, and redb
//! copies every page a transaction touches: a flush of 12,800 transactions
//! rewrote most of the transaction-hash index each time, and at half load
//! those writes were the largest single cost on the path to finality. Here
//! every entry's key starts with its run's first height (big-endian), so a
//! flush's run lands at the right edge of the tree, on fresh pages.
//!
//! Readers probe every run. So that the runs stay few, whenever the newest
//! [`RUN_FANOUT`] runs share a level they are merged into one run of the
//! next level (a size-tiered LSM tree): an entry is rewritten once per level
//! rather than once per flush. A merge that would pass [`MAX_RUN_ENTRIES`]
//! seals its runs instead, so no single flush rewrites more than that.
//!
//! Runs cover disjoint, increasing height ranges, which is what lets a reader
//! walk them newest first and get entries in height order. Each run's entries
//! must come from the blocks in its range, and a key may appear in one run
//! only (ours hold a height or a transaction hash, final once).

use std::ops::Bound;

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use crate::StateError;

/// How many runs of one level are merged into one of the next.
pub(crate) const RUN_FANOUT: usize = 16;
/// The most entries a merge writes. Runs that would pass it are sealed: a
/// merge is written in one flush, which must stay bounded.
pub(crate) const MAX_RUN_ENTRIES: u64 = 1 << 20;
/// The level of a run that is never merged again.
const SEALED: u32 = u32::MAX;
/// Entries moved per read of the run being merged away: bounds the memory a
/// merge holds.
const MERGE_CHUNK: usize = 4096;

/// A run in the directory: its heights, level and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) level: u32,
    pub(crate) entries: u64,
}

/// One index: a data table (run's first height ‖ key → value) and a
/// directory of its runs (first height → last height, level, entries).
pub(crate) struct RunIndex {
    data: TableDefinition<'static, &'static [u8], &'static [u8]>,
    directory: TableDefinition<'static, u64, (u64, u32, u64)>,
}

fn prefixed(first: u64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(key);
    out
}

impl RunIndex {
    pub(crate) const fn new(data: &'static str, directory: &'static str) -> RunIndex {
        RunIndex {
            data: TableDefinition::new(data),
            directory: TableDefinition::new(directory),
        }
    }

    pub(crate) fn create(&self, txn: &WriteTransaction) -> Result<(), StateError> {
        txn.open_table(self.data)?;
        txn.open_table(self.directory)?;
        Ok(())
    }

    /// Writes the entries of blocks `first..=last` as one run, then merges
    /// runs as the policy above says. `entries` must be sorted by key,
    /// without repeats, and every run so far must end below `first`.
    pub(crate) fn append<'k>(
        &self,
        txn: &WriteTransaction,
        first: u64,
        last: u64,
        entries: impl IntoIterator<Item = (&'k [u8], &'k [u8])>,
    ) -> Result<(), StateError> {
        assert!(first <= last, "a run covers at least one height");
        let mut directory = txn.open_table(self.directory)?;
        if let Some((newest, run)) = directory.last()? {
            assert!(
                run.value().0 < first,
                "run {}..={} must follow run {}..={}",
                first,
                last,
                newest.value(),
                run.value().0
            );
        }
        let mut data = txn.open_table(self.data)?;
        let mut count = 0u64;
        let mut previous: Option<&[u8]> = None;
        for (key, value) in entries {
            assert!(previous < Some(key), "a run's keys are sorted and unique");
            previous = Some(key);
            data.insert(prefixed(first, key).as_slice(), value)?;
            count += 1;
        }
        if count == 0 {
            return Ok(());
        }
        directory.insert(first, (last, 0, count))?;
        drop((data, directory));
        while self.merge_newest(txn)? {}
        Ok(())
    }

    /// Merges the newest [`RUN_FANOUT`] runs if they share a level (or seals
    /// them, if the merge would be too large); whether anything changed.
    fn merge_newest(&self, txn: &WriteTransaction) -> Result<bool, StateError> {
        let newest = self.newest_runs(txn, RUN_FANOUT)?;
        let Some(oldest) = newest.first().copied() else {
            return Ok(false);
        };
        if newest.len() < RUN_FANOUT
            || oldest.level == SEALED
            || newest.iter().any(|run| run.level != oldest.level)
        {
            return Ok(false);
        }
        let entries: u64 = newest.iter().map(|run| run.entries).sum();
        let mut directory = txn.open_table(self.directory)?;
        if entries > MAX_RUN_ENTRIES {
            for run in &newest {
                directory.insert(run.first, (run.last, SEALED, run.entries))?;
            }
            return Ok(true);
        }
        let mut data = txn.open_table(self.data)?;
        // Everything after the oldest run's entries belongs to the runs being
        // merged into it: move it under the oldest run's prefix.
        let start = prefixed(newest[1].first, &[]);
        loop {
            let chunk = data
                .range::<&[u8]>(start.as_slice()..)?
                .take(MERGE_CHUNK)
                .map(|entry| {
                    let (key, value) = entry?;
                    Ok((key.value().to_vec(), value.value().to_vec()))
                })
                .collect::<Result<Vec<_>, StateError>>()?;
            if chunk.is_empty() {
                break;
            }
            for (key, value) in chunk {
                data.remove(key.as_slice())?;
                let moved = prefixed(oldest.first, &key[8..]);
                let replaced = data.insert(moved.as_slice(), value.as_slice())?;
                assert!(replaced.is_none(), "an index's keys are unique across runs");
            }
        }
        for run in &newest[1..] {
            directory.remove(run.first)?;
        }
        let last = newest.last().expect("RUN_FANOUT runs").last;
        directory.insert(oldest.first, (last, oldest.level + 1, entries))?;
        Ok(true)
    }

    /// The newest `count` runs (fewer if there are not as many), oldest first.
    fn newest_runs(&self, txn: &WriteTransaction, count: usize) -> Result<Vec<Run>, StateError> {
        let mut runs = newest_first(&txn.open_table(self.directory)?, count)?;
        runs.reverse();
        Ok(runs)
    }

    /// A reader over the runs as of `txn`.
    pub(crate) fn reader(&self, txn: &ReadTransaction) -> Result<RunReader, StateError> {
        Ok(RunReader {
            newest_first: newest_first(&txn.open_table(self.directory)?, usize::MAX)?,
            data: txn.open_table(self.data)?,
        })
    }

    /// Moves a store's older single-table index into one run covering
    /// heights up to `newest`, and deletes the table. `read` lists its
    /// entries in key order.
    pub(crate) fn adopt<V: redb::Value + 'static>(
        &self,
        txn: &WriteTransaction,
        old: TableDefinition<&'static [u8], V>,
        newest: Option<u64>,
        read: impl Fn(V::SelfType<'_>) -> Vec<u8>,
    ) -> Result<(), StateError> {
        use redb::TableHandle as _;
        if !txn.list_tables()?.any(|table| table.name() == old.name()) {
            return Ok(());
        }
        let entries = txn
            .open_table(old)?
            .iter()?
            .map(|entry| {
                let (key, value) = entry?;
                Ok((key.value().to_vec(), read(value.value())))
            })
            .collect::<Result<Vec<_>, StateError>>()?;
        // Without a block there is nothing an index could point at.
        if let Some(newest) = newest {
            let entries = entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice()));
            self.append(txn, 0, newest, entries)?;
        }
        txn.delete_table(old)?;
        Ok(())
    }
}

/// Up to `count` runs of a directory, newest first.
fn newest_first(
    directory: &impl ReadableTable<u64, (u64, u32, u64)>,
    count: usize,
) -> Result<Vec<Run>, StateError> {
    directory
        .iter()?
        .rev()
        .take(count)
        .map(|entry| {
            let (first, run) = entry?;
            let (last, level, entries) = run.value();
            Ok(Run {
                first: first.value(),
                last,
                level,
                entries,
            })
        })
        .collect()
}

/// Reads of one index, newest run first.
pub(crate) struct RunReader {
    data: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    newest_first: Vec<Run>,
}

/// An entry as stored, without its run's prefix.
pub(crate) type RunEntry = (Vec<u8>, Vec<u8>);

impl RunReader {
    /// The value of `key` in the newest run that holds it.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        for run in &self.newest_first {
            if let Some(value) = self.data.get(prefixed(run.first, key).as_slice())? {
                return Ok(Some(value.value().to_vec()));
            }
        }
        Ok(None)
    }

    /// The entries with keys from `low` to `high`, newest run first and
    /// each run's entries in descending key order, read lazily.
    pub(crate) fn descending(
        &self,
        low: &[u8],
        high: Bound<&[u8]>,
    ) -> impl Iterator<Item = Result<RunEntry, StateError>> + '_ {
        let low = low.to_vec();
        let high = high.map(<[u8]>::to_vec);
        self.newest_first.iter().flat_map(move |run| {
            let from = prefixed(run.first, &low);
            let to = match &high {
                Bound::Included(key) => Bound::Included(prefixed(run.first, key)),
                Bound::Excluded(key) => Bound::Excluded(prefixed(run.first, key)),
                // The next run's prefix, or past every key of this one.
                Bound::Unbounded => match run.first.checked_add(1) {
                    Some(next) => Bound::Excluded(next.to_be_bytes().to_vec()),
                    None => Bound::Unbounded,
                },
            };
            let range = self.data.range::<&[u8]>((
                Bound::Included(from.as_slice()),
                to.as_ref().map(Vec::as_slice),
            ));
            let entries: Box<dyn Iterator<Item = Result<RunEntry, StateError>>> = match range {
                Ok(range) => Box::new(range.rev().map(|entry| {
                    let (key, value) = entry?;
                    Ok((key.value()[8..].to_vec(), value.value().to_vec()))
                })),
                Err(error) => Box::new(std::iter::once(Err(error.into()))),
            };
            entries
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use redb::{Database, ReadableDatabase};

    use super::*;

    const INDEX: RunIndex = RunIndex::new("test_runs", "test_run_directory");

    fn memory() -> Database {
        Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap()
    }

    /// Appends one run per batch, each batch one height, in one transaction
    /// each (as flushes do).
    fn write(db: &Database, batches: &[BTreeMap<Vec<u8>, Vec<u8>>], from: u64) {
        let txn = db.begin_write().unwrap();
        INDEX.create(&txn).unwrap();
        txn.commit().unwrap();
        for (offset, batch) in batches.iter().enumerate() {
            let height = from + offset as u64;
            let txn = db.begin_write().unwrap();
            INDEX.create(&txn).unwrap();
            INDEX
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
        write(&db, &batches, 10);
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
    fn runs_too_large_to_merge_are_sealed() {
        let db = memory();
        let per_run = MAX_RUN_ENTRIES / (RUN_FANOUT as u64 - 1) + 1;
        let txn = db.begin_write().unwrap();
        INDEX.create(&txn).unwrap();
        {
            // Fake directory sizes: writing a million entries is not needed
            // to check the policy.
            let mut directory = txn.open_table(INDEX.directory).unwrap();
            for height in 0..RUN_FANOUT as u64 - 1 {
                directory.insert(height, (height, 0, per_run)).unwrap();
            }
        }
        INDEX
            .append(&txn, 100, 100, [(&b"k"[..], &b"v"[..])])
            .unwrap();
        txn.commit().unwrap();
        let runs = runs(&db);
        assert_eq!(runs.len(), RUN_FANOUT);
        assert!(runs.iter().all(|run| run.level == SEALED));
    }

    #[test]
    fn an_empty_batch_adds_no_run() {
        let db = memory();
        write(&db, &[BTreeMap::new()], 0);
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
            let db = memory();
            write(&db, &batches, 1);
            let reader = INDEX.reader(&db.begin_read().unwrap()).unwrap();
            let mut all: Vec<RunEntry> = batches
                .iter()
                .flat_map(|b| b.iter().map(|(k, v)| (k.clone(), v.clone())))
                .collect();
            for (key, value) in &all {
                prop_assert_eq!(reader.get(key).unwrap(), Some(value.clone()));
            }
            prop_assert_eq!(reader.get(&[0]).unwrap(), None);
            prop_assert!(reader.newest_first.len() < RUN_FANOUT * 2);
            let scanned: Vec<RunEntry> = reader
                .descending(&[], Bound::Unbounded)
                .collect::<Result<_, _>>()
                .unwrap();
            all.reverse();
            prop_assert_eq!(&scanned, &all);
            // A bounded scan: the entries of heights 3 to 5 alone.
            let bounded: Vec<RunEntry> = reader
                .descending(&[3], Bound::Excluded(&[6][..]))
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
