//! The Salus FHIR gateway: FHIR R4 REST on the member's side.
//!
//! Nodes never see plaintext, so a FHIR server cannot live in a node. The
//! gateway runs beside the member's EHR, holds the member's keys, and turns
//! FHIR interactions into Salus operations: a create or update seals the
//! resource to every reader consent names and anchors it until final; a read
//! is a signed vault read, consent-checked and audited on chain; a delete is
//! crypto-shredding erasure. It answers only from what its key may read.
//!
//! - [`validate`]: R4 validation, from `salus-fhir` (also used by `salus record put`).
//! - [`resource`]: the R4 types and the search parameters of each.
//! - `index`, `search`: the in-memory search index and queries over it.
//! - `gateway`: the operations; `writer`: the one signer, packing concurrent
//!   writes into transactions; `reads`: concurrent vault reads in one
//!   bundle, and remembered anchors; `sync`: following the chain.
//! - `routes`, `bundle`, `capability`, `outcome`: the REST surface.

mod bundle;
mod capability;
mod gateway;
mod index;
mod outcome;
mod reads;
pub mod resource;
mod routes;
mod search;
mod sync;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use salus_client::record_flow::Actor;
use salus_client::Client;

pub use capability::capability_statement;
pub use gateway::{Gateway, DID_SYSTEM};
pub use outcome::GatewayError;
pub use routes::Served;
pub use salus_fhir::validate;

/// How often the gateway follows the chain for grants, revocations,
/// new versions and erasures.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(1);

/// How a gateway runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen: a loopback address (this build serves no TLS).
    pub listen: SocketAddr,
    /// The bearer token clients present.
    pub token: String,
    /// How often to follow the chain.
    pub refresh: Duration,
}

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0} is not a loopback address; this gateway serves plain HTTP, so it listens on loopback only (put a TLS-terminating proxy in front to serve others)")]
    NotLoopback(SocketAddr),
    #[error("the bearer token must be at least 16 characters")]
    WeakToken,
    #[error("cannot listen on {0}")]
    Listen(SocketAddr, #[source] std::io::Error),
    #[error("cannot index what this key may read")]
    Index(#[source] GatewayError),
    #[error("cannot reach the node")]
    Connect(#[source] GatewayError),
}

/// A started gateway.
pub struct Running {
    pub address: SocketAddr,
    pub base: String,
    /// Records indexed at start.
    pub indexed: usize,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    follower: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops serving and following the chain.
    pub fn stop(self) {
        self.server.abort();
        self.follower.abort();
    }

    /// Serves until the server stops (it does not, unless it fails).
    pub async fn wait(self) -> std::io::Result<()> {
        let result = self
            .server
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.follower.abort();
        result
    }
}

/// Connects to the node, builds the index, and starts serving.
pub async fn start(config: Config, client: Client, actor: Actor) -> Result<Running, StartError> {
    if !config.listen.ip().is_loopback() {
        return Err(StartError::NotLoopback(config.listen));
    }
    if config.token.len() < 16 {
        return Err(StartError::WeakToken);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let address = listener
        .local_addr()
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let gateway = Gateway::connect(client, actor)
        .await
        .map_err(StartError::Connect)?;
    let mut access = sync::Access::default();
    let indexed = gateway
        .rebuild(&mut access)
        .await
        .map_err(StartError::Index)?;
    let base = format!("http://{address}/fhir");
    let served = Arc::new(Served {
        gateway,
        base: base.clone(),
        token: config.token,
    });
    let follower = tokio::spawn(follow(served.clone(), access, config.refresh));
    let app = routes::router(served);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Running {
        address,
        base,
        indexed,
        server,
        follower,
    })
}

async fn follow(served: Arc<Served>, mut access: sync::Access, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match served.gateway.follow(&mut access).await {
            Ok(0) => {}
            Ok(read) => tracing::debug!(read, "followed the chain"),
            Err(error) => tracing::warn!(%error, "cannot follow the chain; retrying"),
        }
    }
}
