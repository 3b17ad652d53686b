//! wallet-backup-service: the backup service behind wallet-backup's managed
//! backups.
//!
//! It keeps, per client, backup share pairs: the custodian backup share,
//! sealed under a KMS-wrapped data key ([`seal`], [`kms`]), and (managed
//! backups) the encrypted client backup share, the `cipherText`. A pair is
//! `PENDING` until its client share is stored and it is confirmed; until
//! then the previous completed pair stays the one recovery uses.
//!
//! The binary (`src/main.rs`) is a thin CLI over this library: [`start`]
//! runs the HTTP service ([`api`], and [`web`] for what browsers need beside
//! it) on its own accept loop ([`listener`], with the connection limits),
//! [`open_backend`] gives the store and KMS to the operator commands.
//! [`tls`] is `serve --tls-cert/--tls-key` (certificates re-read when they
//! change), and [`metrics`] the Prometheus metrics on their own address.
//! [`firebase`] verifies Firebase ID tokens for the Firebase enclave routes
//! and holds the development token issuer ([`firebase::dev`]). [`passkey`]
//! is the passkey key enclave (WebAuthn through webauthn-rs). [`pkcs11`] is
//! the KMS whose master key lives on an HSM token.
//! See `service/README.md` for the API.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod apikey;
#[cfg(feature = "dev")]
pub mod demo;
pub mod error;
pub mod firebase;
pub mod http_client;
pub mod kms;
pub mod listener;
pub mod metrics;
pub mod model;
pub mod passkey;
pub mod ratelimit;
pub mod seal;
pub mod store;
pub mod tls;
pub mod util;
pub mod web;
pub mod webhook;

use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use firebase::FirebaseConfig;
pub use kms::{Kms, KmsBackend, KmsChain, KmsSelection, LocalKms};
pub use listener::{ConnectionLimits, TrustedProxies};
pub use passkey::{PasskeyConfig, RelyingParty};
pub use ratelimit::RateLimit;
pub use store::{ClientLimits, Retention, Store};
pub use tls::TlsFiles;
pub use web::{AllowedOrigins, Statics};
pub use webhook::WebhookPolicy;

/// Name of the SQLite database file in the data directory.
pub const DATABASE_FILE: &str = "wallet-backup.db";
/// Name of the local KMS key file in the data directory.
pub const KMS_FILE: &str = "kms-master-keys.json";

/// Where the service keeps its state.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Directory for the SQLite file and the KMS key file; created (mode 0700) if missing.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of the SQLite file (or any sqlx `sqlite:` URL).
    pub database_url: Option<String>,
    /// The local KMS key file; default `<data_dir>/kms-master-keys.json`.
    pub kms_file: Option<PathBuf>,
    /// The KMS backends (default: the local one only).
    pub kms: KmsSelection,
}

/// Settings of a running service.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (port 0: any free port, see [`Running::addr`]).
    pub listen: SocketAddr,
    /// Database and KMS.
    pub backend: Backend,
    /// Static files served beside the API.
    pub statics: Option<Statics>,
    /// Per-key rate limit.
    pub rate_limit: RateLimit,
    /// Per-source-address rate limit of requests without a valid key.
    pub anonymous_rate_limit: RateLimit,
    /// Timeouts and caps of connections and requests in flight.
    pub connections: ConnectionLimits,
    /// Timeout and retries of custodian webhook deliveries.
    pub webhook: WebhookPolicy,
    /// Origins whose pages may call the API (CORS).
    pub allowed_origins: AllowedOrigins,
    /// Development only: the demo page's key and stand-ins ([`demo`]);
    /// [`start`] refuses them unless `listen` is a loopback address.
    #[cfg(feature = "dev")]
    pub demo: Option<demo::DemoSettings>,
    /// Firebase ID token checks (the Firebase enclave's public keys and key-release freshness).
    pub firebase: FirebaseConfig,
    /// The passkey enclave: default relying party, ceremony lifetime.
    pub passkey: PasskeyConfig,
    /// What one client may store.
    pub limits: ClientLimits,
    /// What the service lets go of, and how often it prunes.
    pub retention: Retention,
    /// Serve HTTPS with this certificate and key (re-read when they change).
    pub tls: Option<TlsFiles>,
    /// A TLS-terminating proxy is in front: plain HTTP on a non-loopback
    /// `listen` is allowed ([`start`] refuses it otherwise).
    pub behind_tls_proxy: bool,
    /// Proxies whose `X-Forwarded-For` names the client (see [`listener`]).
    pub trusted_proxies: TrustedProxies,
    /// Serve Prometheus metrics at `http://ADDR/metrics` ([`metrics`]); off when `None`.
    pub metrics_listen: Option<SocketAddr>,
}

