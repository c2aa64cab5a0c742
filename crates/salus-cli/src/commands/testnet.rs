//! `salus testnet`: lay out and run a network of validators on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context as _, Result};
use clap::Subcommand;
use salus_crypto::keystore::{KdfParams, KeyFile};
use salus_node::layout::node_file::NodeFile;
use salus_node::layout::testnet::{init_testnet, TESTNET_AUTHORITY};
use salus_types::clock::now_ms;
use serde_json::json;

use super::node::node_passphrase;
use crate::output::Context;

#[derive(Subcommand, Debug)]
pub enum TestnetCommand {
    /// Write genesis, encrypted keys and one node file per validator into a folder.
    Init {
        #[arg(long, default_value_t = 4)]
        validators: usize,
        #[arg(long)]
        dir: PathBuf,
        /// Node i uses p2p port base+2i and HTTP port base+2i+1.
        #[arg(long, default_value_t = 27_000)]
        base_port: u16,
    },
    /// Lay out one more node for a testnet: a new key and a node file, on
    /// the ports after the last node's. Genesis does not name it: it
    /// follows the chain until a passed `add_validator` proposal (written
    /// next to it, for `salus gov propose --change`) makes it a validator
    /// from the next epoch.
    AddNode {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Run every node of a laid-out testnet as a child process until Ctrl-C.
    Up {
        #[arg(long)]
        dir: PathBuf,
    },
}

pub fn run(ctx: &Context, command: TestnetCommand) -> Result<()> {
    match command {
        TestnetCommand::Init {
            validators,
            dir,
            base_port,
        } => {
            let passphrase = node_passphrase();
            let net = init_testnet(&dir, validators, base_port, passphrase.as_bytes(), now_ms())
                .with_context(|| format!("cannot lay out a testnet in {}", dir.display()))?;
            // The authority's key also goes to the user's keystore, so the CLI can sign with it.
            if !ctx.keys.exists(TESTNET_AUTHORITY) {
                let file = KeyFile::seal(
                    TESTNET_AUTHORITY,
                    &net.authority,
                    passphrase.as_bytes(),
                    KdfParams::RECOMMENDED,
                )?;
                ctx.keys.save(&file)?;
            }
            let nodes: Vec<String> = net
                .node_files
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            let apis: Vec<String> = net
                .genesis
                .audit
                .vaults
                .iter()
                .map(|v| v.endpoint.clone())
                .collect();
            let value = json!({"chain_id": net.genesis.chain_id, "dir": dir, "node_files": nodes, "apis": apis});
            ctx.emit(&value, || {
                format!(
                    "laid out {validators} validators in {} (APIs {}); run them with `salus testnet up --dir {}`",
                    dir.display(),
                    apis.join(", "),
                    dir.display()
                )
            });
            Ok(())
        }
        TestnetCommand::AddNode { dir } => add_node(ctx, &dir),
        TestnetCommand::Up { dir } => up(ctx, &dir),
    }
}

fn add_node(ctx: &Context, dir: &Path) -> Result<()> {
    let files = node_files(dir)?;
    let last = files.last().context("a testnet has nodes")?;
    let last = NodeFile::read(last)?;
    let next = |addr: SocketAddr| -> Result<SocketAddr> {
        let port = addr
            .port()
            .checked_add(2)
            .context("no port left after the last node's")?;
        Ok(SocketAddr::new(addr.ip(), port))
    };
    let (p2p, http) = (next(last.p2p)?, next(last.http)?);
    let passphrase = node_passphrase();
    let index = files.len();
    let (file, pair) =
        salus_node::layout::testnet::add_node(dir, index, p2p, http, passphrase.as_bytes())
            .with_context(|| format!("cannot lay out node {index} in {}", dir.display()))?;
    let change = json!({
        "kind": "add_validator",
        "key": pair.signing.public_key(),
        "address": p2p.to_string(),
    });
    let change_path = dir.join(format!("add-node-{index}.json"));
    std::fs::write(&change_path, change.to_string())
        .with_context(|| format!("cannot write {}", change_path.display()))?;
    let value = json!({
        "node_file": file,
        "key": pair.signing.public_key(),
        "p2p": p2p,
        "api": format!("http://{http}"),
        "change": change_path,
    });
    ctx.emit(&value, || {
        format!(
            "laid out node {index} in {} (p2p {p2p}, API http://{http}); it follows the chain until `salus gov propose --change {}` passes, then signs from the next epoch",
            file.display(),
            change_path.display()
        )
    });
    Ok(())
}

/// The node files of a laid-out testnet, in order.
fn node_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for i in 0.. {
        let path = dir.join(format!("node-{i}.toml"));
        if !path.exists() {
            break;
        }
        files.push(path);
    }
    if files.is_empty() {
        bail!(
            "{} holds no node files; run `salus testnet init` first",
            dir.display()
        );
    }
    Ok(files)
}

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn up(ctx: &Context, dir: &Path) -> Result<()> {
    let files = node_files(dir)?;
    let exe = std::env::current_exe().context("cannot find the salus binary")?;
    let mut nodes = Nodes(Vec::new());
    for (i, file) in files.iter().enumerate() {
        let log_path = dir.join(format!("node-{i}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot write {}", log_path.display()))?;
        let child = Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(file)
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start node {i}"))?;
        nodes.0.push(child);
    }
    let value = json!({"dir": dir, "nodes": files.len()});
    ctx.emit(&value, || {
        format!(
            "running {} nodes from {} (logs in node-<i>.log); Ctrl-C stops them",
            files.len(),
            dir.display()
        )
    });
    let runtime = ctx.runtime()?;
    runtime.block_on(async {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                    for (i, child) in nodes.0.iter_mut().enumerate() {
                        if let Some(status) = child.try_wait()? {
                            bail!("node {i} exited ({status}); see {}", dir.join(format!("node-{i}.log")).display());
                        }
                    }
                }
            }
        }
    })
}
