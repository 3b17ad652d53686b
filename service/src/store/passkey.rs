//! The passkey enclave's tables: each client's relying-party override, its
//! WebAuthn credentials (webauthn-rs `Passkey` records with their signature
//! counters), single-use ceremonies, and the backup keys sealed under the
//! KMS and bound to (client, backupId, credential id).
//!
//! A ceremony is consumed by one `DELETE … RETURNING`: two finish calls with
//! the same id cannot both get it. Counters only move forward, in one
//! conditional `UPDATE`. Keys are inserted once and never updated (except
//! their wrapped data key, by `kms rewrap`).

use sqlx::Row;
use zeroize::Zeroizing;

use super::enclave::{put_key_outcome, sealed_key_of_row, PutKeyOutcome};
use super::retention::MAX_OPEN_CEREMONIES;
use super::{unless_duplicate, Store, StoreError};
use crate::kms::Kms;
use crate::seal;
use crate::util::{now_micros, random_id};

/// A client's own relying party, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRelyingParty {
    /// The rp id (a domain).
    pub id: String,
    /// The name passkey managers show; `None`: the rp id.
    pub name: Option<String>,
    /// Allowed origins.
    pub origins: Vec<String>,
}

/// A registered credential.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    /// Credential id, unpadded base64url.
    pub credential_id: String,
    /// The webauthn-rs `Passkey` record, as JSON.
    pub passkey: String,
    /// The last signature counter seen.
    pub sign_count: i64,
}

/// Which ceremony a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// begin-registration → finish-registration.
    Registration,
    /// begin-login → finish-login/write or /read.
    Login,
}

impl CeremonyKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Login => "login",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "registration" => Some(Self::Registration),
            "login" => Some(Self::Login),
            _ => None,
        }
    }
}

/// A stored ceremony.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// Random id, 32 lower-case hex characters.
    pub id: String,
    /// Owning client.
    pub client_id: String,
    /// Registration or login.
    pub kind: CeremonyKind,
    /// The serialised webauthn-rs state (`PasskeyRegistration` / `PasskeyAuthentication`).
    pub state: String,
    /// Credential ids (base64url) the ceremony allows (login only).
    pub allowed_credentials: Vec<String>,
    /// The backup id begin-login named, if any.
    pub backup_id: Option<String>,
    /// Expiry, µs since the epoch.
    pub expires_at: i64,
}

/// What moving a credential's counter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterOutcome {
    /// Stored (or both counters are zero: authenticators without counters).
    Accepted,
    /// The new counter is not above the stored one.
    Regressed,
    /// The client has no such credential.
    Missing,
}

/// The associated data of a passkey enclave key: binds it to its client,
/// row, backup id and credential.
pub(super) fn passkey_key_aad(client_id: &str, row_id: &str, backup_id: &str, credential_id: &str) -> Vec<u8> {
    let record = format!("{row_id}.{backup_id}.{credential_id}");
    seal::associated_data(seal::PURPOSE_PASSKEY_KEY, client_id, &record)
}

