//! A set that forgets its oldest members past a limit: what a node
//! remembers of work already done (signatures checked, proofs verified).
//! Membership only: nothing iterates it, so its order cannot leak into
//! execution.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

pub struct BoundedSet<T> {
    members: HashSet<T>,
    arrival: VecDeque<T>,
    limit: usize,
}

impl<T: Hash + Eq + Copy> BoundedSet<T> {
    pub fn new(limit: usize) -> Self {
        assert!(limit > 0, "a bounded set holds at least one member");
        BoundedSet {
            members: HashSet::new(),
            arrival: VecDeque::new(),
            limit,
        }
    }

    pub fn contains(&self, member: &T) -> bool {
        self.members.contains(member)
    }

    /// Adds `member`; past the limit, the oldest members are forgotten.
    pub fn insert(&mut self, member: T) {
        if self.members.insert(member) {
            self.arrival.push_back(member);
        }
        while self.arrival.len() > self.limit {
            if let Some(old) = self.arrival.pop_front() {
                self.members.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_are_forgotten_first() {
        let mut set = BoundedSet::new(3);
        for n in [1, 2, 3, 2, 4] {
            set.insert(n);
        }
        assert_eq!(set.arrival.len(), 3);
        assert!(!set.contains(&1));
        assert!([2, 3, 4].iter().all(|n| set.contains(n)));
    }
}
