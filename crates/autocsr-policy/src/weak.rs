//! Weak-key checks on an RSA modulus (public data: no constant-time requirement).
//!
//! Every function takes the modulus as big-endian bytes and refuses (returns the
//! "not weak" answer without doing arithmetic) moduli above [`MAX_MODULUS_BITS`], so the
//! work per call is bounded whatever the input.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use num_bigint::BigUint;
use num_traits::{One, Zero};
use sha1::{Digest, Sha1};

use crate::Error;

/// Largest modulus the weak-key checks do arithmetic on (bits).
pub const MAX_MODULUS_BITS: u64 = 16384;

/// Trial division bound: BR 6.1.6 asks for no factors smaller than 752.
pub const SMALL_FACTOR_BOUND: u32 = 752;

/// Rounds of Fermat's method (as in zlint/pkilint and the issue): from ⌈√n⌉ upwards.
pub const FERMAT_ROUNDS: u32 = 100;

/// The primes the ROCA fingerprint test looks at (crocs-muni `roca-detect`, the
/// published list: every prime from 3 to 167).
const ROCA_PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// The generator of Infineon RSALib primes (p = k·M + 65537^a mod M).
const ROCA_GENERATOR: u32 = 65537;

fn modulus_within_limit(n: &BigUint) -> bool {
    n.bits() <= MAX_MODULUS_BITS
}

/// `n mod m` for `m < 2^32`, over the 32-bit digits of `n` (u64 arithmetic only).
fn mod_u32(digits: &[u32], m: u32) -> u32 {
    if m == 0 {
        return 0;
    }
    let m = u64::from(m);
    let mut rest = 0u64;
    for digit in digits.iter().rev() {
        rest = ((rest << 32) | u64::from(*digit)) % m;
    }
    // `rest < m < 2^32`.
    u32::try_from(rest).unwrap_or(0)
}

/// The primes below `bound`, by a small sieve.
fn primes_below(bound: u32) -> Vec<u32> {
    let size = usize::try_from(bound).unwrap_or(0);
    let mut composite = vec![false; size];
    let mut primes = Vec::new();
    for candidate in 2..size {
        if composite.get(candidate).copied().unwrap_or(true) {
            continue;
        }
        primes.push(u32::try_from(candidate).unwrap_or(0));
        let mut multiple = candidate.saturating_mul(candidate);
        while multiple < size {
            if let Some(slot) = composite.get_mut(multiple) {
                *slot = true;
            }
            multiple += candidate;
        }
    }
    primes
}

/// The primes below 752 grouped so that each group's product fits in 32 bits: one
/// pass over the modulus per group, then each prime is tested on the small remainder.
fn small_prime_groups() -> &'static [(u32, Vec<u32>)] {
    static GROUPS: OnceLock<Vec<(u32, Vec<u32>)>> = OnceLock::new();
    GROUPS.get_or_init(|| {
        let mut groups = Vec::new();
        let mut product = 1u32;
        let mut members = Vec::new();
        for prime in primes_below(SMALL_FACTOR_BOUND) {
            if let Some(next) = product.checked_mul(prime) {
                product = next;
                members.push(prime);
            } else {
                groups.push((product, std::mem::take(&mut members)));
                product = prime;
                members.push(prime);
            }
        }
        groups.push((product, members));
        groups
    })
}

/// The smallest prime below 752 that divides the modulus (and is not the modulus
/// itself), or `None`.
#[must_use]
pub fn small_factor(modulus_be: &[u8]) -> Option<u32> {
    let n = BigUint::from_bytes_be(modulus_be);
    if !modulus_within_limit(&n) {
        return None;
    }
    let digits = n.to_u32_digits();
    let is_itself = |p: u32| digits.len() == 1 && digits.first() == Some(&p);
    small_prime_groups()
        .iter()
        .flat_map(|(product, members)| {
            let rest = mod_u32(&digits, *product);
            members
                .iter()
                .copied()
                .filter(move |&p| rest.is_multiple_of(p))
        })
        .find(|&p| !is_itself(p))
}

/// Filter moduli: a square is a quadratic residue modulo each of them; together they
/// reject about 99% of non-squares before any big-integer square root.
const SQUARE_FILTER: [u32; 4] = [64, 63, 65, 11];
const SQUARE_FILTER_PRODUCT: u32 = 64 * 63 * 65 * 11;

