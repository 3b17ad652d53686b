//! The database: one code path for SQLite and PostgreSQL through `sqlx::Any`.
//!
//! Every statement is portable SQL with `$n` placeholders (SQLite reads
//! `$n` as the n-th parameter) and `RETURNING` (SQLite ≥ 3.35); columns are
//! only TEXT and BIGINT, which both drivers map to `String` and `i64`.
//! Migrations (`service/migrations/`) are embedded and run at start.
//!
//! Durability: every write goes through [`Store::write`], one transaction
//! whose COMMIT must answer before the write counts; a database that cannot
//! take it (disk full, read-only, connection lost) is
//! [`StoreError::Unavailable`], never a success.
//!
//! Atomicity: every state change is a single statement (an `INSERT` of a
//! whole pair with its sealed custodian share, or an `UPDATE … WHERE status
//! = …` that checks and moves the status at once) in that transaction, or a
//! few (a client with its key). A reader therefore never sees a half-written
//! pair, and two racing requests cannot both move the same pair. Every query
//! on pairs carries the client id in its `WHERE`: no statement can touch
//! another client's rows.
//!
//! SQLite: the database file is created on first start, in WAL mode with
//! `synchronous=FULL`, so a write acknowledged to a client survives the
//! process being killed (and, with FULL, a power loss).

use std::path::Path;
use std::str::FromStr;

use base64ct::{Base64UrlUnpadded, Encoding};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions};

use crate::seal;

mod clients;
mod enclave;
mod firebase;
mod health;
mod pairs;
pub mod passkey;
mod pin_guard;
mod retention;
mod rewrap;

pub use clients::{NewClient, WebhookSetting};
pub use enclave::PutKeyOutcome;
pub use pairs::{NewCustodianShare, Pair, Transition};
pub use pin_guard::{
    pin_guard_aad, Guess, PinGuard, CHALLENGE_LEN, DEFAULT_PIN_GUESS_LIMIT, PIN_GUARD_KEYS_LEN, PIN_GUESS_LIMITS,
};
pub use retention::{ClientLimits, PruneReport, Quota, Retention};
pub use rewrap::RewrapReport;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The longest a request waits for a database connection before it is
/// answered 503 `DATABASE_UNAVAILABLE`.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Store failures.
#[derive(Debug)]
pub enum StoreError {
    /// The database cannot serve the statement now: disk full, read-only,
    /// an I/O error, busy past its timeout, the connection lost, a
    /// serialization failure (see [`is_unavailable`]). The transaction was
    /// rolled back: nothing of it was written. The API answers 503
    /// `DATABASE_UNAVAILABLE`; retrying later may succeed.
    Unavailable(sqlx::Error),
    /// The database failed otherwise (a bug, or a schema that does not match).
    Db(sqlx::Error),
    /// Migrations failed.
    Migrate(sqlx::migrate::MigrateError),
    /// Bad configuration (e.g. an unsupported database URL).
    Config(String),
    /// A stored value is not what the schema promises.
    Corrupt(String),
    /// The random source failed.
    Random,
    /// Sealing or opening a secret failed (the KMS, or a record that does not open).
    Seal(seal::SealError),
    /// The write would take the client past one of its [`ClientLimits`];
    /// nothing was written.
    OverQuota(Quota),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(e) => write!(f, "database unavailable: {e}"),
            Self::Db(e) => write!(f, "database: {e}"),
            Self::Migrate(e) => write!(f, "migrations: {e}"),
            Self::Config(e) => write!(f, "configuration: {e}"),
            Self::Corrupt(e) => write!(f, "stored data: {e}"),
            Self::Random => f.write_str("random source failed"),
            Self::Seal(e) => write!(f, "sealing: {e}"),
            Self::OverQuota(quota) => write!(f, "{quota}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            Self::Unavailable(e)
        } else {
            Self::Db(e)
        }
    }
}

/// An `INSERT`'s outcome: `Some` of what it returned, or `None` when it met
/// a row with the same unique key and wrote nothing.
fn unless_duplicate<T>(result: Result<T, sqlx::Error>) -> Result<Option<T>, StoreError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl From<seal::SealError> for StoreError {
    fn from(e: seal::SealError) -> Self {
        Self::Seal(e)
    }
}

/// Whether `error` says the database cannot take the statement now rather
/// than that the statement is wrong: the storage failures a running service
/// must answer with 503 and survive.
///
/// - SQLite (primary result codes): `BUSY` (5, past `busy_timeout`),
///   `LOCKED` (6), `NOMEM` (7), `READONLY` (8), `IOERR` (10), `FULL` (13),
///   `CANTOPEN` (14).
/// - PostgreSQL (SQLSTATE): class 08 (connection exception), 53
///   (insufficient resources: `53100` disk full), 57 (operator
///   intervention: shutdown, cancelled), 58 (system I/O error), `40001`
///   (serialization failure), `40P01` (deadlock), `25006` (read-only
///   transaction).
/// - Any driver: I/O and TLS errors, a broken protocol stream, the pool
///   timed out or closed, the SQLite worker gone.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                let code = sqlx::error::DatabaseError::code(sqlite).and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
                matches!(code & 0xff, 5 | 6 | 7 | 8 | 10 | 13 | 14)
            } else if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let state = pg.code();
                matches!(&state[..2.min(state.len())], "08" | "53" | "57" | "58")
                    || matches!(state, "40001" | "40P01" | "25006")
            } else {
                false
            }
        }
        _ => false,
    }
}

