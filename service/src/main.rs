//! `wallet-backup-service`: the command line.
//!
//! - `serve` runs the HTTP service (creating the data directory, SQLite
//!   database and KMS key file on first start) and prints
//!   `listening on http://ADDR` (`https://` with `--tls-cert`) on stdout
//!   once it accepts connections, then `metrics on http://ADDR/metrics`
//!   with `--metrics-listen`; `--www`/`--pkg` add the demo page,
//!   `--allowed-origins` sets CORS and `--demo-key-file` (loopback only)
//!   hands the demo page its API key;
//! - `create-client` creates a client and prints its API key, alone on one
//!   stdout line (the only time it is shown);
//! - `set-custodian-webhook` / `set-managed-custodian` change where a
//!   client's custodian shares go (the operator's webhook, or the service);
//! - `set-firebase-project` sets the Firebase project whose ID tokens a
//!   client's Firebase enclave routes accept;
//! - `set-passkey-rp` sets (or clears) a client's own passkey relying party;
//! - `dev-firebase-issuer` (development only) stands in for Google's
//!   Firebase token issuer on loopback;
//! - `kms rotate` adds a new current master key to the local key file;
//!   `kms rewrap` re-wraps every stored data key under the current master
//!   key; `kms migrate --to` re-wraps them under another backend's key;
//! - `prune` removes now what retention lets go of (the running service
//!   also does, every `--prune-interval-secs`).
//!
//! Logs go to stderr (`RUST_LOG` filters them; default `info`), as text or,
//! with `--log-format json`, one JSON object per line.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand};
use wallet_backup_service::firebase;
use wallet_backup_service::kms::{self, KmsBackend, KmsChain, KmsSelection};
use wallet_backup_service::model::is_firebase_project_id;
use wallet_backup_service::store::{NewClient, WebhookSetting, DEFAULT_PIN_GUESS_LIMIT, PIN_GUESS_LIMITS};
use wallet_backup_service::{
    listener, open_backend, passkey, start, webhook, AllowedOrigins, Backend, ClientLimits, ConnectionLimits,
    FirebaseConfig, PasskeyConfig, RateLimit, Retention, ServeConfig, Statics, TlsFiles, TrustedProxies, WebhookPolicy,
};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(name = "wallet-backup-service", version, about = "Backup service for wallet-backup")]
struct Cli {
    #[command(flatten)]
    backend: BackendArgs,
    /// Log lines on stderr: `text` for people, `json` for log shippers (one JSON object per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WALLET_BACKUP_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct BackendArgs {
    /// Directory for the SQLite database and the KMS key file (created on first start).
    #[arg(long, global = true, default_value = "./data", env = "WALLET_BACKUP_DATA_DIR")]
    data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://user:pass@host/db`); default: the SQLite file in --data-dir.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// KMS master key file of the local backend; default `<data-dir>/kms-master-keys.json`.
    #[arg(long, global = true, env = "WALLET_BACKUP_KMS_FILE")]
    kms_file: Option<PathBuf>,
    /// KMS backend that wraps new data keys.
    #[arg(long, global = true, value_enum, default_value_t = KmsBackend::Local, env = "WALLET_BACKUP_KMS")]
    kms: KmsBackend,
    /// Another KMS backend whose wrapped keys this process also unwraps (repeatable; comma-separated
    /// in the environment): during and after `kms migrate`.
    #[arg(long, global = true, value_enum, value_delimiter = ',', env = "WALLET_BACKUP_KMS_ALSO")]
    kms_also: Vec<KmsBackend>,
    /// AWS KMS backend: the key's ARN, id, alias (`alias/NAME`) or alias ARN.
    #[arg(long, global = true, env = "WALLET_BACKUP_AWS_KMS_KEY_ID")]
    aws_kms_key_id: Option<String>,
    /// AWS KMS backend: the region (default: the standard chain, e.g. AWS_REGION).
    #[arg(long, global = true, env = "WALLET_BACKUP_AWS_REGION")]
    aws_region: Option<String>,
    /// AWS KMS backend: another endpoint URL (a VPC or FIPS endpoint, a test server).
    #[arg(long, global = true, env = "WALLET_BACKUP_AWS_ENDPOINT_URL")]
    aws_endpoint_url: Option<String>,
    /// AWS KMS backend: time limit of one call attempt in milliseconds (a call makes at most two).
    #[arg(long, global = true, default_value_t = millis(kms::aws::DEFAULT_TIMEOUT),
          value_parser = clap::value_parser!(u64).range(1..=120_000))]
    aws_timeout_ms: u64,
    #[command(flatten)]
    pkcs11: kms::Pkcs11Args,
}