const fn residue_mask(m: u32) -> u128 {
    let mut mask = 0u128;
    let mut y = 0;
    while y < m {
        mask |= 1u128 << ((y * y) % m);
        y += 1;
    }
    mask
}

const SQUARE_MASKS: [u128; 4] = [
    residue_mask(SQUARE_FILTER[0]),
    residue_mask(SQUARE_FILTER[1]),
    residue_mask(SQUARE_FILTER[2]),
    residue_mask(SQUARE_FILTER[3]),
];

/// Quick filter: can `x` (given `x mod SQUARE_FILTER_PRODUCT`) be a perfect square?
fn may_be_square(residue: u32) -> bool {
    SQUARE_FILTER
        .iter()
        .zip(SQUARE_MASKS)
        .all(|(m, mask)| mask & (1u128 << (residue % m)) != 0)
}

/// The round (1-based) in which Fermat's method, started at ⌈√n⌉, finds a nontrivial
/// factorisation `n = (a-b)(a+b)`, or `None` if it does not within `rounds` rounds.
#[must_use]
pub fn fermat_round(modulus_be: &[u8], rounds: u32) -> Option<u32> {
    let n = BigUint::from_bytes_be(modulus_be);
    if !modulus_within_limit(&n) || n <= BigUint::from(3u8) || (&n % 2u8).is_zero() {
        return None;
    }
    let mut start = n.sqrt();
    if &start * &start < n {
        start += 1u8;
    }
    // b² = a² − n and (a+1)² − n = b² + 2a + 1: only the residues modulo the filter
    // advance each round; the big square root runs only for the filter's survivors.
    let filter = u64::from(SQUARE_FILTER_PRODUCT);
    let mut a_mod = u64::from(mod_u32(&start.to_u32_digits(), SQUARE_FILTER_PRODUCT));
    let first_b_squared = &start * &start - &n;
    let mut b_squared_mod = u64::from(mod_u32(
        &first_b_squared.to_u32_digits(),
        SQUARE_FILTER_PRODUCT,
    ));
    for round in 1..=rounds {
        if may_be_square(u32::try_from(b_squared_mod).unwrap_or(0)) {
            let a = &start + (round - 1);
            let b_squared = &a * &a - &n;
            let b = b_squared.sqrt();
            if &b * &b == b_squared && &a - &b > BigUint::one() {
                return Some(round);
            }
        }
        b_squared_mod = (b_squared_mod + 2 * a_mod + 1) % filter;
        a_mod = (a_mod + 1) % filter;
    }
    None
}

/// The ROCA fingerprint (Nemec et al., CCS 2017; `roca-detect`): for every prime `p` in
/// the published list, `n mod p` lies in the multiplicative subgroup generated by
/// 65537 mod p. A random modulus passes with probability about 2^-154.
#[must_use]
pub fn roca_fingerprint(modulus_be: &[u8]) -> bool {
    let n = BigUint::from_bytes_be(modulus_be);
    if !modulus_within_limit(&n) || n.is_zero() {
        return false;
    }
    let digits = n.to_u32_digits();
    ROCA_PRIMES.iter().all(|&p| {
        let residue = mod_u32(&digits, p);
        let generator = ROCA_GENERATOR % p;
        let mut element = 1u32;
        // The subgroup has at most p-1 elements; walk it once.
        for _ in 0..p {
            if element == residue {
                return true;
            }
            element = element * generator % p;
            if element == 1 {
                break;
            }
        }
        false
    })
}

/// A host-supplied list of RSA moduli that must be refused (for example the Debian
/// weak keys of CVE-2008-0166). The crate ships no list.
pub trait RsaBlocklist: Send + Sync + fmt::Debug {
    /// True when this modulus (big-endian, no leading zero bytes) is on the list.
    fn contains_modulus(&self, modulus_be: &[u8]) -> bool;
}

/// Fingerprints in the `openssl-blacklist` / `openssl-vulnkey` format: the last 20 hex
/// digits (low 80 bits) of SHA-1 over `Modulus=<UPPERCASE HEX>\n`.
#[derive(Clone, Default)]
pub struct DebianWeakKeys {
    fingerprints: HashSet<[u8; 10]>,
}