impl ServeConfig {
    /// `listen` and `backend` with the defaults for the rest: no static
    /// files, the default rate limits, connection limits and webhook policy,
    /// any origin, no demo key, plain HTTP, no metrics.
    pub fn new(listen: SocketAddr, backend: Backend) -> Self {
        Self {
            listen,
            backend,
            statics: None,
            rate_limit: RateLimit::default(),
            anonymous_rate_limit: RateLimit::ANONYMOUS,
            connections: ConnectionLimits::default(),
            webhook: WebhookPolicy::default(),
            allowed_origins: AllowedOrigins::Any,
            #[cfg(feature = "dev")]
            demo: None,
            firebase: FirebaseConfig::default(),
            passkey: PasskeyConfig::default(),
            limits: ClientLimits::default(),
            retention: Retention::default(),
            tls: None,
            behind_tls_proxy: false,
            trusted_proxies: TrustedProxies::default(),
            metrics_listen: None,
        }
    }
}

/// Start-up failures.
#[derive(Debug)]
pub enum StartError {
    /// The data directory or the listening socket.
    Io(String),
    /// The database.
    Store(store::StoreError),
    /// The KMS: a key file that cannot be used, or a failed start-up check.
    Kms(kms::KmsError),
    /// The webhook HTTP client.
    Webhook(webhook::WebhookError),
    /// A setting that cannot be served (static directories, the demo key).
    Config(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => f.write_str(e),
            Self::Store(e) => write!(f, "{e}"),
            Self::Kms(e) => write!(f, "{e}"),
            Self::Webhook(e) => write!(f, "{e}"),
            Self::Config(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for StartError {}

/// Opens (creating on first start) the data directory, the database with
/// its migrations applied, and the selected KMS backends, after checking
/// that each of them wraps and unwraps ([`kms::check`]).
pub async fn open_backend(backend: &Backend) -> Result<(Store, KmsChain), StartError> {
    create_data_dir(&backend.data_dir)?;
    let url = match &backend.database_url {
        Some(url) => url.clone(),
        None => store::sqlite_url(&backend.data_dir),
    };
    let kms_path = backend.kms_file.clone().unwrap_or_else(|| backend.data_dir.join(KMS_FILE));
    let kms = kms::open(&backend.kms, &kms_path).await.map_err(StartError::Kms)?;
    kms::check(&kms).await.map_err(StartError::Kms)?;
    if backend.database_url.is_none() {
        restrict_database_files(&backend.data_dir)?;
    }
    let store = Store::connect(&url).await.map_err(StartError::Store)?;
    Ok((store, kms))
}

/// Creates the SQLite database file with mode 0600 if it is missing, and
/// takes group and other permissions off an existing one and its `-wal`,
/// `-shm` and `-journal` files: they hold every custodian share (sealed)
/// and cipherText, whatever the data directory's own mode. SQLite creates
/// the `-wal` and `-shm` files with the database file's mode.
fn restrict_database_files(data_dir: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let database = data_dir.join(DATABASE_FILE);
    let io = |path: &Path, e: std::io::Error| StartError::Io(format!("{}: {e}", path.display()));
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&database).map_err(|e| io(&database, e))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = data_dir.join(format!("{DATABASE_FILE}{suffix}"));
        match std::fs::metadata(&path) {
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                let mode = meta.permissions().mode() & 0o700;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(|e| io(&path, e))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, e)),
        }
    }
    Ok(())
}

