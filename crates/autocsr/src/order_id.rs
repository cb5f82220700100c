//! Order ids: random, never derived from anything a customer or the host supplies.

use std::fmt;

/// Crockford base32 (no I, L, O, U): unambiguous when read aloud or retyped.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const PREFIX: &str = "ord_";
/// 20 symbols x 5 bits = 100 bits: collisions are not a practical concern and ids cannot
/// be guessed to probe the vault.
const SYMBOLS: usize = 20;

/// A fresh order id: `ord_` followed by 20 Crockford base32 characters drawn from the
/// operating system's CSPRNG. Not a secret (it names files and vault records), but
/// unguessable, so one customer cannot enumerate another's orders.
///
/// # Examples
///
/// ```
/// use autocsr::OrderId;
///
/// let id = OrderId::generate()?;
/// assert!(id.as_str().starts_with("ord_"));
/// assert_eq!(id.as_str().len(), 24);
/// assert!(OrderId::is_well_formed(id.as_str()));
/// assert_ne!(id, OrderId::generate()?);
/// assert!(!OrderId::is_well_formed("shop-4711"));
/// # Ok::<(), autocsr::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OrderId(String);

impl OrderId {
    /// Draws a new id from the OS CSPRNG.
    ///
    /// # Errors
    /// [`crate::Error::Randomness`] when the operating system cannot supply random bytes.
    pub fn generate() -> Result<OrderId, crate::Error> {
        let mut random = [0u8; SYMBOLS];
        getrandom::fill(&mut random).map_err(crate::Error::Randomness)?;
        Ok(OrderId::from_random(&random))
    }

    fn from_random(random: &[u8; SYMBOLS]) -> OrderId {
        let mut id = String::with_capacity(PREFIX.len() + SYMBOLS);
        id.push_str(PREFIX);
        // Each byte keeps its low 5 bits: uniform over the 32 symbols, no modulo bias.
        id.extend(random.iter().filter_map(|byte| {
            CROCKFORD
                .get(usize::from(byte & 0x1f))
                .map(|symbol| char::from(*symbol))
        }));
        OrderId(id)
    }

    /// The id as text (`ord_…`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if `text` has the shape of an id made by [`OrderId::generate`]. Hosts may use
    /// their own order ids with [`crate::AutoCsr::order_with_id`]; this only recognises ours.
    pub fn is_well_formed(text: &str) -> bool {
        text.strip_prefix(PREFIX).is_some_and(|rest| {
            rest.len() == SYMBOLS && rest.bytes().all(|byte| CROCKFORD.contains(&byte))
        })
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OrderId").field(&self.0).finish()
    }
}

impl AsRef<str> for OrderId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_well_formed_and_distinct() {
        let first = OrderId::generate().unwrap();
        let second = OrderId::generate().unwrap();
        assert!(OrderId::is_well_formed(first.as_str()), "{first}");
        assert_eq!(first.as_str().len(), 24);
        assert_ne!(first, second);
    }

    #[test]
    fn every_symbol_is_reachable_and_only_low_bits_count() {
        let all: [u8; SYMBOLS] = core::array::from_fn(|i| u8::try_from(i).unwrap() | 0xe0);
        assert_eq!(
            OrderId::from_random(&all).as_str(),
            "ord_0123456789ABCDEFGHJK"
        );
    }

    #[test]
    fn malformed_ids_are_recognised() {
        for bad in [
            "",
            "ord_",
            "ord_0123456789ABCDEFGHJ",
            "ord_0123456789ABCDEFGHJKM",
            "ord_0123456789ABCDEFGHJI",
            "ORD_0123456789ABCDEFGHJK",
            "../etc/passwd",
        ] {
            assert!(!OrderId::is_well_formed(bad), "{bad:?}");
        }
    }
}
