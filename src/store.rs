//! The one store type the flows run over: the app's custodian record or the
//! backup service, chosen per call.
//!
//! Dispatching here, rather than instantiating the generic flows once per
//! store, keeps one copy of the backup and recovery code in the wasm.

use wallet_backup_core::method::MethodId;
use wallet_backup_core::store::{BackupId, BackupStore, PendingRecord, RecordStore};
use wallet_backup_core::Error;
use zeroize::Zeroizing;

use crate::adapters::JsCustodian;
use crate::service::{PendingPair, Service};

/// Where this call keeps the custodian half.
pub enum Store<'a> {
    /// The app's `custodian` adapter.
    Record(JsCustodian<'a>),
    /// The backup service.
    Service(Service<'a>),
}

/// A pending backup in either store.
pub enum Pending {
    /// In the custodian record.
    Record(PendingRecord),
    /// A pair on the service.
    Service(PendingPair),
}

impl BackupStore for Store<'_> {
    type Pending = Pending;

    async fn begin(&self, method: MethodId, backup_id: &BackupId, half: &[u8]) -> Result<Pending, Error> {
        Ok(match self {
            Store::Record(c) => Pending::Record(RecordStore(c).begin(method, backup_id, half).await?),
            Store::Service(s) => Pending::Service(s.begin(method, backup_id, half).await?),
        })
    }

    async fn read_back(&self, pending: &Pending) -> Result<Zeroizing<Vec<u8>>, Error> {
        match (self, pending) {
            (Store::Record(c), Pending::Record(p)) => RecordStore(c).read_back(p).await,
            (Store::Service(s), Pending::Service(p)) => s.read_back(p).await,
            _ => Err(Error::Unexpected("pending backup of another store")),
        }
    }

    async fn complete(&self, pending: &Pending, cipher_text: &str) -> Result<(), Error> {
        match (self, pending) {
            (Store::Record(c), Pending::Record(p)) => RecordStore(c).complete(p, cipher_text).await,
            (Store::Service(s), Pending::Service(p)) => s.complete(p, cipher_text).await,
            _ => Err(Error::Unexpected("pending backup of another store")),
        }
    }

    async fn custodian_half(&self, method: MethodId, backup_id: &BackupId) -> Result<Zeroizing<Vec<u8>>, Error> {
        match self {
            Store::Record(c) => RecordStore(c).custodian_half(method, backup_id).await,
            Store::Service(s) => s.custodian_half(method, backup_id).await,
        }
    }
}