fn create_data_dir(dir: &Path) -> Result<(), StartError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StartError::Io(format!("cannot create data directory {}: {e}", dir.display())))
}

/// A service started by [`start`].
pub struct Running {
    addr: SocketAddr,
    tls: bool,
    metrics_addr: Option<SocketAddr>,
    store: Store,
    kms: Arc<KmsChain>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    pruner: Option<JoinHandle<()>>,
    /// The metrics listener and its upkeep.
    metrics: Vec<JoinHandle<()>>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://ADDR` with TLS, else `http://ADDR`.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// The address of the metrics listener, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Its database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Its KMS.
    pub fn kms(&self) -> &KmsChain {
        &self.kms
    }

    /// Stops accepting connections, lets requests in flight finish (for at
    /// most [`ConnectionLimits::shutdown_grace`]), closes the database.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.wait().await
    }

    /// Waits until the server stops (after [`Running::shutdown`] or an error).
    pub async fn wait(self) -> std::io::Result<()> {
        let result = match self.task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        };
        if let Some(pruner) = self.pruner {
            // A prune in the middle of a transaction rolls back; the next start prunes again.
            pruner.abort();
        }
        for task in self.metrics {
            task.abort();
        }
        self.store.close().await;
        result
    }

    /// Sends the stop signal without waiting.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Opens the backend and serves the API on `config.listen`.
