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
    use autocsr_credential::conformance::{FaultyRecordStore, InsertFault};
    use autocsr_credential::{CredentialState, MemoryKeyStore, MemoryRecordStore};
    use autocsr_keygen::KeyAlgorithm;
    use std::sync::Arc;

    use super::*;
    use crate::OrderRequest;

    /// A failed store of order `id` on a vault over a [`FaultyRecordStore`] (down after
    /// the insert if `down_after_insert`); the store, to look at, and what settling said.
    fn settle(insert: InsertFault, down_after_insert: bool) -> (Arc<FaultyRecordStore>, Settled) {
        let records = Arc::new(
            FaultyRecordStore::new(Arc::new(MemoryRecordStore::new())).with_insert_fault(insert),
        );
        let vault = Vault::new(records.clone(), Arc::new(MemoryKeyStore::new()));
        let pipeline = crate::defaults::with_vault(vault);
        let request = OrderRequest::new("example.com").with_key(KeyAlgorithm::EcdsaP256);
        let sealed = pipeline.seal_with_id("ord-lost", &request).unwrap();
        let err = pipeline.store(sealed).unwrap_err();
        records.set_down(down_after_insert);
        let settled = pipeline.settle_failed_store(&err, "ord-lost");
        records.set_down(false);
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
        let (records, settled) = settle(InsertFault::AfterCommit, false);
        assert_eq!(settled, Settled::Revoked);
        // The stored code is gone for good: its record is a tombstone.
        let vault = Vault::new(records, Arc::new(MemoryKeyStore::new()));
        assert!(matches!(vault.reveal("ord-lost"), Err(VaultError::Revoked)));
    }

    #[test]
    fn a_storage_error_that_stored_nothing_is_nothing_stored() {
        let (_, settled) = settle(InsertFault::BeforeCommit, false);
        assert_eq!(settled, Settled::NothingStored);
    }

    #[test]
    fn a_vault_that_cannot_answer_the_revoke_leaves_it_unknown() {
        let (_, settled) = settle(InsertFault::AfterCommit, true);
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
