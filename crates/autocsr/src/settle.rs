//! What a failed [`AutoCsr::store`] left behind, settled by a revoke.

use autocsr_credential::{Error as VaultError, Vault};

use crate::steps::{KeyMaker, NamePolicy, Sealer};
use crate::{AutoCsr, Error};

/// What a failed [`AutoCsr::store`] left in the vault, as
/// [`AutoCsr::settle_failed_store`] found out.
// Exhaustive on purpose: a new outcome must break every caller's match, since each one
// decides from it whether to keep the order's files.
#[allow(clippy::exhaustive_enums)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// This order stored nothing (the failure proves it, or the revoke found no record):
    /// discard its archive.
    NothingStored,
    /// The vault had stored the code after all; it is revoked (destroyed) now, or had
    /// already expired or been revoked: discard the archive, and report the order failed.
    Revoked,
    /// The revoke failed too: the vault may hold a live code for this order. Keep the
    /// archive (so that no live code lacks it) and revoke the order once the vault answers.
    Unknown,
}

impl<P, K, S> AutoCsr<P, K, S, Vault>
where
    P: NamePolicy,
    K: KeyMaker,
    S: Sealer,
{
    /// Settles what `err`, returned by [`AutoCsr::store`] for `order_id`, left in the vault.
    ///
    /// A shared database can commit the record and lose the connection before it answers,
    /// so a storage error ([`Error::Store`] wrapping
    /// [`autocsr_credential::Error::Storage`]) does not prove that nothing was stored. For
    /// such an error this revokes the order: `NotFound` means nothing was stored
    /// ([`Settled::NothingStored`]); success, or a record already revoked or expired,
    /// means it was, and its code is destroyed now ([`Settled::Revoked`]); any other
    /// answer leaves it [`Settled::Unknown`]. Every other error (a refusal such as
    /// `AlreadyExists`, whose order id belongs to someone else, or a failure before the
    /// store) is [`Settled::NothingStored`] without touching the vault: revoking there
    /// could destroy another order's code.
    ///
    /// ```
    /// use autocsr::keygen::KeyAlgorithm;
    /// use autocsr::{OrderRequest, Settled};
    ///
    /// let pipeline = autocsr::defaults::in_memory();
    /// let request = OrderRequest::new("example.com").with_key(KeyAlgorithm::EcdsaP256);
    /// pipeline.order_with_id("shop-1", &request)?;
    /// // The id is taken: the refusal stored nothing, and the first order's code is untouched.
    /// let sealed = pipeline.seal_with_id("shop-1", &request)?;
    /// let err = pipeline.store(sealed).unwrap_err();
    /// assert_eq!(pipeline.settle_failed_store(&err, "shop-1"), Settled::NothingStored);
    /// assert!(pipeline.vault().reveal("shop-1").is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn settle_failed_store(&self, err: &Error, order_id: &str) -> Settled {
        let Error::Store(inner) = err else {
            return Settled::NothingStored;
        };
        if !matches!(
            inner.downcast_ref::<VaultError>(),
            Some(VaultError::Storage(_))
        ) {
            return Settled::NothingStored;
        }
        match self.vault().revoke(order_id) {
            Err(VaultError::NotFound) => Settled::NothingStored,
            Ok(()) | Err(VaultError::Revoked | VaultError::Expired { .. }) => Settled::Revoked,
            Err(_) => Settled::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use autocsr_credential::record::{RecordBody, StoredRecord};
    use autocsr_credential::{
        CredentialState, MemoryKeyStore, MemoryRecordStore, RecordStore, ReminderClaim,
    };
    use autocsr_keygen::KeyAlgorithm;

    use super::*;
    use crate::OrderRequest;

    /// How the test store fails an insert.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Insert {
        /// Commits, then reports a storage error (the answer was lost).
        CommitThenFail,
        /// Reports a storage error without committing.
        FailWithoutCommit,
    }

    /// Records in memory, whose insert fails as `insert` says, and whose every other call
    /// fails while `down` is set (the database is unreachable after the insert).
    struct Flaky {
        inner: MemoryRecordStore,
        insert: Insert,
        down: AtomicBool,
    }

    fn lost() -> VaultError {
        VaultError::storage(std::io::Error::other("connection lost (test)"))
    }

    impl Flaky {
        fn check(&self) -> Result<(), VaultError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(lost());
            }
            Ok(())
        }
    }

    impl RecordStore for Flaky {
        fn insert_all(&self, records: &[StoredRecord]) -> Result<(), VaultError> {
            if self.insert == Insert::CommitThenFail {
                self.inner.insert_all(records)?;
            }
            Err(lost())
        }
        fn load(&self, order_id: &str) -> Result<Option<StoredRecord>, VaultError> {
            self.check()?;
            self.inner.load(order_id)
        }
        fn count_reveal(
            &self,
            order_id: &str,
            now_ms: u64,
            max_count: u64,
        ) -> Result<Option<u64>, VaultError> {
            self.check()?;
            self.inner.count_reveal(order_id, now_ms, max_count)
        }
        fn destroy(&self, order_id: &str, tombstone: &RecordBody) -> Result<bool, VaultError> {
            self.check()?;
            self.inner.destroy(order_id, tombstone)
        }
        fn purge_expired(&self, now_ms: u64) -> Result<Vec<String>, VaultError> {
            self.check()?;
            self.inner.purge_expired(now_ms)
        }
        fn claim_reminders(
            &self,
            now_ms: u64,
            due_by_ms: u64,
            lease_until_ms: u64,
            max: usize,
        ) -> Result<Vec<ReminderClaim>, VaultError> {
            self.check()?;
            self.inner
                .claim_reminders(now_ms, due_by_ms, lease_until_ms, max)
        }
        fn mark_reminded(&self, order_id: &str, now_ms: u64) -> Result<bool, VaultError> {
            self.check()?;
            self.inner.mark_reminded(order_id, now_ms)
        }
    }

    /// A failed store of order `id` on a vault over a [`Flaky`] store; the store, to look
    /// at, and what settling said.
    fn settle(insert: Insert, down_after_insert: bool) -> (Arc<Flaky>, Settled) {
        let records = Arc::new(Flaky {
            inner: MemoryRecordStore::new(),
            insert,
            down: AtomicBool::new(false),
        });
        let vault = Vault::new(records.clone(), Arc::new(MemoryKeyStore::new()));
        let pipeline = crate::defaults::with_vault(vault);
        let request = OrderRequest::new("example.com").with_key(KeyAlgorithm::EcdsaP256);
        let sealed = pipeline.seal_with_id("ord-lost", &request).unwrap();
        let err = pipeline.store(sealed).unwrap_err();
        records.down.store(down_after_insert, Ordering::SeqCst);
        let settled = pipeline.settle_failed_store(&err, "ord-lost");
        records.down.store(false, Ordering::SeqCst);
        // What the vault says afterwards, through the same pipeline.
        let state = pipeline
            .vault()
            .status("ord-lost")
            .map(|status| status.state);
        match settled {
            Settled::Revoked => assert!(matches!(state, Ok(CredentialState::Revoked))),
            Settled::NothingStored => assert!(matches!(state, Err(VaultError::NotFound))),
            Settled::Unknown => assert!(matches!(state, Ok(CredentialState::Available))),
        }
        (records, settled)
    }

    #[test]
    fn a_record_committed_before_the_answer_was_lost_is_revoked() {
        let (records, settled) = settle(Insert::CommitThenFail, false);
        assert_eq!(settled, Settled::Revoked);
        // The stored code is gone for good: its record is a tombstone.
        let vault = Vault::new(records, Arc::new(MemoryKeyStore::new()));
        assert!(matches!(vault.reveal("ord-lost"), Err(VaultError::Revoked)));
    }

    #[test]
    fn a_storage_error_that_stored_nothing_is_nothing_stored() {
        let (_, settled) = settle(Insert::FailWithoutCommit, false);
        assert_eq!(settled, Settled::NothingStored);
    }

    #[test]
    fn a_vault_that_cannot_answer_the_revoke_leaves_it_unknown() {
        let (_, settled) = settle(Insert::CommitThenFail, true);
        assert_eq!(settled, Settled::Unknown);
    }

    #[test]
    fn errors_other_than_storage_do_not_touch_the_vault() {
        let pipeline = crate::defaults::in_memory();
        let request = OrderRequest::new("example.com").with_key(KeyAlgorithm::EcdsaP256);
        pipeline.order_with_id("taken", &request).unwrap();
        let refused = Error::InvalidRequest("test");
        assert_eq!(
            pipeline.settle_failed_store(&refused, "taken"),
            Settled::NothingStored
        );
        assert!(pipeline.vault().reveal("taken").is_ok());
    }
}
