//! Helpers shared by the tests that run the real `salus` binary.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A free loopback port (released for the child process to bind).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `salus dev` on loopback with its output discarded.
pub fn start_dev(data: &Path, keystore: &Path, http: u16, p2p: u16, passphrase: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_salus"))
        .args(["dev", "--data-dir"])
        .arg(data)
        .args([
            "--http",
            &format!("127.0.0.1:{http}"),
            "--p2p",
            &format!("127.0.0.1:{p2p}"),
        ])
        .env("SALUS_KEYSTORE", keystore)
        .env("SALUS_NODE_PASSPHRASE", passphrase)
        .env("SALUS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the salus binary starts")
}
