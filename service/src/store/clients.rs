//! The `clients` and `api_keys` tables: clients with their first API key,
//! where their custodian shares go (the service, or the operator's webhook
//! with its secret sealed under the KMS), their Firebase project.

use sqlx::any::AnyRow;
use sqlx::Row;
use zeroize::Zeroizing;

use super::passkey::ClientRelyingParty;
use super::{b64, unb64, Store, StoreError};
use crate::apikey::ApiKey;
use crate::kms::{Kms, WrappedKey};
use crate::model::{Client, CustodianStorage};
use crate::seal::{self, Sealed};
use crate::util::{now_micros, random_id};

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

/// A client to create, its settings checked by the caller (the
/// `create-client` command checks them).
#[derive(Debug, Clone, Copy)]
pub struct NewClient<'a> {
    /// A name for the client.
    pub name: &'a str,
    /// Whether the service keeps the client's cipherTexts (managed backups).
    pub managed_backups: bool,
    /// Custodian storage `WEBHOOK` with this URL and secret (the secret
    /// sealed under the KMS); `None`: the service keeps the custodian shares.
    pub webhook: Option<&'a WebhookSetting>,
    /// The Firebase project whose ID tokens the Firebase enclave accepts.
    pub firebase_project_id: Option<&'a str>,
    /// The client's own passkey relying party; `None`: the service's default.
    pub passkey_rp: Option<&'a ClientRelyingParty>,
    /// Guesses of the client's guess-limited PINs (within [`super::PIN_GUESS_LIMITS`]).
    pub pin_guess_limit: u32,
}

impl<'a> NewClient<'a> {
    /// A client named `name` with managed backups, its custodian shares kept
    /// by the service, no Firebase project and the service's default
    /// passkey relying party, and the default guess limit.
    pub fn new(name: &'a str) -> Self {
        Self {
            name,
            managed_backups: true,
            webhook: None,
            firebase_project_id: None,
            passkey_rp: None,
            pin_guess_limit: super::DEFAULT_PIN_GUESS_LIMIT,
        }
    }
}

impl Store {
    /// Creates the client `new` and its first API key, in one transaction.
    pub async fn create_client(&self, kms: &dyn Kms, new: &NewClient<'_>) -> Result<(Client, ApiKey), StoreError> {
        let NewClient { name, managed_backups, webhook, firebase_project_id, passkey_rp, pin_guess_limit } = *new;
        if !super::PIN_GUESS_LIMITS.contains(&pin_guess_limit) {
            return Err(StoreError::Config(format!("a PIN guess limit is 1 to 100, not {pin_guess_limit}")));
        }
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
            Some(setting) => Some(seal_webhook(kms, &client.id, setting).await?),
            None => None,
        };
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO clients (id, name, managed_backups, created_at, firebase_project_id, pin_guess_limit) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(client.id.clone())
            .bind(client.name.clone())
            .bind(i64::from(managed_backups))
            .bind(client.created_at)
            .bind(client.firebase_project_id.clone())
            .bind(i64::from(pin_guess_limit))
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

    /// Ids of the clients whose id or name is `id_or_name` (for operator commands).
    pub async fn client_ids_named(&self, id_or_name: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM clients WHERE id = $1 OR name = $1 ORDER BY id")
            .bind(id_or_name.to_owned())
            .fetch_all(&self.pool)
            .await?)
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
