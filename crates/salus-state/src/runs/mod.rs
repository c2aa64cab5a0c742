//! Indexes keyed at random (a transaction's hash, an account), written as
//! sorted runs that a flush appends and a later flush merges.
//!
//! Inserting a flush's entries one by one into a B-tree keyed at random
//! touches one page per entry once the tree outgrows the flush, and redb
//! copies every page a transaction touches, so each flush rewrote most of
//! these indexes (see `docs/decisions/randomly-keyed-indexes-as-sorted-runs.md`). Here
//! every entry's key starts with its run's first height (big-endian), so a
//! flush's run lands at the right edge of the tree, on fresh pages.
//!
//! Readers probe every run. So that the runs stay few, whenever the newest
//! [`RUN_FANOUT`] runs share a level they are merged into one run of the
//! next level (a size-tiered LSM tree): an entry is rewritten once per level
//! rather than once per flush. A merge that would pass [`MAX_RUN_ENTRIES`]
//! takes only the oldest of those runs that fit and seals the result, so no
//! single flush rewrites more than that, and sealed runs hold close to the
//! maximum each. Sealed runs are never merged again: a lookup costs one seek
//! per sealed run, about one per million entries ever written (the decision
//! record says what would lift that).
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
    /// [`MAX_RUN_ENTRIES`], but for tests.
    max_entries: u64,
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
            max_entries: MAX_RUN_ENTRIES,
        }
    }

    #[cfg(test)]
    const fn with_max_entries(mut self, max_entries: u64) -> RunIndex {
        self.max_entries = max_entries;
        self
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

    /// Merges the newest [`RUN_FANOUT`] runs if they share a level; whether
    /// anything changed. A merge past [`MAX_RUN_ENTRIES`] takes only as many
    /// of them, oldest first, as fit, and seals the result: sealed runs hold
    /// close to the maximum, so a long chain has few of them.
    fn merge_newest(&self, txn: &WriteTransaction) -> Result<bool, StateError> {
        let group = self.newest_runs(txn, RUN_FANOUT)?;
        let Some(oldest) = group.first().copied() else {
            return Ok(false);
        };
        if group.len() < RUN_FANOUT
            || oldest.level == SEALED
            || group.iter().any(|run| run.level != oldest.level)
        {
            return Ok(false);
        }
        let total: u64 = group.iter().map(|run| run.entries).sum();
        if total <= self.max_entries {
            self.merge(txn, &group, None, oldest.level + 1)?;
            return Ok(true);
        }
        let mut fits = 0;
        let mut sum = 0;
        for run in &group {
            if sum + run.entries > self.max_entries {
                break;
            }
            sum += run.entries;
            fits += 1;
        }
        let fits = fits.max(1);
        self.merge(txn, &group[..fits], Some(group[fits].first), SEALED)?;
        Ok(true)
    }

    /// Moves the entries of `runs[1..]` (consecutive, oldest first, with
    /// `next` the first height of the run after them, if any) under the
    /// prefix of `runs[0]`, which becomes one run of `level`.
    fn merge(
        &self,
        txn: &WriteTransaction,
        runs: &[Run],
        next: Option<u64>,
        level: u32,
    ) -> Result<(), StateError> {
        let (oldest, newest) = match runs {
            [oldest, .., newest] => (*oldest, *newest),
            [only] => (*only, *only),
            [] => unreachable!("a merge takes at least one run"),
        };
        let mut data = txn.open_table(self.data)?;
        if let Some(second) = runs.get(1) {
            let start = prefixed(second.first, &[]);
            let end = next.map(|n| prefixed(n, &[]));
            loop {
                let upper = match &end {
                    Some(end) => Bound::Excluded(end.as_slice()),
                    None => Bound::Unbounded,
                };
                let chunk = data
                    .range::<&[u8]>((Bound::Included(start.as_slice()), upper))?
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
        }
        let mut directory = txn.open_table(self.directory)?;
        for run in &runs[1..] {
            directory.remove(run.first)?;
        }
        let entries = runs.iter().map(|run| run.entries).sum();
        directory.insert(oldest.first, (newest.last, level, entries))?;
        Ok(())
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

    /// Moves a store's older single-table index into one sealed run covering
    /// heights up to `newest`, and deletes the table. `read` converts a
    /// value. Entries are copied one by one, so a large index needs no more
    /// memory than a small one.
    pub(crate) fn adopt<V: redb::Value + 'static>(
        &self,
        txn: &WriteTransaction,
        old: TableDefinition<&'static [u8], V>,
        newest: Option<u64>,
        read: impl Fn(V::SelfType<'_>) -> Vec<u8>,
    ) -> Result<(), StateError> {
        use redb::{ReadableTableMetadata as _, TableHandle as _};
        if !txn.list_tables()?.any(|table| table.name() == old.name()) {
            return Ok(());
        }
        let mut directory = txn.open_table(self.directory)?;
        if !directory.is_empty()? {
            // Say, an older binary ran on this store after it was moved.
            return Err(StateError::Corrupt(format!(
                "the store holds both the table {} and runs of the index that replaced it",
                old.name()
            )));
        }
        let mut count = 0u64;
        {
            let old_table = txn.open_table(old)?;
            let mut data = txn.open_table(self.data)?;
            for entry in old_table.iter()? {
                let (key, value) = entry?;
                data.insert(
                    prefixed(0, key.value()).as_slice(),
                    read(value.value()).as_slice(),
                )?;
                count += 1;
            }
        }
        match (count, newest) {
            (0, _) => {}
            (_, Some(newest)) => {
                directory.insert(0, (newest, SEALED, count))?;
            }
            (_, None) => {
                return Err(StateError::Corrupt(format!(
                    "the table {} indexes blocks, but the store holds none",
                    old.name()
                )))
            }
        }
        drop(directory);
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
    /// each run's entries in descending key order, read lazily. Runs that
    /// begin above `at_most` (a height) are skipped: a caller that knows its
    /// entries are no newer saves a seek per newer run.
    pub(crate) fn descending(
        &self,
        at_most: Option<u64>,
        low: &[u8],
        high: Bound<&[u8]>,
    ) -> impl Iterator<Item = Result<RunEntry, StateError>> + '_ {
        let low = low.to_vec();
        let high = high.map(<[u8]>::to_vec);
        let runs = self
            .newest_first
            .iter()
            .filter(move |run| at_most.is_none_or(|height| run.first <= height));
        runs.flat_map(move |run| {
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
mod tests;