impl BackendArgs {
    fn backend(self) -> Backend {
        let aws = self.aws_kms_key_id.map(|key_id| kms::AwsSettings {
            key_id,
            region: self.aws_region,
            endpoint_url: self.aws_endpoint_url,
            timeout: std::time::Duration::from_millis(self.aws_timeout_ms),
        });
        Backend {
            data_dir: self.data_dir,
            database_url: self.database_url,
            kms_file: self.kms_file,
            kms: KmsSelection { wrap_with: self.kms, unwrap_also: self.kms_also, aws, pkcs11: Some(self.pkcs11) },
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve(ServeArgs),
    /// Remove what retention lets go of (failed and abandoned pairs, completed pairs beyond the newest
    /// kept, enclave keys without a pair, expired ceremonies); safe while the service runs.
    Prune(PruneArgs),
    /// Create a client and print its API key (shown only this once).
    CreateClient(CreateClientArgs),
    /// Set (or with --clear remove) a client's own passkey relying party.
    SetPasskeyRp(SetPasskeyRpArgs),
    /// Set the Firebase project whose ID tokens the client's Firebase enclave routes accept.
    SetFirebaseProject(SetFirebaseProjectArgs),
    /// Set the guesses of a client's guess-limited PINs backed up from now on.
    SetPinGuessLimit(SetPinGuessLimitArgs),
    /// DEVELOPMENT ONLY: a stand-in for Google's Firebase token issuer, on loopback.
    #[cfg(feature = "dev")]
    DevFirebaseIssuer(DevFirebaseIssuerArgs),
    /// Send a client's custodian shares to the operator's webhook from now on.
    SetCustodianWebhook(SetCustodianWebhookArgs),
    /// Let the service keep a client's custodian shares again (from now on).
    SetManagedCustodian(SetManagedCustodianArgs),
    /// Manage the KMS keys: rotate the local key file, re-wrap, migrate to another backend.
    Kms {
        #[command(subcommand)]
        command: KmsCommand,
    },
}

/// The format of the log lines.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the event's fields.
    Json,
}

/// `serve`: run the HTTP service.
#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0: any free port). A non-loopback address needs --tls-cert and --tls-key,
    /// or --behind-tls-proxy.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    #[command(flatten)]
    transport: Box<TransportArgs>,
    /// Serve this directory's files at / (the demo page).
    #[arg(long)]
    www: Option<PathBuf>,
    /// Serve this directory's files at /pkg/ (needs --www).
    #[arg(long, requires = "www")]
    pkg: Option<PathBuf>,
    /// Sustained requests per second per API key (0: no limit).
    #[arg(long, default_value_t = 20.0)]
    rate_limit: f64,
    /// Requests per API key allowed at once.
    #[arg(long, default_value_t = 40)]
    rate_burst: u32,
    #[command(flatten)]
    connections: Box<ConnectionArgs>,
    /// Time limit of one custodian webhook attempt, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    webhook_timeout_ms: u64,
    /// Custodian webhook attempts in all (retried on 5xx, 408, 429, timeouts and network errors).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    webhook_attempts: u32,
    /// Origins whose pages may call the API (CORS): `*`, or exact origins separated by commas
    /// (https://wallet.example,http://localhost:5173). `*` is safe: the API takes bearer keys, never cookies.
    #[arg(long, default_value = "*", env = "WALLET_BACKUP_ALLOWED_ORIGINS")]
    allowed_origins: AllowedOrigins,
    #[cfg(feature = "dev")]
    #[command(flatten)]
    demo: DemoArgs,
    /// JWK Set of the keys that sign Firebase ID tokens (https, or http to a loopback host).
    #[arg(long, default_value = firebase::GOOGLE_JWKS_URL, env = "WALLET_BACKUP_FIREBASE_JWKS_URL")]
    firebase_jwks_url: String,
    /// The Firebase enclave releases a key only within this many seconds of the user's sign-in (auth_time).
    #[arg(long, default_value_t = firebase::DEFAULT_MAX_AUTH_AGE_SECS)]
    firebase_max_auth_age: u64,
    #[command(flatten)]
    passkey: PasskeyRpArgs,
    /// Passkey enclave: seconds from a begin call until its ceremony expires (1 to 3600).
    #[arg(long, default_value_t = passkey::DEFAULT_CEREMONY_TTL_SECS, env = "WALLET_BACKUP_PASSKEY_CEREMONY_TTL",
          value_parser = clap::value_parser!(u64).range(1..=passkey::MAX_CEREMONY_TTL_SECS))]
    passkey_ceremony_ttl: u64,
    #[command(flatten)]
    client_limits: ClientLimitArgs,
    #[command(flatten)]
    retention: RetentionArgs,
    /// Seconds between prunes of what retention lets go of (the first at start; 0: only `prune`).
    #[arg(long, default_value_t = 3600)]
    prune_interval_secs: u64,
}

/// `serve`'s TLS, exposure and metrics settings.
#[derive(Args)]
struct TransportArgs {
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key); re-read when the file changes.
    #[arg(long, requires = "tls_key", env = "WALLET_BACKUP_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert; re-read when the file changes.
    #[arg(long, requires = "tls_cert", env = "WALLET_BACKUP_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// A proxy in front of the service terminates TLS: allows plain HTTP on a non-loopback --listen.
    #[arg(long, conflicts_with = "tls_cert")]
    behind_tls_proxy: bool,
    /// The proxy's address or network (repeatable; e.g. 10.0.0.5 or 10.0.0.0/24): its connections are under the
    /// global connection cap only, and the last X-Forwarded-For address of its requests is the client's.
    #[arg(long = "trusted-proxy", value_name = "ADDR/CIDR", value_parser = parse_network)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Serve Prometheus metrics at http://ADDR/metrics (plain HTTP, no key: an address only the scraper reaches).
    #[arg(long, env = "WALLET_BACKUP_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
}

