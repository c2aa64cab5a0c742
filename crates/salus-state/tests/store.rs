use salus_crypto::SigningKey;
use salus_state::{verify_proof, Pending, StateError, StateRead, Store, WriteSet};
use salus_types::{Block, Hash, Header};

fn writes(pairs: &[(&str, Option<&str>)]) -> WriteSet {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
        .collect()
}

fn block_for(pending: &Pending, parent: Hash) -> Block {
    Block {
        header: Header {
            height: pending.height,
            parent,
            timestamp_ms: 1_000 + pending.height,
            proposer: SigningKey::from_seed(&[1; 32]).public_key(),
            tx_root: Hash::ZERO,
            state_root: pending.root,
        },
        txs: vec![],
    }
}

fn commit_chain(store: &Store, sets: &[WriteSet]) -> Vec<Hash> {
    let mut roots = Vec::new();
    let mut parent = Hash::ZERO;
    for (height, set) in sets.iter().enumerate() {
        let snapshot = store.snapshot().unwrap();
        let pending = store
            .prepare(&snapshot, &[], height as u64, set.clone())
            .unwrap();
        let block = block_for(&pending, parent);
        store.commit(&pending, &block, &[]).unwrap();
        parent = block.digest();
        roots.push(pending.root);
    }
    roots
}

#[test]
fn stacked_pendings_give_the_same_roots_as_committing_one_by_one() {
    let sets = vec![
        writes(&[("a", Some("1")), ("b", Some("2"))]),
        writes(&[("a", Some("3"))]),
        writes(&[]),
        writes(&[("b", None), ("c", Some("4"))]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let one_by_one = commit_chain(&Store::open(&dir.path().join("a.redb")).unwrap(), &sets);

    let store = Store::open(&dir.path().join("b.redb")).unwrap();
    let snapshot = store.snapshot().unwrap();
    let mut pendings: Vec<Pending> = Vec::new();
    for (height, set) in sets.iter().enumerate() {
        let ancestors: Vec<&Pending> = pendings.iter().collect();
        let pending = store
            .prepare(&snapshot, &ancestors, height as u64, set.clone())
            .unwrap();
        pendings.push(pending);
    }
    let stacked: Vec<Hash> = pendings.iter().map(|p| p.root).collect();
    assert_eq!(stacked, one_by_one);
    assert_ne!(one_by_one[0], one_by_one[1]);
    assert_eq!(
        one_by_one[1], one_by_one[2],
        "an empty block keeps the root"
    );

    // Reads through the layered view see the newest pending value.
    let ancestors: Vec<&Pending> = pendings.iter().collect();
    let view = snapshot.layered(&ancestors);
    assert_eq!(view.get(b"a").unwrap(), Some(b"3".to_vec()));
    assert_eq!(view.get(b"b").unwrap(), None);
    assert_eq!(view.get(b"c").unwrap(), Some(b"4".to_vec()));
}

#[test]
fn proofs_verify_at_every_height_and_tampering_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let sets = vec![
        writes(&[("a", Some("1")), ("b", Some("2"))]),
        writes(&[("a", Some("3")), ("b", None)]),
    ];
    let roots = commit_chain(&store, &sets);
    for (height, root) in roots.iter().enumerate() {
        assert_eq!(store.root(height as u64).unwrap(), *root);
    }

    let (value, proof) = store.get_with_proof(b"a", 0).unwrap();
    assert_eq!(value.as_deref(), Some(&b"1"[..]));
    verify_proof(&roots[0], b"a", Some(b"1"), &proof).unwrap();
    assert!(
        verify_proof(&roots[0], b"a", Some(b"9"), &proof).is_err(),
        "wrong value"
    );
    assert!(
        verify_proof(&roots[1], b"a", Some(b"1"), &proof).is_err(),
        "wrong root"
    );

    let (value, proof) = store.get_with_proof(b"a", 1).unwrap();
    assert_eq!(value.as_deref(), Some(&b"3"[..]));
    verify_proof(&roots[1], b"a", Some(b"3"), &proof).unwrap();

    // Absence is provable too.
    let (value, proof) = store.get_with_proof(b"b", 1).unwrap();
    assert_eq!(value, None);
    verify_proof(&roots[1], b"b", None, &proof).unwrap();
    assert!(verify_proof(&roots[1], b"b", Some(b"2"), &proof).is_err());

    // Flipping any byte of a proof breaks it.
    let (_, proof) = store.get_with_proof(b"a", 1).unwrap();
    for i in 0..proof.0.len() {
        let mut tampered = proof.clone();
        tampered.0[i] ^= 0x01;
        assert!(
            verify_proof(&roots[1], b"a", Some(b"3"), &tampered).is_err(),
            "tampered byte {i} still verified"
        );
    }

    assert!(matches!(
        store.get_with_proof(b"a", 7),
        Err(StateError::UnknownHeight {
            requested: 7,
            latest: Some(1)
        })
    ));
}

#[test]
fn state_and_blocks_survive_reopen_and_commits_must_be_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let roots = {
        let store = Store::open(&path).unwrap();
        commit_chain(
            &store,
            &[writes(&[("k", Some("v"))]), writes(&[("k", Some("w"))])],
        )
    };
    let store = Store::open(&path).unwrap();
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.height(), Some(1));
    assert_eq!(snapshot.get(b"k").unwrap(), Some(b"w".to_vec()));
    assert_eq!(store.root(1).unwrap(), roots[1]);
    let block = snapshot.block(1).unwrap().unwrap();
    assert_eq!(snapshot.height_of_block(&block.digest()).unwrap(), Some(1));

    // Height 3 cannot be prepared or committed on top of height 1.
    assert!(matches!(
        store.prepare(&snapshot, &[], 3, WriteSet::new()),
        Err(StateError::OutOfOrder {
            actual: 3,
            expected_parent: Some(1)
        })
    ));
    let pending = store.prepare(&snapshot, &[], 2, WriteSet::new()).unwrap();
    let stale = store
        .prepare(&snapshot, &[], 2, writes(&[("x", Some("y"))]))
        .unwrap();
    store
        .commit(&pending, &block_for(&pending, block.digest()), &[])
        .unwrap();
    assert!(matches!(
        store.commit(&stale, &block_for(&stale, block.digest()), &[]),
        Err(StateError::OutOfOrder {
            actual: 2,
            expected_parent: Some(2)
        })
    ));
}

