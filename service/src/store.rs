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
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use sqlx::{AnyPool, ConnectOptions, Row};

use crate::apikey::ApiKey;
use crate::kms::{Kms, WrappedKey};
use crate::model::{BackupMethod, Client, CustodianStorage, PairStatus};
use crate::seal::{self, Sealed};
use crate::util::{now_micros, random_id};
use zeroize::Zeroizing;

pub mod passkey;

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

/// A backup share pair as stored (without its cipherText, which can be 2 MiB).
#[derive(Debug, Clone)]
pub struct Pair {
    /// Random id, 32 hex characters.
    pub id: String,
    /// Owning client.
    pub client_id: String,
    /// Backup method.
    pub backup_method: BackupMethod,
    /// The envelope's backup id (32 lower-case hex characters).
    pub backup_id: String,
    /// Status.
    pub status: PairStatus,
    /// The custodian share, sealed; `None` when it went to the client's
    /// webhook (custodian storage `WEBHOOK`) and the service has none.
    pub custodian_share: Option<Sealed>,
    /// Whether the service holds a cipherText for this pair.
    pub has_cipher_text: bool,
    /// Creation time, µs since the epoch.
    pub created_at: i64,
    /// Last change, µs since the epoch.
    pub updated_at: i64,
    /// When it was confirmed, µs since the epoch.
    pub completed_at: Option<i64>,
}

/// The outcome of a status change on one pair.
#[derive(Debug)]
pub enum Transition {
    /// Done (or had been done already, with the same effect): the pair now.
    Done(Pair),
    /// The client has no pair with this id.
    NotFound,
    /// The pair's status does not allow the change: the pair as it is.
    Conflict(Pair),
}

/// What `rewrap_all` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RewrapReport {
    /// The master key every record was moved to.
    pub key_id: String,
    /// Records re-wrapped.
    pub rewrapped: u64,
    /// Ids of records that could not be unwrapped (left as they were).
    pub failed: Vec<String>,
}

const PAIR_COLUMNS: &str = "id, client_id, backup_method, backup_id, status, custodian_share_sealed, \
     custodian_key_id, custodian_wrapped_key, custodian_storage, \
     CAST(CASE WHEN cipher_text IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_cipher_text, \
     created_at, updated_at, completed_at";

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn unb64(text: &str, what: &str) -> Result<Vec<u8>, StoreError> {
    Base64UrlUnpadded::decode_vec(text).map_err(|_| StoreError::Corrupt(format!("{what} is not base64url")))
}

/// The sealed key of an enclave key row (Firebase or passkey): its
/// `key_sealed`, `key_id` and `wrapped_key` columns.
fn sealed_key_of_row(row: &AnyRow) -> Result<Sealed, StoreError> {
    let sealed_text: String = row.try_get("key_sealed")?;
    let wrapped_text: String = row.try_get("wrapped_key")?;
    Ok(Sealed {
        ciphertext: unb64(&sealed_text, "sealed encryption key")?,
        wrapped_key: WrappedKey {
            key_id: row.try_get("key_id")?,
            ciphertext: unb64(&wrapped_text, "wrapped data key")?,
        },
    })
}

/// Whether a key write that met a stored key wrote the same one (`stored`
/// equal to `key`, compared in constant time).
fn put_key_outcome(stored: Option<&[u8]>, key: &[u8]) -> PutKeyOutcome {
    match stored {
        Some(stored) if bool::from(subtle::ConstantTimeEq::ct_eq(stored, key)) => PutKeyOutcome::AlreadyStored,
        _ => PutKeyOutcome::Conflict,
    }
}