/// `prune`: remove what retention lets go of (failed and abandoned pairs, completed pairs beyond the newest
#[derive(Args)]
struct PruneArgs {
    #[command(flatten)]
    retention: RetentionArgs,
}

/// `create-client`: create a client and print its API key (shown only this once).
#[derive(Args)]
struct CreateClientArgs {
    /// A name for the client.
    #[arg(long)]
    name: String,
    /// Whether the service keeps the client's cipherTexts.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    managed_backups: bool,
    #[command(flatten)]
    webhook: WebhookArgs,
    /// The client's Firebase project id (enables the Firebase enclave routes).
    #[arg(long)]
    firebase_project_id: Option<String>,
    /// The client's own passkey relying party (instead of serve's default).
    #[command(flatten)]
    passkey: ClientPasskeyRpArgs,
    /// Guesses of the client's guess-limited PINs (1 to 100): a guard made for a new backup keeps this limit.
    #[arg(long, default_value_t = DEFAULT_PIN_GUESS_LIMIT, value_parser = pin_guess_limit)]
    pin_guess_limit: u32,
}

/// `set-pin-guess-limit`: the guesses of the client's guess-limited PINs backed up from now on.
#[derive(Args)]
struct SetPinGuessLimitArgs {
    /// The client's id.
    #[arg(long)]
    client_id: String,
    /// Guesses (1 to 100); guards of earlier backups keep the limit they were made with.
    #[arg(long, value_parser = pin_guess_limit)]
    pin_guess_limit: u32,
}

/// `--pin-guess-limit`: a number from 1 to 100.
fn pin_guess_limit(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if PIN_GUESS_LIMITS.contains(&n) => Ok(n),
        _ => Err(format!("`{text}` is not a guess limit: a number from 1 to 100")),
    }
}

/// `set-passkey-rp`: set (or with --clear remove) a client's own passkey relying party.
#[derive(Args)]
struct SetPasskeyRpArgs {
    /// The client's id, or its name if no other client has that name.
    client: String,
    /// The rp id: a lower-case domain (the app's associated domain).
    #[arg(long, required_unless_present = "clear")]
    rp_id: Option<String>,
    /// An allowed origin (repeatable): https://<rp id or subdomain>[:port], http://localhost[:port],
    /// or android:apk-key-hash:<base64url SHA-256 of the signing certificate>.
    #[arg(long = "origin", required_unless_present = "clear")]
    origins: Vec<String>,
    /// The name passkey managers show (default: the rp id).
    #[arg(long)]
    rp_name: Option<String>,
    /// Remove the client's relying party: it uses serve's default again.
    #[arg(long, conflicts_with_all = ["rp_id", "origins", "rp_name"])]
    clear: bool,
}

/// `set-firebase-project`: set the Firebase project whose ID tokens the client's Firebase enclave routes accept.
#[derive(Args)]
struct SetFirebaseProjectArgs {
    /// The client's id.
    #[arg(long)]
    client_id: String,
    /// The Firebase project id (the tokens' `aud`).
    #[arg(long)]
    firebase_project_id: String,
}

/// `serve`'s demo settings (development builds only: the `dev` feature).
#[cfg(feature = "dev")]
#[derive(Args)]
struct DemoArgs {
    /// Demo only: serve the API key in this file at /demo-config.json (needs a loopback --listen).
    #[arg(long)]
    demo_key_file: Option<PathBuf>,
    /// Demo only: the development Firebase issuer's URL (http://127.0.0.1:PORT), named in
    /// /demo-config.json and allowed in the demo page's connect-src.
    #[arg(long, requires = "demo_key_file")]
    demo_firebase_issuer: Option<String>,
    /// Demo only, repeatable: another development stand-in the demo page talks to, as
    /// NAME=http://127.0.0.1:PORT (gdrive, icloud, app-server), named in /demo-config.json
    /// `standIns` and allowed in the page's connect-src.
    #[arg(long = "demo-stand-in", value_name = "NAME=URL", requires = "demo_key_file")]
    demo_stand_ins: Vec<String>,
}

#[cfg(feature = "dev")]
impl DemoArgs {
    fn settings(&self) -> Option<wallet_backup_service::demo::DemoSettings> {
        let key_file = self.demo_key_file.clone()?;
        Some(wallet_backup_service::demo::DemoSettings {
            key_file,
            firebase_issuer: self.demo_firebase_issuer.clone(),
            stand_ins: self.demo_stand_ins.clone(),
        })
    }
}

/// `dev-firebase-issuer`: DEVELOPMENT ONLY, a stand-in for Google's Firebase token issuer, on loopback.
#[cfg(feature = "dev")]
#[derive(Args)]
struct DevFirebaseIssuerArgs {
    /// Loopback address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The Firebase project id tokens are minted for.
    #[arg(long)]
    project_id: String,
    /// RSA key file (PKCS#8 DER); created (mode 0600) if missing. Default: a new key per run.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// `Cache-Control: max-age` of GET /jwks, in seconds.
    #[arg(long, default_value_t = 3600)]
    max_age: u64,
}