#[test]
fn a_store_with_the_old_node_layout_is_moved_to_the_new_one_on_open() {
    use jmt::storage::NodeKey;
    use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
    // The layouts by name: the store keeps its table definitions private.
    const NEW: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes_by_version");
    const OLD: TableDefinition<&[u8], &[u8]> = TableDefinition::new("jmt_nodes");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let sets: Vec<WriteSet> = (0..5u64)
        .map(|h| {
            let value = h.to_string();
            writes(&[(["k0", "k1", "k2"][h as usize % 3], Some(value.as_str()))])
        })
        .collect();
    let roots = commit_chain(&Store::open(&path).unwrap(), &sets);
    // Rewrite the nodes as an older build kept them: borsh(NodeKey) alone.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let new = txn.open_table(NEW).unwrap();
            let mut old = txn.open_table(OLD).unwrap();
            for entry in new.iter().unwrap() {
                let (key, node) = entry.unwrap();
                let node_key: NodeKey = borsh::from_slice(&key.value()[8..]).unwrap();
                old.insert(borsh::to_vec(&node_key).unwrap().as_slice(), node.value())
                    .unwrap();
            }
        }
        txn.delete_table(NEW).unwrap();
        txn.commit().unwrap();
    }
    {
        let store = Store::open(&path).unwrap();
        for (height, root) in roots.iter().enumerate() {
            assert_eq!(store.root(height as u64).unwrap(), *root);
        }
        let (value, proof) = store.get_with_proof(b"k1", 4).unwrap();
        assert_eq!(value.as_deref(), Some(&b"4"[..]));
        verify_proof(&roots[4], b"k1", value.as_deref(), &proof).unwrap();
        // The chain goes on on the new layout.
        let snapshot = store.snapshot().unwrap();
        let pending = store.prepare(&snapshot, &[], 5, WriteSet::new()).unwrap();
        assert_eq!(pending.root, roots[4]);
    }
    // And the old table is gone.
    let db = Database::create(&path).unwrap();
    assert!(db.begin_read().unwrap().open_table(OLD).is_err());
}
