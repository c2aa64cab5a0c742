//! Starting the daemon as a process of its own (`salus oracle run`), for the
//! harnesses that stage a network on one machine: the demo and the claims
//! benchmark. The key goes into a throwaway keystore first, as an operator's
//! would be in theirs.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use salus_crypto::keystore::{KdfParams, KeyDir, KeyDirError, KeyFile, KeyPair, KeystoreError};

/// The passphrase of a staged daemon's throwaway keystore.
const STAGED_PASSPHRASE: &str = "salus-staged-oracle";

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot seal the oracle key")]
    Seal(#[from] KeystoreError),
    #[error("cannot write the oracle keystore")]
    Keystore(#[from] KeyDirError),
    #[error("cannot start {program}")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

/// Running daemons; dropping this kills them, so none outlives its harness.
#[derive(Default)]
pub struct Daemons(pub Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Writes `keys` as `name` into `keystore` and starts `salus oracle run`
/// (the binary `salus`) against `node`, its output discarded. `fault` is a
/// drill's `--fault` value.
pub fn spawn(
    salus: &Path,
    node: &str,
    keystore: &Path,
    name: &str,
    keys: &KeyPair,
    fault: Option<&str>,
) -> Result<Child, SpawnError> {
    // The cheapest Argon2id the keystore accepts: a throwaway key, opened once.
    let kdf = KdfParams {
        m_cost_kib: 8,
        t_cost: 1,
        p_cost: 1,
    };
    KeyDir::new(keystore).save(&KeyFile::seal(
        name,
        keys,
        STAGED_PASSPHRASE.as_bytes(),
        kdf,
    )?)?;
    let mut command = Command::new(salus);
    command
        .args(["oracle", "run", "--key", name, "--poll-ms", "50"])
        .env("SALUS_NODE", node)
        .env("SALUS_KEYSTORE", keystore)
        .env("SALUS_PASSPHRASE", STAGED_PASSPHRASE)
        .env("SALUS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(fault) = fault {
        command.args(["--fault", fault]);
    }
    command.spawn().map_err(|source| SpawnError::Start {
        program: salus.display().to_string(),
        source,
    })
}