/// `set-custodian-webhook`: send a client's custodian shares to the operator's webhook from now on.
#[derive(Args)]
struct SetCustodianWebhookArgs {
    /// The client's id (printed by create-client).
    #[arg(long)]
    client_id: String,
    #[command(flatten)]
    webhook: WebhookArgs,
}

/// `set-managed-custodian`: let the service keep a client's custodian shares again (from now on).
#[derive(Args)]
struct SetManagedCustodianArgs {
    /// The client's id.
    #[arg(long)]
    client_id: String,
}

#[derive(Args)]
struct WebhookArgs {
    /// Self-managed custodian storage: the operator's base URL; the service calls
    /// <URL>/backup and <URL>/backup/fetch (https, or http to a loopback host).
    #[arg(long = "custodian-webhook-url", requires = "secret_file")]
    url: Option<String>,
    /// File holding the webhook's shared secret (32 to 1024 printable ASCII bytes; one trailing newline is ignored).
    #[arg(long = "custodian-webhook-secret-file", id = "secret_file", requires = "url")]
    secret_file: Option<PathBuf>,
}

impl WebhookArgs {
    fn setting(&self) -> Result<Option<WebhookSetting>, BoxError> {
        let (Some(url), Some(file)) = (&self.url, &self.secret_file) else { return Ok(None) };
        webhook::check_url(url).map_err(|e| format!("--custodian-webhook-url: {e}"))?;
        let mut secret =
            Zeroizing::new(std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?);
        if secret.last() == Some(&b'\n') {
            secret.pop();
            if secret.last() == Some(&b'\r') {
                secret.pop();
            }
        }
        webhook::check_secret(&secret).map_err(|e| format!("--custodian-webhook-secret-file: {e}"))?;
        Ok(Some(WebhookSetting { url: url.clone(), secret }))
    }
}

