//! Helpers shared by the tests that run the real `salus` binary.

#![allow(dead_code)]

pub mod testnet;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free loopback port, outside the ephemeral range: a node restarted on
/// it finds it still free.
pub fn free_port() -> u16 {
    salus_node::layout::ports::free_ports(1).expect("a free loopback port")
}

/// Starts `salus dev` on loopback with its output discarded.
pub fn start_dev(data: &Path, keystore: &Path, http: u16, p2p: u16, passphrase: &str) -> Child {
    dev_command(data, keystore, http, p2p, passphrase)
        .env("SALUS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the salus binary starts")
}

/// Starts `salus dev` with debug logs written to `log`.
pub fn start_dev_logged(
    data: &Path,
    keystore: &Path,
    http: u16,
    passphrase: &str,
    log: &Path,
) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    dev_command(data, keystore, http, free_port(), passphrase)
        .env("SALUS_LOG", "debug")
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .spawn()
        .expect("the salus binary starts")
}

fn dev_command(data: &Path, keystore: &Path, http: u16, p2p: u16, passphrase: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_salus"));
    command
        .args(["dev", "--data-dir"])
        .arg(data)
        .args([
            "--http",
            &format!("127.0.0.1:{http}"),
            "--p2p",
            &format!("127.0.0.1:{p2p}"),
        ])
        .env("SALUS_KEYSTORE", keystore)
        .env("SALUS_NODE_PASSPHRASE", passphrase);
    command
}

pub const PASSPHRASE: &str = "cli-test-passphrase";

/// A `salus dev` node for one test: data in `dir/node`, keystore in
/// `dir/keys`. Dropping it kills the process, so a failing test leaves no
/// node behind.
pub struct DevNode {
    child: Option<Child>,
}

impl DevNode {
    /// Starts a node in `dir` with its output discarded and waits until it
    /// answers; returns it with the CLI environment that reaches it.
    pub fn start(dir: &Path) -> (DevNode, Env) {
        let http = free_port();
        let env = Env::in_dir(dir, http);
        let child = start_dev(
            &dir.join("node"),
            &env.keystore,
            http,
            free_port(),
            PASSPHRASE,
        );
        DevNode::up(child, env)
    }

    /// Like [`DevNode::start`], with debug logs written to `log`.
    pub fn start_logged(dir: &Path, log: &Path) -> (DevNode, Env) {
        let http = free_port();
        let env = Env::in_dir(dir, http);
        let child = start_dev_logged(&dir.join("node"), &env.keystore, http, PASSPHRASE, log);
        DevNode::up(child, env)
    }

    fn up(child: Child, env: Env) -> (DevNode, Env) {
        let node = DevNode { child: Some(child) };
        env.wait_up();
        (node, env)
    }

    /// Kills the node, which must still be running, and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("the node is still running");
            child.wait().expect("the node exits");
        }
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How the CLI finds its node and keys.
pub struct Env {
    pub node: String,
    pub keystore: std::path::PathBuf,
}

impl Env {
    /// An environment in `dir` (keystore `dir/keys`) for a node on `http`.
    pub fn in_dir(dir: &Path, http: u16) -> Env {
        Env {
            node: format!("http://127.0.0.1:{http}"),
            keystore: dir.join("keys"),
        }
    }

    pub fn salus(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_salus"))
            .args(args)
            .env("SALUS_NODE", &self.node)
            .env("SALUS_KEYSTORE", &self.keystore)
            .env("SALUS_PASSPHRASE", PASSPHRASE)
            .stdin(Stdio::null())
            .output()
            .expect("salus runs")
    }

    /// Runs with --json and expects success.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.salus(&all);
        assert!(
            out.status.success(),
            "salus {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "salus {args:?} printed non-JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Waits until the node answers.
    /// The dev authority sends `amount` base units to `account` (a DID).
    pub fn fund(&self, account: &str, amount: u64) -> Value {
        self.json(&[
            "tx",
            "transfer",
            "--key",
            "dev-authority",
            "--to",
            account,
            "--amount",
            &amount.to_string(),
        ])
    }

    /// The dev authority attests `role` for `subject` (a DID).
    pub fn attest(&self, subject: &str, role: &str) -> Value {
        self.json(&[
            "role",
            "attest",
            "--key",
            "dev-authority",
            "--subject",
            subject,
            "--role",
            role,
        ])
    }

    pub fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.salus(&["query", "status"]).status.success() {
            assert!(Instant::now() < deadline, "dev node did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Expects failure with a message on stderr containing `needle`; returns stderr.
    pub fn fails(&self, args: &[&str], needle: &str) -> String {
        let out = self.salus(args);
        assert!(!out.status.success(), "salus {args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(needle),
            "salus {args:?}: expected `{needle}` in: {stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "salus {args:?} panicked: {stderr}"
        );
        salus_testkit::assert_says_each_cause_once(&stderr);
        stderr.into_owned()
    }
}

/// Starts `salus gateway` for `key` on `port` (following the chain every
/// 200 ms), with its output written to `log`.
pub fn start_gateway(env: &Env, key: &str, port: u16, token: &str, log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_salus"))
        .args([
            "gateway",
            "--key",
            key,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--refresh-ms", "200"])
        .env("SALUS_NODE", &env.node)
        .env("SALUS_KEYSTORE", &env.keystore)
        .env("SALUS_PASSPHRASE", PASSPHRASE)
        .env("SALUS_GATEWAY_TOKEN", token)
        .env("SALUS_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .spawn()
        .expect("the salus binary starts")
}