impl Store {
    /// The client's own relying party, if it has one.
    pub async fn passkey_rp(&self, client_id: &str) -> Result<Option<ClientRelyingParty>, StoreError> {
        let row = sqlx::query("SELECT passkey_rp_id, passkey_rp_name, passkey_origins FROM clients WHERE id = $1")
            .bind(client_id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id: Option<String> = row.try_get("passkey_rp_id")?;
        let Some(id) = id else { return Ok(None) };
        let origins: Option<String> = row.try_get("passkey_origins")?;
        Ok(Some(ClientRelyingParty {
            id,
            name: row.try_get("passkey_rp_name")?,
            origins: origins.unwrap_or_default().lines().map(str::to_owned).collect(),
        }))
    }

    /// Sets (or with `None` removes) the client's own relying party
    /// (checked by the caller). `Ok(false)`: no such client.
    pub async fn set_passkey_rp(&self, client_id: &str, rp: Option<&ClientRelyingParty>) -> Result<bool, StoreError> {
        self.write(async |conn| {
            let done = sqlx::query(
                "UPDATE clients SET passkey_rp_id = $1, passkey_rp_name = $2, passkey_origins = $3 WHERE id = $4",
            )
            .bind(rp.map(|rp| rp.id.clone()))
            .bind(rp.and_then(|rp| rp.name.clone()))
            .bind(rp.map(|rp| rp.origins.join("\n")))
            .bind(client_id.to_owned())
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// The client's credentials, oldest first.
    pub async fn passkey_credentials(&self, client_id: &str) -> Result<Vec<StoredCredential>, StoreError> {
        let rows = sqlx::query(
            "SELECT credential_id, passkey, sign_count FROM passkey_credentials WHERE client_id = $1 \
             ORDER BY created_at, credential_id",
        )
        .bind(client_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredCredential {
                    credential_id: r.try_get("credential_id")?,
                    passkey: r.try_get("passkey")?,
                    sign_count: r.try_get("sign_count")?,
                })
            })
            .collect()
    }

    /// Stores a new credential. `Ok(false)`: this credential id is
    /// registered already (for any client); nothing changed.
    pub async fn insert_passkey_credential(
        &self,
        client_id: &str,
        credential_id: &str,
        passkey: &str,
        sign_count: i64,
    ) -> Result<bool, StoreError> {
        self.write(async |conn| {
            self.check_new_credential(conn, client_id).await?;
            let result = sqlx::query(
                "INSERT INTO passkey_credentials (credential_id, client_id, passkey, sign_count, created_at, \
                 last_used_at) VALUES ($1, $2, $3, $4, $5, NULL)",
            )
            .bind(credential_id.to_owned())
            .bind(client_id.to_owned())
            .bind(passkey.to_owned())
            .bind(sign_count)
            .bind(now_micros())
            .execute(&mut *conn)
            .await;
            Ok(unless_duplicate(result)?.is_some())
        })
        .await
    }

    /// Whether a credential with this id is registered (for any client).
    pub async fn passkey_credential_exists(&self, credential_id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM passkey_credentials WHERE credential_id = $1")
                .bind(credential_id.to_owned())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Records a verified assertion's signature counter, only forward: a
    /// counter not above the stored one is a regression (unless both are 0,
    /// an authenticator without a counter). `passkey` is the updated record.
    pub async fn advance_passkey_counter(
        &self,
        client_id: &str,
        credential_id: &str,
        counter: i64,
        passkey: &str,
    ) -> Result<CounterOutcome, StoreError> {
        self.write(async |conn| {
            let done = sqlx::query(
                "UPDATE passkey_credentials SET sign_count = $1, passkey = $2, last_used_at = $3 \
                 WHERE credential_id = $4 AND client_id = $5 AND (sign_count < $1 OR (sign_count = 0 AND $1 = 0))",
            )
            .bind(counter)
            .bind(passkey.to_owned())
            .bind(now_micros())
            .bind(credential_id.to_owned())
            .bind(client_id.to_owned())
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 1 {
                return Ok(CounterOutcome::Accepted);
            }
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM passkey_credentials WHERE credential_id = $1 AND client_id = $2",
            )
            .bind(credential_id.to_owned())
            .bind(client_id.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
            Ok(if exists.is_some() { CounterOutcome::Regressed } else { CounterOutcome::Missing })
        })
        .await
    }

    /// Stores a ceremony; also deletes every ceremony expired more than a minute ago.
    pub async fn insert_ceremony(&self, ceremony: &Ceremony) -> Result<(), StoreError> {
        let now = now_micros();
        self.write(async |conn| {
            sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at < $1")
                .bind(now - 60_000_000)
                .execute(&mut *conn)
                .await?;
            // The client's oldest open ceremonies beyond the bound make room for this one.
            sqlx::query(
                "DELETE FROM passkey_ceremonies WHERE client_id = $1 AND id NOT IN (SELECT id FROM \
                 passkey_ceremonies WHERE client_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)",
            )
            .bind(ceremony.client_id.clone())
            .bind(MAX_OPEN_CEREMONIES - 1)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO passkey_ceremonies (id, client_id, kind, state, allowed_credentials, backup_id, \
                 expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(ceremony.id.clone())
            .bind(ceremony.client_id.clone())
            .bind(ceremony.kind.as_str())
            .bind(ceremony.state.clone())
            .bind(ceremony.allowed_credentials.join("\n"))
            .bind(ceremony.backup_id.clone())
            .bind(ceremony.expires_at)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
        .await
    }

    /// Takes (deletes and returns) the client's ceremony with this id: it
    /// can be taken once. Another client's ceremony is not touched.
    pub async fn take_ceremony(&self, client_id: &str, id: &str) -> Result<Option<Ceremony>, StoreError> {
        let row = self
            .write(async |conn| {
                Ok(sqlx::query(
                    "DELETE FROM passkey_ceremonies WHERE id = $1 AND client_id = $2 \
                     RETURNING id, client_id, kind, state, allowed_credentials, backup_id, expires_at",
                )
                .bind(id.to_owned())
                .bind(client_id.to_owned())
                .fetch_optional(&mut *conn)
                .await?)
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind")?;
        let allowed: String = row.try_get("allowed_credentials")?;
        Ok(Some(Ceremony {
            id: row.try_get("id")?,
            client_id: row.try_get("client_id")?,
            kind: CeremonyKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown ceremony kind `{kind}`")))?,
            state: row.try_get("state")?,
            allowed_credentials: allowed.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect(),
            backup_id: row.try_get("backup_id")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    /// The credential the client's key for this backup id is bound to.
    pub async fn passkey_key_credential(&self, client_id: &str, backup_id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT credential_id FROM passkey_encryption_keys WHERE client_id = $1 AND backup_id = $2",
        )
        .bind(client_id.to_owned())
        .bind(backup_id.to_owned())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores `key`, sealed, for (client, backup id), bound to the
    /// credential; never overwrites. The same key bound to the same
    /// credential again is [`PutKeyOutcome::AlreadyStored`].
    pub async fn put_passkey_key(
        &self,
        kms: &dyn Kms,
        client_id: &str,
        backup_id: &str,
        credential_id: &str,
        key: &[u8],
    ) -> Result<PutKeyOutcome, StoreError> {
        let id = random_id().map_err(|_| StoreError::Random)?;
        let aad = passkey_key_aad(client_id, &id, backup_id, credential_id);
        let sealed = seal::seal(kms, key, &aad).await?;
        let named = [("backup_id", backup_id), ("credential_id", credential_id)];
        if self.insert_sealed_key("passkey_encryption_keys", id, client_id, named, &sealed).await? {
            return Ok(PutKeyOutcome::Stored);
        }
        // The same key bound to another credential is a conflict too.
        let stored = self.passkey_key(kms, client_id, backup_id).await?;
        let same_credential = stored.as_ref().filter(|(bound, _)| bound == credential_id);
        Ok(put_key_outcome(same_credential.map(|(_, stored)| stored.as_slice()), key))
    }

    /// The client's key for this backup id, opened, with the credential it is bound to.
    pub async fn passkey_key(
        &self,
        kms: &dyn Kms,
        client_id: &str,
        backup_id: &str,
    ) -> Result<Option<(String, Zeroizing<Vec<u8>>)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, credential_id, key_sealed, key_id, wrapped_key FROM passkey_encryption_keys \
             WHERE client_id = $1 AND backup_id = $2",
        )
        .bind(client_id.to_owned())
        .bind(backup_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let get = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
        let id = get("id")?;
        let credential_id = get("credential_id")?;
        let sealed = sealed_key_of_row(&row)?;
        let aad = passkey_key_aad(client_id, &id, backup_id, &credential_id);
        let key = seal::open(kms, &sealed, &aad).await?;
        Ok(Some((credential_id, key)))
    }
}