/// `serve`'s limits on connections, requests in flight and requests without a valid key.
#[derive(Args)]
struct ConnectionArgs {
    /// A request head must be complete within this many milliseconds of the connection opening or of the
    /// previous answer on it.
    #[arg(long, default_value_t = millis(listener::DEFAULT_HEADER_TIMEOUT), value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout_ms: u64,
    /// A request body must be complete within this many milliseconds of its head (else 408 REQUEST_TIMEOUT);
    /// an answer the client takes no byte of for this long is dropped with its connection.
    #[arg(long, default_value_t = millis(listener::DEFAULT_BODY_TIMEOUT), value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout_ms: u64,
    /// A connection with no request in flight that receives nothing for this many milliseconds is closed.
    #[arg(long, default_value_t = millis(listener::DEFAULT_IDLE_TIMEOUT), value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_ms: u64,
    /// Open connections in all; lowered at start to fit the open-file limit (RLIMIT_NOFILE). Over it a new
    /// connection gets 503 OVERLOADED and is closed at once.
    #[arg(long, default_value_t = listener::DEFAULT_MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_connections: usize,
    /// Open connections per source address (an IPv4 address or an IPv6 /64).
    #[arg(long, default_value_t = listener::DEFAULT_MAX_CONNECTIONS_PER_IP, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_connections_per_ip: usize,
    /// Requests handled at once; more get 503 OVERLOADED with Retry-After.
    #[arg(long, default_value_t = listener::DEFAULT_MAX_REQUESTS_IN_FLIGHT, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_requests_in_flight: usize,
    /// MiB of request bodies admitted at once (each counted at its Content-Length); more get 503 OVERLOADED.
    #[arg(long, default_value_t = listener::DEFAULT_MAX_BODY_MEMORY / (1024 * 1024), value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(3..=1024 * 1024))]
    max_body_memory_mib: usize,
    /// Largest request head (request line and headers) in bytes; a larger one gets 431.
    #[arg(long, default_value_t = listener::DEFAULT_MAX_HEADER_BYTES, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=1024 * 1024))]
    max_header_bytes: usize,
    /// On SIGTERM or Ctrl-C, requests in flight get this many milliseconds to finish.
    #[arg(long, default_value_t = millis(listener::DEFAULT_SHUTDOWN_GRACE))]
    shutdown_grace_ms: u64,
    /// Sustained requests per second per source address without a valid API key (0: no limit).
    #[arg(long, default_value_t = RateLimit::ANONYMOUS.per_second)]
    anonymous_rate_limit: f64,
    /// Requests without a valid API key a source address may make at once.
    #[arg(long, default_value_t = RateLimit::ANONYMOUS.burst)]
    anonymous_rate_burst: u32,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ConnectionArgs {
    fn connections(&self) -> ConnectionLimits {
        use std::time::Duration;
        ConnectionLimits {
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            body_timeout: Duration::from_millis(self.body_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            max_requests_in_flight: self.max_requests_in_flight,
            max_body_memory: self.max_body_memory_mib.saturating_mul(1024 * 1024),
            max_header_bytes: self.max_header_bytes,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
        }
    }
}

/// `serve`'s default passkey relying party.
#[derive(Args)]
struct PasskeyRpArgs {
    /// Passkey enclave: the default relying party id, a lower-case domain (clients without their own use it).
    #[arg(long, env = "WALLET_BACKUP_PASSKEY_RP_ID")]
    passkey_rp_id: Option<String>,
    /// Passkey enclave: an allowed origin (repeatable; the environment variable takes a comma-separated list):
    /// https://<rp id or subdomain>[:port], http://localhost[:port], android:apk-key-hash:<43 base64url characters>.
    #[arg(long = "passkey-origin", env = "WALLET_BACKUP_PASSKEY_ORIGIN", value_delimiter = ',')]
    passkey_origins: Vec<String>,
    /// Passkey enclave: the relying party's name passkey managers show (default: the rp id).
    #[arg(long, env = "WALLET_BACKUP_PASSKEY_RP_NAME")]
    passkey_rp_name: Option<String>,
}

/// `create-client`'s own passkey relying party.
#[derive(Args)]
struct ClientPasskeyRpArgs {
    /// The client's own passkey relying party id (a lower-case domain).
    #[arg(long = "passkey-rp-id")]
    passkey_rp_id: Option<String>,
    /// An allowed origin of the client's relying party (repeatable).
    #[arg(long = "passkey-origin")]
    passkey_origins: Vec<String>,
    /// The name passkey managers show (default: the rp id).
    #[arg(long = "passkey-rp-name")]
    passkey_rp_name: Option<String>,
}

/// A checked relying party from an rp id, origins and name given together (all absent: `None`).
fn relying_party(
    id: Option<&str>,
    origins: &[String],
    name: Option<&str>,
) -> Result<Option<passkey::RelyingParty>, BoxError> {
    match id {
        None if origins.is_empty() && name.is_none() => Ok(None),
        None => Err("--passkey-origin and --passkey-rp-name need --passkey-rp-id".into()),
        Some(id) => Ok(Some(passkey::RelyingParty::new(id, name, origins).map_err(|e| format!("passkey: {e}"))?)),
    }
}

/// `serve`'s per-client limits (see `ClientLimits`).
#[derive(Args)]
struct ClientLimitArgs {
    /// Backups a client may have started and not completed (PENDING, STORED_CLIENT_BACKUP_SHARE).
    #[arg(long, default_value_t = ClientLimits::default().max_pending_pairs)]
    max_pending_pairs: u32,
    /// Backup share pairs a client may keep, of any status.
    #[arg(long, default_value_t = ClientLimits::default().max_pairs)]
    max_pairs: u32,
    /// Bytes of sealed custodian shares and cipherTexts a client may store.
    #[arg(long, default_value_t = ClientLimits::default().max_stored_bytes)]
    max_stored_bytes: u64,
    /// Firebase and passkey enclave keys a client may keep.
    #[arg(long, default_value_t = ClientLimits::default().max_enclave_keys)]
    max_enclave_keys: u32,
    /// Passkeys a client may register with the passkey enclave.
    #[arg(long, default_value_t = ClientLimits::default().max_passkey_credentials)]
    max_passkeys: u32,
}

impl ClientLimitArgs {
    fn limits(&self) -> ClientLimits {
        ClientLimits {
            max_pending_pairs: self.max_pending_pairs,
            max_pairs: self.max_pairs,
            max_stored_bytes: self.max_stored_bytes,
            max_enclave_keys: self.max_enclave_keys,
            max_passkey_credentials: self.max_passkeys,
        }
    }
}

/// What `serve` and `prune` let go of (see `Retention`).
#[derive(Args)]
struct RetentionArgs {
    /// Completed pairs kept per client and method, newest first (at least 1).
    #[arg(long, default_value_t = Retention::default().keep_completed,
          value_parser = clap::value_parser!(u32).range(1..))]
    keep_completed: u32,
    /// Hours after which unfinished pairs, and enclave keys without a pair, are removed.
    #[arg(long, default_value_t = 7 * 24)]
    abandoned_after_hours: u64,
}

impl RetentionArgs {
    fn retention(&self, prune_interval_secs: u64) -> Retention {
        Retention {
            keep_completed: self.keep_completed,
            abandoned_after: std::time::Duration::from_secs(self.abandoned_after_hours.saturating_mul(3600)),
            prune_interval: std::time::Duration::from_secs(prune_interval_secs),
        }
    }
}

#[derive(Subcommand)]
enum KmsCommand {
    /// Add a new master key and make it current (old keys stay, so old records still open).
    Rotate,
    /// Re-wrap every stored data key under the current master key.
    Rewrap,
    /// Re-wrap every stored data key under another backend's key (resumable; safe while the service
    /// serves with that backend among --kms/--kms-also).
    Migrate(MigrateArgs),
    /// The PKCS#11 backend's token.
    Pkcs11 {
        #[command(subcommand)]
        command: Pkcs11Command,
    },
}

#[derive(Subcommand)]
enum Pkcs11Command {
    /// Generate the master key on the token (--pkcs11-token or --pkcs11-slot, --pkcs11-pin-file,
    /// --pkcs11-key-label): AES-256, sensitive, never extractable. Prints its key id.
    CreateKey,
}