/// A failure to open the database at start, said so that an operator can fix it: a TLS
/// handshake or a server certificate that is refused is the configuration's fault (the URL's
/// `sslmode` and `sslrootcert`, or the server's certificate), not the database being down.
fn connect_failure(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Tls(e) => {
            StoreError::Config(format!("the database URL asks for TLS (sslmode), which failed: {e}"))
        }
        sqlx::Error::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(e) => StoreError::Config(format!(
                "the database server's TLS certificate is refused: {e} (with sslmode=verify-full it must chain to \
                 the URL's sslrootcert or a system root, and name the URL's host)"
            )),
            None if io.kind() == std::io::ErrorKind::NotFound => StoreError::Config(format!(
                "cannot open the database: {io} (a file the database URL names, such as its sslrootcert, is missing)"
            )),
            None => error.into(),
        },
        _ => error.into(),
    }
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn unb64(text: &str, what: &str) -> Result<Vec<u8>, StoreError> {
    Base64UrlUnpadded::decode_vec(text).map_err(|_| StoreError::Corrupt(format!("{what} is not base64url")))
}

/// A pooled connection inside [`Store::write`]'s transaction. Dropped while
/// `open` (the transaction's end is unknown: a failed rollback, or a write
/// abandoned half-way), the connection is closed, which rolls back whatever
/// it holds, rather than returned to the pool.
struct WriteTransaction {
    conn: PoolConnection<Any>,
    open: bool,
}

impl Drop for WriteTransaction {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

/// The `sqlite://` URL of the database file in `data_dir` (created if missing).
pub fn sqlite_url(data_dir: &Path) -> String {
    let path = data_dir.join(crate::DATABASE_FILE);
    let mut encoded = String::new();
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("sqlite://{encoded}?mode=rwc")
}

/// The database, behind a connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    limits: ClientLimits,
    retention: Retention,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config("the database URL must start with sqlite: or postgres:".into()));
        };
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        if backend == Backend::Sqlite {
            // WAL is a property of the file: set it once, before the pool opens.
            let mut conn = options.connect().await?;
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL").fetch_one(&mut conn).await?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Config(format!("SQLite refused WAL mode (journal_mode = {mode})")));
            }
            sqlx::Connection::close(conn).await?;
        }
        let pool = AnyPoolOptions::new()
            // SQLite takes one writer at a time; with several connections the
            // losers sleep in SQLite's busy handler (up to 100 ms a round), which
            // put p99 at 180-240 ms and the worst case above 1 s at 8 concurrent
            // backups. One connection queues them fairly in the pool instead:
            // same throughput, p99 30-40 ms (`npm run bench`, section 6).
            .max_connections(if backend == Backend::Sqlite { 1 } else { 16 })
            // A request waits at most this long for a connection: with the database
            // gone, it gets its 503 in seconds (sqlx's default wait is 30 s).
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(connect_failure)?;
        // On PostgreSQL the migrator holds an advisory lock (`pg_advisory_lock`, keyed on the
        // database name) while it checks and applies: instances starting at once on one
        // database take turns, and the later ones find the migrations applied.
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(Self { pool, backend, limits: ClientLimits::default(), retention: Retention::default() })
    }

    /// This store with `limits` and `retention` in force (the defaults otherwise).
    pub fn with_limits(mut self, limits: ClientLimits, retention: Retention) -> Self {
        self.limits = limits;
        self.retention = retention;
        self
    }

    /// The retention in force.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool (for operator tools and tests).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs `work` in one transaction and commits it: the one way the store
    /// writes. The outcome is known only once COMMIT has answered, so a write
    /// that did not reach the disk is an error ([`StoreError::Unavailable`]
    /// for a full disk), never an acknowledgement.
    ///
    /// Why not less: in autocommit mode SQLite commits a statement when it is
    /// reset, and sqlx resets a `RETURNING` statement after `fetch_one` /
    /// `fetch_optional` took its first row, discarding a failed commit's
    /// error. And why not sqlx's `Transaction`: when SQLite rolls a
    /// transaction back by itself (a COMMIT that failed with `SQLITE_FULL`
    /// may), sqlx's count of open transactions goes wrong, and later
    /// "commits" become savepoint releases inside a transaction that is never
    /// committed: acknowledged, then lost.
    ///
    /// On any error the transaction is rolled back; a connection whose
    /// rollback fails, or whose write is abandoned half-way (the request was
    /// cancelled), is closed instead of returned to the pool, so no statement
    /// ever runs inside a transaction it did not open.
    async fn write<T>(
        &self,
        work: impl AsyncFnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = WriteTransaction { conn: self.pool.acquire().await?, open: true };
        let begin = match self.backend {
            // Takes the write lock at once: a writer never fails half-way for want of it.
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        if let Err(e) = sqlx::query(begin).execute(&mut *tx.conn).await {
            tx.open = false; // no transaction began: the connection is as it was
            return Err(e.into());
        }
        let result = async {
            let value = work(&mut tx.conn).await?;
            sqlx::query("COMMIT").execute(&mut *tx.conn).await?;
            Ok(value)
        }
        .await;
        tx.open = result.is_err() && sqlx::query("ROLLBACK").execute(&mut *tx.conn).await.is_err();
        result
    }
}