pub async fn start(mut config: ServeConfig) -> Result<Running, StartError> {
    config.connections.check().map_err(StartError::Config)?;
    let files = listener::fit_open_file_limit(&mut config.connections).map_err(StartError::Config)?;
    if let Some(from) = files.lowered_from {
        tracing::warn!(
            max_connections = config.connections.max_connections,
            asked = from,
            open_file_limit = files.open_file_limit,
            "--max-connections lowered to fit the open-file limit (RLIMIT_NOFILE); raise it to allow more"
        );
    }
    if let Some(statics) = &config.statics {
        statics.check().map_err(StartError::Config)?;
    }
    #[cfg(feature = "dev")]
    let demo = config.demo.as_ref().map(|settings| demo::Demo::new(settings, config.listen)).transpose()?;
    check_exposure(&config)?;
    let tls = config.tls.as_ref().map(tls::server_config).transpose().map_err(StartError::Config)?;
    let firebase_keys = firebase::KeyStore::new(&config.firebase).map_err(StartError::Config)?;
    config.retention.check(&config.limits).map_err(StartError::Config)?;
    let (store, kms) = open_backend(&config.backend).await?;
    let store = store.with_limits(config.limits, config.retention);
    #[cfg(feature = "dev")]
    if let Some(demo) = &demo {
        if let Err(e) = demo.check_key(&store).await {
            store.close().await;
            return Err(e);
        }
    }
    let kms = Arc::new(kms);
    let state = Arc::new(api::AppState {
        store: store.clone(),
        kms: Arc::new(metrics::MeteredKms::new(kms.clone())),
        limiter: ratelimit::RateLimiter::new(config.rate_limit),
        anonymous_limiter: Arc::new(ratelimit::RateLimiter::new(config.anonymous_rate_limit)),
        webhook: webhook::Deliverer::new(config.webhook).map_err(StartError::Webhook)?,
        firebase_keys,
        firebase_max_auth_age_secs: config.firebase.max_auth_age_secs,
        passkey: config.passkey,
        readiness: api::health::Readiness::new().map_err(|e| StartError::Io(format!("random source: {e}")))?,
    });
    let allowed_origins = config.allowed_origins.to_string();
    #[cfg(not(feature = "dev"))]
    let (demo_config, web) = (false, api::Web { statics: config.statics, allowed_origins: config.allowed_origins });
    #[cfg(feature = "dev")]
    let (demo_config, web) =
        (demo.is_some(), api::Web { statics: config.statics, allowed_origins: config.allowed_origins, demo });
    let app = api::router(state, web);
    let tcp = TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Io(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = tcp.local_addr().map_err(|e| StartError::Io(e.to_string()))?;
    let (metrics_addr, metrics) = match config.metrics_listen {
        Some(listen) => {
            let (addr, tasks) = start_metrics(listen).await?;
            (Some(addr), tasks)
        }
        None => (None, Vec::new()),
    };
    let (tx, rx) = oneshot::channel::<()>();
    let limits = config.connections;
    let transport = listener::Transport { tls, trusted_proxies: config.trusted_proxies.clone() };
    let task = tokio::spawn(listener::serve(tcp, app, limits, transport, async move {
        let _ = rx.await;
    }));
    tracing::info!(
        %addr,
        tls = config.tls.is_some(),
        behind_tls_proxy = config.behind_tls_proxy,
        trusted_proxies = !config.trusted_proxies.is_empty(),
        metrics = ?metrics_addr,
        backend = ?store.backend(),
        allowed_origins = %allowed_origins,
        demo_config,
        max_connections = limits.max_connections,
        max_connections_per_ip = limits.max_connections_per_ip,
        open_file_limit = files.open_file_limit,
        reserved_files = files.reserved,
        "serving (connections kept below the open-file limit by the files reserved)"
    );
    let pruner = spawn_pruner(store.clone());
    Ok(Running { addr, tls: config.tls.is_some(), metrics_addr, store, kms, shutdown: Some(tx), task, pruner, metrics })
}

/// Refuses plain HTTP on an address other hosts can reach, unless the
/// operator said a TLS-terminating proxy is in front: API keys, custodian
/// shares and cipherTexts must not cross a network in the clear.
fn check_exposure(config: &ServeConfig) -> Result<(), StartError> {
    if config.tls.is_some() || config.behind_tls_proxy || config.listen.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(StartError::Config(format!(
        "refusing to serve plain HTTP on {}, which is not a loopback address: API keys and backup shares would \
         cross the network in the clear. Give --tls-cert and --tls-key, or --behind-tls-proxy if a proxy in front \
         of the service terminates TLS (and only it can reach this address)",
        config.listen
    )))
}

/// Installs the metrics recorder and serves `GET /metrics` on `listen`
/// (plain HTTP, on the listener with small caps), with the registry's upkeep.
async fn start_metrics(listen: SocketAddr) -> Result<(SocketAddr, Vec<JoinHandle<()>>), StartError> {
    let handle = metrics::install().map_err(StartError::Config)?;
    let tcp = TcpListener::bind(listen)
        .await
        .map_err(|e| StartError::Io(format!("cannot listen on {listen} (--metrics-listen): {e}")))?;
    let addr = tcp.local_addr().map_err(|e| StartError::Io(e.to_string()))?;
    let limits = ConnectionLimits {
        max_connections: 16,
        max_connections_per_ip: 16,
        max_requests_in_flight: 16,
        ..ConnectionLimits::default()
    };
    let upkeep = metrics::spawn_upkeep(handle.clone());
    let server = tokio::spawn(async move {
        let served = listener::serve(
            tcp,
            metrics::router(handle),
            limits,
            listener::Transport::default(),
            std::future::pending(),
        )
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok((addr, vec![upkeep, server]))
}

/// Runs [`Store::prune`] at start and then every `prune_interval` of the
/// store's retention (never when it is zero), logging what went; a failed
/// run is logged and tried again at the next tick.
fn spawn_pruner(store: Store) -> Option<JoinHandle<()>> {
    let interval = store.retention().prune_interval;
    if interval.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match store.prune().await {
                Ok(report) if report == store::PruneReport::default() => {}
                Ok(report) => tracing::info!(?report, "pruned"),
                Err(e) => tracing::warn!(error = %e, "pruning failed; trying again at the next interval"),
            }
        }
    }))
}