/// `kms migrate`: re-wrap every stored data key from the configured backends to another one.
#[derive(Args)]
struct MigrateArgs {
    /// The backend to move every record to (its settings are the global flags, e.g. --aws-kms-key-id).
    #[arg(long, value_enum)]
    to: KmsBackend,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.log_format;
    let filter = quiet_webauthn(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    );
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        // Fields at the top level beside `message`, no span lists: one flat object per line.
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).with_span_list(false).init(),
    }
    let fail = |message: String| {
        match format {
            // Every stderr line stays one JSON object.
            LogFormat::Json => tracing::error!(error = %message, "exiting"),
            LogFormat::Text => eprintln!("error: {message}"),
        }
        ExitCode::FAILURE
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e.to_string()),
    }
}

type BoxError = Box<dyn std::error::Error>;

async fn run(cli: Cli) -> Result<(), BoxError> {
    let backend = cli.backend.backend();
    match cli.command {
        Command::Serve(args) => serve(backend, args).await,
        Command::CreateClient(args) => create_client(backend, args).await,
        Command::SetCustodianWebhook(args) => set_custodian_webhook(backend, args).await,
        Command::SetFirebaseProject(args) => set_firebase_project(backend, args).await,
        Command::SetPinGuessLimit(args) => set_pin_guess_limit(backend, args).await,
        Command::SetPasskeyRp(args) => set_passkey_rp(backend, args).await,
        #[cfg(feature = "dev")]
        Command::DevFirebaseIssuer(args) => dev_firebase_issuer(backend, args).await,
        Command::SetManagedCustodian(args) => set_managed_custodian(backend, args).await,
        Command::Prune(args) => prune(backend, args).await,
        Command::Kms { command: KmsCommand::Rotate } => kms_rotate(backend).await,
        Command::Kms { command: KmsCommand::Rewrap } => kms_rewrap(backend).await,
        Command::Kms { command: KmsCommand::Migrate(MigrateArgs { to }) } => kms_migrate(backend, to).await,
        Command::Kms { command: KmsCommand::Pkcs11 { command: Pkcs11Command::CreateKey } } => {
            kms_pkcs11_create_key(backend).await
        }
    }
}

async fn serve(backend: Backend, args: ServeArgs) -> Result<(), BoxError> {
    #[cfg(feature = "dev")]
    let demo = args.demo.settings();
    let ServeArgs {
        listen,
        transport,
        www,
        pkg,
        rate_limit,
        rate_burst,
        connections,
        webhook_timeout_ms,
        webhook_attempts,
        allowed_origins,
        firebase_jwks_url,
        firebase_max_auth_age,
        passkey,
        passkey_ceremony_ttl,
        client_limits,
        retention,
        prune_interval_secs,
        ..
    } = args;
    let TransportArgs { tls_cert, tls_key, behind_tls_proxy, trusted_proxies, metrics_listen } = *transport;
    if !(rate_limit.is_finite() && rate_limit >= 0.0) {
        return Err("--rate-limit must be a number >= 0".into());
    }
    if !(connections.anonymous_rate_limit.is_finite() && connections.anonymous_rate_limit >= 0.0) {
        return Err("--anonymous-rate-limit must be a number >= 0".into());
    }
    let relying_party =
        relying_party(passkey.passkey_rp_id.as_deref(), &passkey.passkey_origins, passkey.passkey_rp_name.as_deref())?;
    let statics = www.map(|www| Statics { www, pkg });
    let config = ServeConfig {
        listen,
        backend,
        statics,
        rate_limit: RateLimit { per_second: rate_limit, burst: rate_burst },
        anonymous_rate_limit: RateLimit {
            per_second: connections.anonymous_rate_limit,
            burst: connections.anonymous_rate_burst,
        },
        connections: connections.connections(),
        webhook: WebhookPolicy {
            timeout: std::time::Duration::from_millis(webhook_timeout_ms.max(1)),
            attempts: webhook_attempts,
            ..WebhookPolicy::default()
        },
        allowed_origins,
        #[cfg(feature = "dev")]
        demo,
        firebase: FirebaseConfig {
            jwks_url: firebase_jwks_url,
            max_auth_age_secs: firebase_max_auth_age,
            ..FirebaseConfig::default()
        },
        passkey: PasskeyConfig { relying_party, ceremony_ttl: std::time::Duration::from_secs(passkey_ceremony_ttl) },
        limits: client_limits.limits(),
        retention: retention.retention(prune_interval_secs),
        tls: tls_cert.zip(tls_key).map(|(cert, key)| TlsFiles { cert, key }),
        behind_tls_proxy,
        trusted_proxies: TrustedProxies::new(trusted_proxies),
        metrics_listen,
    };
    let mut running = start(config).await?;
    println!("listening on {}", running.url());
    if let Some(metrics) = running.metrics_addr() {
        println!("metrics on http://{metrics}/metrics");
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.signal_shutdown();
    running.wait().await?;
    Ok(())
}

async fn create_client(backend: Backend, args: CreateClientArgs) -> Result<(), BoxError> {
    let CreateClientArgs { name, managed_backups, webhook, firebase_project_id, passkey, pin_guess_limit } = args;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err("--name must be 1 to 200 characters, without control characters".into());
    }
    if let Some(project) = &firebase_project_id {
        check_project_id(project)?;
    }
    let rp =
        relying_party(passkey.passkey_rp_id.as_deref(), &passkey.passkey_origins, passkey.passkey_rp_name.as_deref())?;
    let setting = webhook.setting()?;
    let (store, kms) = open_backend(&backend).await?;
    let rp = rp.map(|rp| rp.to_client());
    let new = NewClient {
        name,
        managed_backups,
        webhook: setting.as_ref(),
        firebase_project_id: firebase_project_id.as_deref(),
        passkey_rp: rp.as_ref(),
        pin_guess_limit,
    };
    let created = store.create_client(&kms, &new).await;
    store.close().await;
    let (client, key) = created?;
    eprintln!(
        "created client {} ({}), managed backups {}, custodian storage {}, Firebase project {}, PIN guess limit {}",
        client.id,
        client.name,
        client.managed_backups,
        client.custodian_storage.as_str(),
        client.firebase_project_id.as_deref().unwrap_or("none"),
        pin_guess_limit
    );
    println!("{}", key.expose());
    Ok(())
}