impl fmt::Debug for DebianWeakKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DebianWeakKeys")
            .field("entries", &self.fingerprints.len())
            .finish()
    }
}

impl DebianWeakKeys {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse one `blacklist.RSA-<bits>` file's text (the host reads the file).
    ///
    /// # Errors
    /// [`Error::BlocklistSyntax`] with the 1-based line number when a non-comment line is
    /// not exactly 20 hex digits.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut list = Self::new();
        list.extend_from_text(text)?;
        Ok(list)
    }

    /// Add every entry of another `blacklist.RSA-<bits>` text (lists for several key
    /// sizes can share one set: the fingerprint covers the whole modulus).
    ///
    /// # Errors
    /// [`Error::BlocklistSyntax`] as for [`DebianWeakKeys::parse`]; nothing is added then.
    pub fn extend_from_text(&mut self, text: &str) -> Result<(), Error> {
        let mut parsed = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = parse_fingerprint(line).ok_or(Error::BlocklistSyntax {
                line: index.saturating_add(1),
            })?;
            parsed.push(entry);
        }
        self.fingerprints.extend(parsed);
        Ok(())
    }

    /// Number of distinct fingerprints.
    #[must_use]
    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    /// True when the list has no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }

    /// The 20-hex-digit fingerprint of a modulus, as the list stores it.
    #[must_use]
    pub fn fingerprint_hex(modulus_be: &[u8]) -> String {
        crate::hex_lower(&fingerprint(modulus_be))
    }
}

impl RsaBlocklist for DebianWeakKeys {
    fn contains_modulus(&self, modulus_be: &[u8]) -> bool {
        self.fingerprints.contains(&fingerprint(modulus_be))
    }
}

fn parse_fingerprint(line: &str) -> Option<[u8; 10]> {
    let bytes = line.as_bytes();
    if bytes.len() != 20 {
        return None;
    }
    let mut out = [0u8; 10];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

fn fingerprint(modulus_be: &[u8]) -> [u8; 10] {
    let first_nonzero = modulus_be
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(modulus_be.len());
    let significant = modulus_be.get(first_nonzero..).unwrap_or_default();
    let mut text = String::with_capacity(significant.len() * 2 + 10);
    text.push_str("Modulus=");
    for (i, byte) in significant.iter().enumerate() {
        if i == 0 {
            // `openssl rsa -modulus` prints no leading zero nibble.
            text.push_str(&format!("{byte:X}"));
        } else {
            text.push_str(&format!("{byte:02X}"));
        }
    }
    text.push('\n');
    let digest = Sha1::digest(text.as_bytes());
    let mut out = [0u8; 10];
    if let Some(tail) = digest.get(10..20) {
        out.copy_from_slice(tail);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_below_752_are_the_133_primes() {
        let primes = primes_below(SMALL_FACTOR_BOUND);
        assert_eq!(primes.len(), 133);
        assert_eq!(primes.first(), Some(&2));
        assert_eq!(primes.last(), Some(&751));
    }

    #[test]
    fn mod_u32_matches_biguint() {
        let n = BigUint::parse_bytes(b"123456789012345678901234567890123456789", 10).unwrap();
        for m in [3u32, 751, 2_882_880, u32::MAX] {
            assert_eq!(BigUint::from(mod_u32(&n.to_u32_digits(), m)), &n % m);
        }
    }

    #[test]
    fn square_filter_accepts_every_square_and_rejects_most_others() {
        for x in 0u64..5000 {
            let residue = u32::try_from((x * x) % u64::from(SQUARE_FILTER_PRODUCT)).unwrap();
            assert!(may_be_square(residue));
        }
        let survivors = (0..SQUARE_FILTER_PRODUCT)
            .filter(|&r| may_be_square(r))
            .count();
        assert!(survivors * 50 < usize::try_from(SQUARE_FILTER_PRODUCT).unwrap());
    }

    #[test]
    fn prime_groups_cover_every_small_prime_once() {
        let flat: Vec<u32> = small_prime_groups()
            .iter()
            .flat_map(|(_, m)| m.clone())
            .collect();
        assert_eq!(flat, primes_below(SMALL_FACTOR_BOUND));
        for (product, members) in small_prime_groups() {
            assert_eq!(members.iter().product::<u32>(), *product);
        }
    }
}
