//! Shared CLI plumbing: output mode, keystore, passphrases, the async client.

use std::io::IsTerminal as _;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use salus_client::{Client, Signer};
use salus_crypto::keystore::{KeyDir, KeyPair};
use salus_types::{AccountId, Did};

use crate::cli::Cli;

pub const PASSPHRASE_ENV: &str = "SALUS_PASSPHRASE";

pub struct Context {
    pub json: bool,
    pub node: String,
    pub keys: KeyDir,
}

impl Context {
    pub fn new(cli: &Cli) -> Self {
        let keystore = cli.keystore.clone().unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| ".".into());
            home.join(".salus").join("keys")
        });
        Context {
            json: cli.json,
            node: cli.node.clone(),
            keys: KeyDir::new(keystore),
        }
    }

    /// Prints `value` as JSON, or `prose` for people.
    pub fn emit(&self, value: &impl serde::Serialize, prose: impl FnOnce() -> String) {
        if self.json {
            println!("{}", pretty(value));
        } else {
            println!("{}", prose());
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.node.clone())
    }

    pub fn runtime(&self) -> Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
    }

    /// Opens a key from the keystore, asking for its passphrase.
    pub fn open_key(&self, name: &str) -> Result<KeyPair> {
        let file = self.keys.load(name)?;
        let passphrase = passphrase(&format!("Passphrase for key `{name}`: "), false)?;
        file.open(passphrase.as_bytes())
            .with_context(|| format!("cannot open key `{name}`"))
    }

    /// A signer for a stored key, with the nonce the chain expects next.
    pub async fn signer(&self, name: &str, client: &Client) -> Result<(Signer, KeyPair)> {
        let pair = self.open_key(name)?;
        let chain_id = client.status().await?.chain_id;
        let mut signer = Signer::new(chain_id, pair.signing.clone(), 0);
        if let Some(account) = self.account_of(name)? {
            signer.account = account;
        }
        signer.next_nonce = client.next_nonce(&signer.account).await?;
        Ok((signer, pair))
    }

    /// A key file may record the account it signs for (after a rotation).
    fn account_of(&self, name: &str) -> Result<Option<AccountId>> {
        let path = self.keys.path().join(format!("{name}.account"));
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(parse_account(text.trim())?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn record_account(&self, name: &str, account: &AccountId) -> Result<()> {
        let path = self.keys.path().join(format!("{name}.account"));
        std::fs::write(&path, account.did().to_string())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// A chain timestamp (milliseconds since the epoch) as RFC 3339, for people.
pub fn when(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Indented JSON, for people.
pub fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("API bodies serialize to JSON")
}

/// The passphrase from `SALUS_PASSPHRASE`, or typed at a terminal.
pub fn passphrase(prompt: &str, confirm: bool) -> Result<String> {
    if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        if value.is_empty() {
            bail!("{PASSPHRASE_ENV} is set but empty");
        }
        return Ok(value);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase: set {PASSPHRASE_ENV} or run in a terminal");
    }
    let first = rpassword::prompt_password(prompt)?;
    if confirm && rpassword::prompt_password("Repeat passphrase: ")? != first {
        bail!("passphrases differ");
    }
    if first.is_empty() {
        bail!("passphrase must not be empty");
    }
    Ok(first)
}

/// Accepts `did:salus:…` or 40 hex digits.
pub fn parse_account(text: &str) -> Result<AccountId> {
    if let Ok(did) = Did::parse(text) {
        return Ok(did.account());
    }
    AccountId::from_hex(text)
        .map_err(|_| anyhow::anyhow!("`{text}` is neither a did:salus nor an account id"))
}