async fn set_custodian_webhook(backend: Backend, args: SetCustodianWebhookArgs) -> Result<(), BoxError> {
    let SetCustodianWebhookArgs { client_id, webhook } = args;
    let setting = webhook.setting()?.ok_or("--custodian-webhook-url and --custodian-webhook-secret-file are needed")?;
    let (store, kms) = open_backend(&backend).await?;
    let done = store.set_custodian_webhook(&kms, &client_id, &setting).await;
    store.close().await;
    if !done? {
        return Err(format!("no client {client_id}").into());
    }
    eprintln!("client {client_id}: custodian storage WEBHOOK for new pairs");
    Ok(())
}

async fn set_firebase_project(backend: Backend, args: SetFirebaseProjectArgs) -> Result<(), BoxError> {
    let SetFirebaseProjectArgs { client_id, firebase_project_id } = args;
    check_project_id(&firebase_project_id)?;
    let (store, _kms) = open_backend(&backend).await?;
    let done = store.set_firebase_project(&client_id, Some(&firebase_project_id)).await;
    store.close().await;
    if !done? {
        return Err(format!("no client {client_id}").into());
    }
    eprintln!("client {client_id}: Firebase project {firebase_project_id}");
    Ok(())
}

async fn set_pin_guess_limit(backend: Backend, args: SetPinGuessLimitArgs) -> Result<(), BoxError> {
    let SetPinGuessLimitArgs { client_id, pin_guess_limit } = args;
    let (store, _kms) = open_backend(&backend).await?;
    let done = store.set_pin_guess_limit(&client_id, pin_guess_limit).await;
    store.close().await;
    if !done? {
        return Err(format!("no client {client_id}").into());
    }
    eprintln!("client {client_id}: {pin_guess_limit} guesses for guess-limited PINs backed up from now on");
    Ok(())
}

async fn set_passkey_rp(backend: Backend, args: SetPasskeyRpArgs) -> Result<(), BoxError> {
    let SetPasskeyRpArgs { client, rp_id, origins, rp_name, clear } = args;
    let rp = if clear {
        None
    } else {
        let id = rp_id.as_deref().ok_or("--rp-id is needed (or --clear)")?;
        Some(passkey::RelyingParty::new(id, rp_name.as_deref(), &origins).map_err(|e| format!("passkey: {e}"))?)
    };
    let (store, _kms) = open_backend(&backend).await?;
    let result = async {
        let ids = store.client_ids_named(&client).await?;
        let [id] = ids.as_slice() else {
            return Ok(Err(if ids.is_empty() {
                format!("no client with the id or name {client}")
            } else {
                format!("{} clients are named {client}; give the client id", ids.len())
            }));
        };
        store.set_passkey_rp(id, rp.as_ref().map(|rp| rp.to_client()).as_ref()).await?;
        Ok::<_, wallet_backup_service::store::StoreError>(Ok(id.clone()))
    }
    .await;
    store.close().await;
    let id = result??;
    match &rp {
        Some(rp) => {
            eprintln!("client {id}: passkey relying party {} ({}), origins {}", rp.id, rp.name, rp.origins.join(" "))
        }
        None => eprintln!("client {id}: no own passkey relying party (serve's default applies)"),
    }
    Ok(())
}

#[cfg(feature = "dev")]
async fn dev_firebase_issuer(_backend: Backend, args: DevFirebaseIssuerArgs) -> Result<(), BoxError> {
    let DevFirebaseIssuerArgs { listen, project_id, key_file, max_age } = args;
    check_project_id(&project_id)?;
    let issuer = match &key_file {
        Some(path) => firebase::dev::DevIssuer::load_or_create(path, &project_id)?,
        None => firebase::dev::DevIssuer::generate(&project_id)?,
    };
    let server = firebase::dev::IssuerServer::start(listen, issuer, max_age).await?;
    eprintln!(
        "DEVELOPMENT Firebase token issuer (a stand-in for Google, never for production) for project \
             {project_id}: GET /jwks, POST /token"
    );
    println!("listening on http://{}", server.addr());
    shutdown_signal().await;
    Ok(())
}