fn pair_from_row(row: &AnyRow) -> Result<Pair, StoreError> {
    let method: String = row.try_get("backup_method")?;
    let status: String = row.try_get("status")?;
    let sealed: String = row.try_get("custodian_share_sealed")?;
    let wrapped: String = row.try_get("custodian_wrapped_key")?;
    let storage: String = row.try_get("custodian_storage")?;
    let custodian_share = match CustodianStorage::parse(&storage) {
        Some(CustodianStorage::Managed) => Some(Sealed {
            ciphertext: unb64(&sealed, "sealed custodian share")?,
            wrapped_key: WrappedKey {
                key_id: row.try_get("custodian_key_id")?,
                ciphertext: unb64(&wrapped, "wrapped data key")?,
            },
        }),
        Some(CustodianStorage::Webhook) => None,
        None => return Err(StoreError::Corrupt(format!("unknown custodian storage `{storage}`"))),
    };
    Ok(Pair {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        backup_method: BackupMethod::parse(&method)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown backup method `{method}`")))?,
        backup_id: row.try_get("backup_id")?,
        status: PairStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("unknown status `{status}`")))?,
        custodian_share,
        has_cipher_text: row.try_get::<i64, _>("has_cipher_text")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

fn client_from_row(row: &AnyRow) -> Result<Client, StoreError> {
    Ok(Client {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        managed_backups: row.try_get::<i64, _>("managed_backups")? != 0,
        custodian_storage: {
            let storage: String = row.try_get("custodian_storage")?;
            CustodianStorage::parse(&storage)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown custodian storage `{storage}`")))?
        },
        firebase_project_id: row.try_get("firebase_project_id")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The client's pair with this id, read on `conn`.
async fn pair_in(conn: &mut AnyConnection, client_id: &str, pair_id: &str) -> Result<Option<Pair>, StoreError> {
    let sql = format!("SELECT {PAIR_COLUMNS} FROM backup_share_pairs WHERE id = $1 AND client_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(pair_id.to_owned())
        .bind(client_id.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(pair_from_row).transpose()
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
            .await?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(Self { pool, backend })
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

    /// Creates a client and its first API key, in one transaction.
    pub async fn create_client(&self, name: &str, managed_backups: bool) -> Result<(Client, ApiKey), StoreError> {
        self.create_client_with(name, managed_backups, None).await
    }

    /// Creates a client and its first API key, in one transaction; with
    /// `webhook`, its custodian storage is `WEBHOOK` with that setting
    /// (checked by the caller), the secret sealed under the KMS.
    pub async fn create_client_with(
        &self,
        name: &str,
        managed_backups: bool,
        webhook: Option<(&dyn Kms, &WebhookSetting)>,
    ) -> Result<(Client, ApiKey), StoreError> {
        self.create_client_full(name, managed_backups, webhook, None).await
    }

    /// [`Store::create_client_with`], and with `firebase_project_id` (checked
    /// by the caller) the client's Firebase project, in the same transaction.
    pub async fn create_client_full(
        &self,
        name: &str,
        managed_backups: bool,
        webhook: Option<(&dyn Kms, &WebhookSetting)>,
        firebase_project_id: Option<&str>,
    ) -> Result<(Client, ApiKey), StoreError> {
        self.create_client_all(name, managed_backups, webhook, firebase_project_id, None).await
    }

    /// [`Store::create_client_full`], and with `passkey_rp` (checked by the
    /// caller) the client's own passkey relying party, in the same transaction.
    pub async fn create_client_all(
        &self,
        name: &str,
        managed_backups: bool,
        webhook: Option<(&dyn Kms, &WebhookSetting)>,
        firebase_project_id: Option<&str>,
        passkey_rp: Option<&passkey::ClientRelyingParty>,
    ) -> Result<(Client, ApiKey), StoreError> {
        let key = ApiKey::generate().map_err(|_| StoreError::Random)?;
        let client = Client {
            id: random_id().map_err(|_| StoreError::Random)?,
            name: name.to_owned(),
            managed_backups,
            custodian_storage: if webhook.is_some() { CustodianStorage::Webhook } else { CustodianStorage::Managed },
            firebase_project_id: firebase_project_id.map(str::to_owned),
            created_at: now_micros(),
        };
        let sealed = match webhook {
            Some((kms, setting)) => Some(seal_webhook(kms, &client.id, setting).await?),
            None => None,
        };
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO clients (id, name, managed_backups, created_at, firebase_project_id) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(client.id.clone())
            .bind(client.name.clone())
            .bind(i64::from(managed_backups))
            .bind(client.created_at)
            .bind(client.firebase_project_id.clone())
            .execute(&mut *conn)
            .await?;
            if let Some(sealed) = sealed {
                sealed.update(&client.id).execute(&mut *conn).await?;
            }
            if let Some(rp) = passkey_rp {
                sqlx::query(
                    "UPDATE clients SET passkey_rp_id = $1, passkey_rp_name = $2, passkey_origins = $3 WHERE id = $4",
                )
                .bind(rp.id.clone())
                .bind(rp.name.clone())
                .bind(rp.origins.join("\n"))
                .bind(client.id.clone())
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query("INSERT INTO api_keys (key_hash, client_id, created_at) VALUES ($1, $2, $3)")
                .bind(key.hash())
                .bind(client.id.clone())
                .bind(client.created_at)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
        .await?;
        Ok((client, key))
    }

    /// Makes the client's custodian storage `WEBHOOK` with this setting
    /// (for pairs created from now on). `Ok(false)`: no such client.
    pub async fn set_custodian_webhook(
        &self,
        kms: &dyn Kms,
        client_id: &str,
        setting: &WebhookSetting,
    ) -> Result<bool, StoreError> {
        let sealed = seal_webhook(kms, client_id, setting).await?;
        self.write(async |conn| Ok(sealed.update(client_id).execute(&mut *conn).await?.rows_affected() == 1)).await
    }

    /// Makes the client's custodian storage `MANAGED` again and forgets its
    /// webhook setting. `Ok(false)`: no such client.
    pub async fn set_custodian_managed(&self, client_id: &str) -> Result<bool, StoreError> {
        self.write(async |conn| {
            let done = sqlx::query(
                "UPDATE clients SET custodian_storage = 'MANAGED', custodian_webhook_url = NULL, \
                 custodian_webhook_secret_sealed = NULL, custodian_webhook_key_id = NULL, \
                 custodian_webhook_wrapped_key = NULL WHERE id = $1",
            )
            .bind(client_id.to_owned())
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// The client's webhook setting, its secret opened. `Ok(None)`: the
    /// client's custodian storage is not `WEBHOOK`.
    pub async fn custodian_webhook(
        &self,
        kms: &dyn Kms,
        client_id: &str,
    ) -> Result<Option<WebhookSetting>, StoreError> {
        let row = sqlx::query(
            "SELECT custodian_webhook_url, custodian_webhook_secret_sealed, custodian_webhook_key_id, \
             custodian_webhook_wrapped_key FROM clients WHERE id = $1 AND custodian_storage = 'WEBHOOK'",
        )
        .bind(client_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let get = |column: &str| -> Result<String, StoreError> {
            row.try_get::<Option<String>, _>(column)?
                .ok_or_else(|| StoreError::Corrupt(format!("WEBHOOK client without {column}")))
        };
        let sealed = Sealed {
            ciphertext: unb64(&get("custodian_webhook_secret_sealed")?, "sealed webhook secret")?,
            wrapped_key: WrappedKey {
                key_id: get("custodian_webhook_key_id")?,
                ciphertext: unb64(&get("custodian_webhook_wrapped_key")?, "wrapped data key")?,
            },
        };
        let aad = seal::associated_data(seal::PURPOSE_WEBHOOK_SECRET, client_id, client_id);
        let secret = seal::open(kms, &sealed, &aad).await?;
        Ok(Some(WebhookSetting { url: get("custodian_webhook_url")?, secret }))
    }

    /// Marks a `PENDING` pair `FAILED` (its custodian share could not be
    /// delivered). `Ok(false)`: it was not pending.
    pub async fn mark_failed(&self, client_id: &str, pair_id: &str) -> Result<bool, StoreError> {
        self.write(async |conn| {
            let done = sqlx::query(
                "UPDATE backup_share_pairs SET status = 'FAILED', updated_at = $3 \
                 WHERE id = $1 AND client_id = $2 AND status = 'PENDING'",
            )
            .bind(pair_id.to_owned())
            .bind(client_id.to_owned())
            .bind(now_micros())
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// The client owning the API key with this hash.
    pub async fn client_by_key_hash(&self, key_hash: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query(
            "SELECT c.id, c.name, c.managed_backups, c.custodian_storage, c.firebase_project_id, c.created_at \
             FROM api_keys k JOIN clients c ON c.id = k.client_id WHERE k.key_hash = $1",
        )
        .bind(key_hash.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(client_from_row).transpose()
    }

    /// Inserts a new `PENDING` pair whose custodian share `custodian_share`
    /// is sealed here under the KMS; with `None`, a pair whose custodian
    /// share goes to the client's webhook (nothing of it is stored).
    /// `Ok(None)`: the client already has a pair with this backup id.
    pub async fn create_pair(
        &self,
        kms: &dyn Kms,
        client_id: &str,
        method: BackupMethod,
        backup_id: &str,
        custodian_share: Option<&[u8]>,
    ) -> Result<Option<Pair>, StoreError> {
        let id = random_id().map_err(|_| StoreError::Random)?;
        let aad = seal::associated_data(seal::PURPOSE_CUSTODIAN_SHARE, client_id, &id);
        let (storage, sealed_text, key_id, wrapped_text) = match custodian_share {
            Some(share) => {
                let sealed = seal::seal(kms, share, &aad).await?;
                (
                    CustodianStorage::Managed,
                    b64(&sealed.ciphertext),
                    sealed.wrapped_key.key_id,
                    b64(&sealed.wrapped_key.ciphertext),
                )
            }
            None => (CustodianStorage::Webhook, String::new(), String::new(), String::new()),
        };
        let now = now_micros();
        let sql = format!(
            "INSERT INTO backup_share_pairs (id, client_id, backup_method, backup_id, status, \
             custodian_share_sealed, custodian_key_id, custodian_wrapped_key, cipher_text, \
             created_at, updated_at, completed_at, custodian_storage) \
             VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, NULL, $8, $8, NULL, $9) RETURNING {PAIR_COLUMNS}"
        );
        self.write(async |conn| {
            let result = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(client_id.to_owned())
                .bind(method.as_str())
                .bind(backup_id.to_owned())
                .bind(sealed_text)
                .bind(key_id)
                .bind(wrapped_text)
                .bind(now)
                .bind(storage.as_str())
                .fetch_one(&mut *conn)
                .await;
            match result {
                Ok(row) => Ok(Some(pair_from_row(&row)?)),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// The client's pair with this id.
    pub async fn pair(&self, client_id: &str, pair_id: &str) -> Result<Option<Pair>, StoreError> {
        pair_in(&mut *self.pool.acquire().await?, client_id, pair_id).await
    }

    /// The client's pair with this backup id (32 lower-case hex characters).
    pub async fn pair_by_backup_id(&self, client_id: &str, backup_id: &str) -> Result<Option<Pair>, StoreError> {
        let sql = format!("SELECT {PAIR_COLUMNS} FROM backup_share_pairs WHERE client_id = $1 AND backup_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client_id.to_owned())
            .bind(backup_id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(pair_from_row).transpose()
    }

    /// Runs `UPDATE … RETURNING` (`sql` with `binds`) on one of the client's
    /// pairs in a transaction; when it matched no row, tells "not found" from
    /// "wrong status" (`already_done`: the pair shows the change made before,
    /// with the same effect).
    async fn transition(
        &self,
        sql: String,
        binds: Vec<BindValue>,
        client_id: &str,
        pair_id: &str,
        already_done: impl AsyncFnOnce(&mut AnyConnection, &Pair) -> Result<bool, StoreError>,
    ) -> Result<Transition, StoreError> {
        self.write(async |conn| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for value in binds {
                query = match value {
                    BindValue::Text(s) => query.bind(s),
                    BindValue::Int(i) => query.bind(i),
                };
            }
            if let Some(row) = query.fetch_optional(&mut *conn).await? {
                return Ok(Transition::Done(pair_from_row(&row)?));
            }
            Ok(match pair_in(conn, client_id, pair_id).await? {
                None => Transition::NotFound,
                Some(pair) if already_done(conn, &pair).await? => Transition::Done(pair),
                Some(pair) => Transition::Conflict(pair),
            })
        })
        .await
    }

    /// Stores the cipherText of a pair not yet completed (replacing one
    /// stored before) and moves it to `STORED_CLIENT_BACKUP_SHARE`. Sending
    /// the same cipherText to a completed pair again is harmless.
    pub async fn attach_cipher_text(
        &self,
        client_id: &str,
        pair_id: &str,
        cipher_text: &str,
    ) -> Result<Transition, StoreError> {
        let sql = format!(
            "UPDATE backup_share_pairs SET cipher_text = $3, status = 'STORED_CLIENT_BACKUP_SHARE', updated_at = $4 \
             WHERE id = $1 AND client_id = $2 AND status IN ('PENDING', 'STORED_CLIENT_BACKUP_SHARE') \
             RETURNING {PAIR_COLUMNS}"
        );
        let binds = vec![
            BindValue::Text(pair_id.to_owned()),
            BindValue::Text(client_id.to_owned()),
            BindValue::Text(cipher_text.to_owned()),
            BindValue::Int(now_micros()),
        ];
        let same_completed = async |conn: &mut AnyConnection, pair: &Pair| {
            if pair.status != PairStatus::Completed {
                return Ok(false);
            }
            let same: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM backup_share_pairs WHERE id = $1 AND client_id = $2 AND cipher_text = $3",
            )
            .bind(pair_id.to_owned())
            .bind(client_id.to_owned())
            .bind(cipher_text.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
            Ok(same.is_some())
        };
        self.transition(sql, binds, client_id, pair_id, same_completed).await
    }

    /// Confirms a pair whose client share is stored (`STORED_CLIENT_BACKUP_SHARE`,
    /// and with `require_cipher_text` a cipherText held by the service):
    /// it becomes `COMPLETED`, the pair recovery uses. Confirming a completed
    /// pair again changes nothing.
    pub async fn confirm(
        &self,
        client_id: &str,
        pair_id: &str,
        require_cipher_text: bool,
    ) -> Result<Transition, StoreError> {
        let extra = if require_cipher_text { " AND cipher_text IS NOT NULL" } else { "" };
        let sql = format!(
            "UPDATE backup_share_pairs SET status = 'COMPLETED', completed_at = $3, updated_at = $3 \
             WHERE id = $1 AND client_id = $2 AND status = 'STORED_CLIENT_BACKUP_SHARE'{extra} \
             RETURNING {PAIR_COLUMNS}"
        );
        let binds = vec![
            BindValue::Text(pair_id.to_owned()),
            BindValue::Text(client_id.to_owned()),
            BindValue::Int(now_micros()),
        ];
        let completed = async |_: &mut AnyConnection, pair: &Pair| Ok(pair.status == PairStatus::Completed);
        self.transition(sql, binds, client_id, pair_id, completed).await
    }

    /// The self-managed report: moves the client's newest `PENDING` pair of
    /// `method` to `STORED_CLIENT_BACKUP_SHARE` (`success`) or `FAILED`.
    /// Repeating a report is harmless: when nothing is pending and the newest
    /// pair of the method already shows the reported outcome, that pair is
    /// returned. `None`: nothing to report on.
    pub async fn report_stored(
        &self,
        client_id: &str,
        method: BackupMethod,
        success: bool,
    ) -> Result<Option<Pair>, StoreError> {
        let status = if success { PairStatus::StoredClientBackupShare } else { PairStatus::Failed };
        let update = format!(
            "UPDATE backup_share_pairs SET status = $3, updated_at = $4 \
             WHERE client_id = $1 AND status = 'PENDING' AND id = (\
                SELECT id FROM backup_share_pairs WHERE client_id = $1 AND backup_method = $2 \
                AND status = 'PENDING' ORDER BY created_at DESC, id DESC LIMIT 1) \
             RETURNING {PAIR_COLUMNS}"
        );
        let newest = format!(
            "SELECT {PAIR_COLUMNS} FROM backup_share_pairs WHERE client_id = $1 AND backup_method = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        self.write(async |conn| {
            let row = sqlx::query(sqlx::AssertSqlSafe(update))
                .bind(client_id.to_owned())
                .bind(method.as_str())
                .bind(status.as_str())
                .bind(now_micros())
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(row) = row {
                return Ok(Some(pair_from_row(&row)?));
            }
            let newest = sqlx::query(sqlx::AssertSqlSafe(newest))
                .bind(client_id.to_owned())
                .bind(method.as_str())
                .fetch_optional(&mut *conn)
                .await?;
            let Some(newest) = newest.as_ref().map(pair_from_row).transpose()? else { return Ok(None) };
            let repeated = if success {
                matches!(newest.status, PairStatus::StoredClientBackupShare | PairStatus::Completed)
            } else {
                newest.status == PairStatus::Failed
            };
            Ok(repeated.then_some(newest))
        })
        .await
    }

    /// The client's most recently confirmed pair of `method`, with its
    /// cipherText if the service holds one.
    pub async fn latest_completed(
        &self,
        client_id: &str,
        method: BackupMethod,
    ) -> Result<Option<(Pair, Option<String>)>, StoreError> {
        let sql = format!(
            "SELECT {PAIR_COLUMNS}, cipher_text FROM backup_share_pairs \
             WHERE client_id = $1 AND backup_method = $2 AND status = 'COMPLETED' \
             ORDER BY completed_at DESC, created_at DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client_id.to_owned())
            .bind(method.as_str())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some((pair_from_row(&row)?, row.try_get("cipher_text")?))),
        }
    }

    /// Methods with at least one completed pair, in method order.
    pub async fn completed_methods(&self, client_id: &str) -> Result<Vec<BackupMethod>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT backup_method FROM backup_share_pairs WHERE client_id = $1 AND status = 'COMPLETED'",
        )
        .bind(client_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        let mut methods = rows
            .iter()
            .map(|m| BackupMethod::parse(m).ok_or_else(|| StoreError::Corrupt(format!("unknown backup method `{m}`"))))
            .collect::<Result<Vec<_>, _>>()?;
        methods.sort();
        Ok(methods)
    }

    /// How many pairs each KMS master key wraps.
    pub async fn key_id_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT custodian_key_id, CAST(COUNT(*) AS BIGINT) AS n FROM backup_share_pairs \
             WHERE custodian_storage = 'MANAGED' GROUP BY custodian_key_id ORDER BY custodian_key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("custodian_key_id")?, r.try_get("n")?))).collect()
    }

    /// Re-wraps every stored data key that is not under the KMS's current
    /// master key. Each record is updated on its own, only if it did not
    /// change meanwhile; records that do not unwrap are reported, not touched.
    pub async fn rewrap_all(&self, kms: &dyn Kms) -> Result<RewrapReport, StoreError> {
        let current = kms.current_key_id().map_err(|e| StoreError::Seal(e.into()))?;
        let mut report = RewrapReport { key_id: current.clone(), ..RewrapReport::default() };
        let mut after = String::new();
        loop {
            let rows = sqlx::query(
                "SELECT id, client_id, custodian_key_id, custodian_wrapped_key FROM backup_share_pairs \
                 WHERE custodian_storage = 'MANAGED' AND custodian_key_id <> $1 AND id > $2 \
                 ORDER BY id LIMIT 200",
            )
            .bind(current.clone())
            .bind(after.clone())
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                self.rewrap_webhook_secrets(kms, &current, &mut report).await?;
                self.rewrap_firebase_keys(kms, &current, &mut report).await?;
                self.rewrap_passkey_keys(kms, &current, &mut report).await?;
                return Ok(report);
            }
            for row in &rows {
                let id: String = row.try_get("id")?;
                let client_id: String = row.try_get("client_id")?;
                let key_id: String = row.try_get("custodian_key_id")?;
                let wrapped_text: String = row.try_get("custodian_wrapped_key")?;
                after.clone_from(&id);
                let aad = seal::associated_data(seal::PURPOSE_CUSTODIAN_SHARE, &client_id, &id);
                let target = WrappedColumns {
                    table: "backup_share_pairs",
                    key_id: "custodian_key_id",
                    wrapped: "custodian_wrapped_key",
                };
                let failed = id.clone();
                self.rewrap_one(kms, target, &id, key_id, wrapped_text, &aad, failed, &mut report).await?;
            }
        }
    }
}

/// Where a sealed record keeps its wrapped data key (names are constants of this file).
struct WrappedColumns {
    table: &'static str,
    key_id: &'static str,
    wrapped: &'static str,
}

impl Store {
    /// Re-wraps the data key of the record `id` of `target` (bound to `aad`)
    /// under the current master key, updating the row only if it did not
    /// change meanwhile. A key that does not unwrap is reported as `failed`
    /// and left as it is.
    #[allow(clippy::too_many_arguments)]
    async fn rewrap_one(
        &self,
        kms: &dyn Kms,
        target: WrappedColumns,
        id: &str,
        key_id: String,
        wrapped_text: String,
        aad: &[u8],
        failed: String,
        report: &mut RewrapReport,
    ) -> Result<(), StoreError> {
        let old = WrappedKey { key_id: key_id.clone(), ciphertext: unb64(&wrapped_text, "wrapped data key")? };
        let new = match seal::rewrap(kms, &old, aad).await {
            Ok(new) => new,
            Err(e) => {
                tracing::warn!(table = target.table, record = %id, error = %e, "cannot re-wrap data key");
                report.failed.push(failed);
                return Ok(());
            }
        };
        let WrappedColumns { table, key_id: key_column, wrapped } = target;
        let sql = format!(
            "UPDATE {table} SET {key_column} = $1, {wrapped} = $2 \
             WHERE id = $3 AND {key_column} = $4 AND {wrapped} = $5"
        );
        let done = self
            .write(async |conn| {
                Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(new.key_id.clone())
                    .bind(b64(&new.ciphertext))
                    .bind(id.to_owned())
                    .bind(key_id)
                    .bind(wrapped_text)
                    .execute(&mut *conn)
                    .await?)
            })
            .await?;
        report.rewrapped += done.rows_affected();
        Ok(())
    }

    /// `rewrap_all` for the clients' sealed webhook secrets.
    async fn rewrap_webhook_secrets(
        &self,
        kms: &dyn Kms,
        current: &str,
        report: &mut RewrapReport,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "SELECT id, custodian_webhook_key_id, custodian_webhook_wrapped_key FROM clients \
             WHERE custodian_webhook_key_id IS NOT NULL AND custodian_webhook_key_id <> $1 ORDER BY id",
        )
        .bind(current.to_owned())
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let key_id: String = row.try_get("custodian_webhook_key_id")?;
            let wrapped_text: String = row.try_get("custodian_webhook_wrapped_key")?;
            let aad = seal::associated_data(seal::PURPOSE_WEBHOOK_SECRET, &id, &id);
            let target = WrappedColumns {
                table: "clients",
                key_id: "custodian_webhook_key_id",
                wrapped: "custodian_webhook_wrapped_key",
            };
            let failed = format!("client {id} (webhook secret)");
            self.rewrap_one(kms, target, &id, key_id, wrapped_text, &aad, failed, report).await?;
        }
        Ok(())
    }
}

/// What storing a Firebase enclave key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutKeyOutcome {
    /// Stored now.
    Stored,
    /// The same key was stored before for this (client, uid, backupId): nothing changed.
    AlreadyStored,
    /// Another key is stored for this (client, uid, backupId); it was left as it was.
    Conflict,
}

/// The associated data of a Firebase enclave key: binds it to its client,
/// row, backup id and Firebase uid, so a row edited to name another user or
/// backup does not open.
fn firebase_key_aad(client_id: &str, row_id: &str, backup_id: &str, uid: &str) -> Vec<u8> {
    let record = format!("{row_id}.{backup_id}.{}", hex::encode(uid.as_bytes()));
    seal::associated_data(seal::PURPOSE_FIREBASE_KEY, client_id, &record)
}

impl Store {
    /// Inserts an enclave key row of `table` (Firebase or passkey keys):
    /// `id`, `client_id`, the table's two identifying columns `named`, the
    /// sealed key and the time. `Ok(false)`: a row with the same identity
    /// exists (the table's unique index), and nothing was written.
    async fn insert_sealed_key(
        &self,
        table: &'static str,
        id: String,
        client_id: &str,
        named: [(&'static str, &str); 2],
        sealed: &Sealed,
    ) -> Result<bool, StoreError> {
        let [(first, first_value), (second, second_value)] = named;
        let sql = format!(
            "INSERT INTO {table} (id, client_id, {first}, {second}, key_sealed, key_id, wrapped_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        // Safe: the table and column names are `'static` names from this crate, never input.
        self.write(async |conn| {
            let result = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(client_id.to_owned())
                .bind(first_value.to_owned())
                .bind(second_value.to_owned())
                .bind(b64(&sealed.ciphertext))
                .bind(sealed.wrapped_key.key_id.clone())
                .bind(b64(&sealed.wrapped_key.ciphertext))
                .bind(now_micros())
                .execute(&mut *conn)
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Sets (or with `None` removes) the client's Firebase project id. `Ok(false)`: no such client.
    pub async fn set_firebase_project(&self, client_id: &str, project_id: Option<&str>) -> Result<bool, StoreError> {
        self.write(async |conn| {
            let done = sqlx::query("UPDATE clients SET firebase_project_id = $1 WHERE id = $2")
                .bind(project_id.map(str::to_owned))
                .bind(client_id.to_owned())
                .execute(&mut *conn)
                .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// Stores `key`, sealed, for (client, Firebase uid, backup id); never
    /// overwrites a stored key.
    pub async fn put_firebase_key(
        &self,
        kms: &dyn Kms,
        client_id: &str,
        uid: &str,
        backup_id: &str,
        key: &[u8],
    ) -> Result<PutKeyOutcome, StoreError> {
        let id = random_id().map_err(|_| StoreError::Random)?;
        let aad = firebase_key_aad(client_id, &id, backup_id, uid);
        let sealed = seal::seal(kms, key, &aad).await?;
        let named = [("firebase_uid", uid), ("backup_id", backup_id)];
        if self.insert_sealed_key("firebase_encryption_keys", id, client_id, named, &sealed).await? {
            return Ok(PutKeyOutcome::Stored);
        }
        let stored = self.firebase_key(kms, client_id, uid, backup_id).await?;
        Ok(put_key_outcome(stored.as_deref().map(Vec::as_slice), key))
    }

    /// The key stored for (client, Firebase uid, backup id), opened.
    pub async fn firebase_key(
        &self,
        kms: &dyn Kms,
        client_id: &str,
        uid: &str,
        backup_id: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let row = sqlx::query(
            "SELECT id, key_sealed, key_id, wrapped_key FROM firebase_encryption_keys \
             WHERE client_id = $1 AND firebase_uid = $2 AND backup_id = $3",
        )
        .bind(client_id.to_owned())
        .bind(uid.to_owned())
        .bind(backup_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let sealed = sealed_key_of_row(&row)?;
        let aad = firebase_key_aad(client_id, &id, backup_id, uid);
        let key = seal::open(kms, &sealed, &aad).await?;
        Ok(Some(key))
    }

    /// How many Firebase enclave keys each KMS master key wraps.
    pub async fn firebase_key_id_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, CAST(COUNT(*) AS BIGINT) AS n FROM firebase_encryption_keys GROUP BY key_id ORDER BY key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("key_id")?, r.try_get("n")?))).collect()
    }

    /// `rewrap_all` for the Firebase enclave keys.
    async fn rewrap_firebase_keys(
        &self,
        kms: &dyn Kms,
        current: &str,
        report: &mut RewrapReport,
    ) -> Result<(), StoreError> {
        let mut after = String::new();
        loop {
            let rows = sqlx::query(
                "SELECT id, client_id, firebase_uid, backup_id, key_id, wrapped_key FROM firebase_encryption_keys \
                 WHERE key_id <> $1 AND id > $2 ORDER BY id LIMIT 200",
            )
            .bind(current.to_owned())
            .bind(after.clone())
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(());
            }
            for row in &rows {
                let get = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
                let id = get("id")?;
                after.clone_from(&id);
                let key_id = get("key_id")?;
                let wrapped_text = get("wrapped_key")?;
                let aad = firebase_key_aad(&get("client_id")?, &id, &get("backup_id")?, &get("firebase_uid")?);
                let target =
                    WrappedColumns { table: "firebase_encryption_keys", key_id: "key_id", wrapped: "wrapped_key" };
                let failed = format!("firebase key {id}");
                self.rewrap_one(kms, target, &id, key_id, wrapped_text, &aad, failed, report).await?;
            }
        }
    }
}

/// A client's custodian webhook: URL and shared secret.
pub struct WebhookSetting {
    /// Where custodian shares are POSTed.
    pub url: String,
    /// The HMAC key of the signature header.
    pub secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for WebhookSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSetting { .. }")
    }
}

/// A webhook setting with its secret sealed, ready to be written to a client row.
struct SealedWebhook {
    url: String,
    sealed: Sealed,
}

impl SealedWebhook {
    fn update(self, client_id: &str) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        sqlx::query(
            "UPDATE clients SET custodian_storage = 'WEBHOOK', custodian_webhook_url = $1, \
             custodian_webhook_secret_sealed = $2, custodian_webhook_key_id = $3, \
             custodian_webhook_wrapped_key = $4 WHERE id = $5",
        )
        .bind(self.url)
        .bind(b64(&self.sealed.ciphertext))
        .bind(self.sealed.wrapped_key.key_id)
        .bind(b64(&self.sealed.wrapped_key.ciphertext))
        .bind(client_id.to_owned())
    }
}

async fn seal_webhook(kms: &dyn Kms, client_id: &str, setting: &WebhookSetting) -> Result<SealedWebhook, StoreError> {
    let aad = seal::associated_data(seal::PURPOSE_WEBHOOK_SECRET, client_id, client_id);
    let sealed = seal::seal(kms, &setting.secret, &aad).await?;
    Ok(SealedWebhook { url: setting.url.clone(), sealed })
}

enum BindValue {
    Text(String),
    Int(i64),
}