async fn set_managed_custodian(backend: Backend, args: SetManagedCustodianArgs) -> Result<(), BoxError> {
    let SetManagedCustodianArgs { client_id } = args;
    let (store, _kms) = open_backend(&backend).await?;
    let done = store.set_custodian_managed(&client_id).await;
    store.close().await;
    if !done? {
        return Err(format!("no client {client_id}").into());
    }
    eprintln!("client {client_id}: custodian storage MANAGED for new pairs");
    Ok(())
}

async fn prune(backend: Backend, args: PruneArgs) -> Result<(), BoxError> {
    let PruneArgs { retention } = args;
    let (store, _kms) = open_backend(&backend).await?;
    let store = store.with_limits(ClientLimits::default(), retention.retention(0));
    let report = store.prune().await;
    store.close().await;
    let report = report?;
    eprintln!(
        "pruned {} failed, {} abandoned and {} superseded pair(s), {} enclave key(s) without a pair, \
             {} expired ceremonies",
        report.failed, report.abandoned, report.superseded, report.enclave_keys, report.ceremonies
    );
    Ok(())
}

/// `kms pkcs11 create-key`: the master key made on the token; its key id on stdout.
async fn kms_pkcs11_create_key(backend: Backend) -> Result<(), BoxError> {
    let args = backend.kms.pkcs11.ok_or("the pkcs11 flags are missing")?;
    let key_id = tokio::task::spawn_blocking(move || kms::pkcs11::create_key(&args)).await??;
    println!("{key_id}");
    Ok(())
}

async fn kms_rotate(backend: Backend) -> Result<(), BoxError> {
    let (store, kms) = open_backend(&backend).await?;
    store.close().await;
    let Some(local) = kms.local() else {
        return Err(
            "kms rotate rotates the local key file: the local backend is not selected (rotate AWS keys in AWS)".into(),
        );
    };
    let id = local.rotate()?;
    eprintln!(
        "new current master key {id} in {}; run `kms rewrap` to move stored records to it",
        local.path().display()
    );
    println!("{id}");
    Ok(())
}

async fn kms_rewrap(backend: Backend) -> Result<(), BoxError> {
    let (store, kms) = open_backend(&backend).await?;
    rewrap_and_report(store, &kms).await
}

/// `kms migrate --to`: the configured backends unwrap, `to` wraps; every record not yet under
/// `to`'s key is re-wrapped in its own guarded write, so a rerun after a crash finishes the rest.
async fn kms_migrate(backend: Backend, to: KmsBackend) -> Result<(), BoxError> {
    let backend = Backend { kms: backend.kms.migrating_to(to), ..backend };
    let (store, kms) = open_backend(&backend).await?;
    rewrap_and_report(store, &kms).await
}

/// Re-wraps every record under `kms`'s current key and reports, on stderr, how many moved and how
/// many records each master key wraps now.
async fn rewrap_and_report(store: wallet_backup_service::Store, kms: &KmsChain) -> Result<(), BoxError> {
    let report = store.rewrap_all(kms).await;
    let counts = store.key_id_counts().await;
    let firebase_counts = store.firebase_key_id_counts().await;
    let passkey_counts = store.passkey_key_id_counts().await;
    let webhook_counts = store.webhook_key_id_counts().await;
    let pin_guard_counts = store.pin_guard_key_id_counts().await;
    store.close().await;
    let report = report?;
    eprintln!("re-wrapped {} record(s) under {}", report.rewrapped, report.key_id);
    for (key_id, n) in counts? {
        eprintln!("  {key_id}: {n} record(s)");
    }
    for (key_id, n) in webhook_counts? {
        eprintln!("  {key_id}: {n} webhook secret(s)");
    }
    for (key_id, n) in firebase_counts? {
        eprintln!("  {key_id}: {n} Firebase enclave key(s)");
    }
    for (key_id, n) in passkey_counts? {
        eprintln!("  {key_id}: {n} passkey enclave key(s)");
    }
    for (key_id, n) in pin_guard_counts? {
        eprintln!("  {key_id}: {n} guess-limited PIN key(s)");
    }
    if !report.failed.is_empty() {
        return Err(format!(
            "{} record(s) could not be unwrapped and were left as they were: {}",
            report.failed.len(),
            report.failed.join(", ")
        )
        .into());
    }
    Ok(())
}

/// webauthn-rs logs parts of credentials and client data at debug level:
/// its crates log warnings and errors only, whatever `RUST_LOG` says.
fn quiet_webauthn(filter: tracing_subscriber::EnvFilter) -> tracing_subscriber::EnvFilter {
    ["webauthn_rs=warn", "webauthn_rs_core=warn", "webauthn_rs_proto=warn"]
        .into_iter()
        .filter_map(|d| d.parse().ok())
        .fold(filter, |filter, directive| filter.add_directive(directive))
}

fn check_project_id(project: &str) -> Result<(), BoxError> {
    if is_firebase_project_id(project) {
        Ok(())
    } else {
        Err("a Firebase project id is 1 to 100 lower-case letters, digits and hyphens".into())
    }
}

/// `--trusted-proxy`: an address (a network of one) or a network in CIDR notation.
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("`{text}` is neither an address nor a network (ADDR/PREFIX)"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
