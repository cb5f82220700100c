//! Known-answer tests for each weak-key check: one modulus that trips it, one that does not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers"
)]

use num_bigint::BigUint;
use num_traits::One;

use autocsr_policy::weak::{self, DebianWeakKeys, RsaBlocklist};

/// 2^127 - 1, a Mersenne prime.
fn m127() -> BigUint {
    (BigUint::one() << 127u32) - 1u8
}

fn be(n: &BigUint) -> Vec<u8> {
    n.to_bytes_be()
}

#[test]
fn small_factor_trips_at_751_not_at_757() {
    assert_eq!(weak::small_factor(&be(&(m127() * 751u32))), Some(751));
    assert_eq!(weak::small_factor(&be(&(m127() * 3u32))), Some(3));
    assert_eq!(weak::small_factor(&be(&(m127() * 2u32))), Some(2));
    // 757 is the first prime above the bound.
    assert_eq!(weak::small_factor(&be(&(m127() * 757u32))), None);
    assert_eq!(weak::small_factor(&be(&m127())), None);
    // A small prime on its own is not "a factor of itself".
    assert_eq!(weak::small_factor(&[0x02, 0xef]), None); // 751
}

#[test]
fn fermat_trips_on_close_primes_not_on_distant_ones() {
    let close = BigUint::from(1_000_003u32) * 1_000_033u32;
    assert_eq!(
        weak::fermat_round(&be(&close), weak::FERMAT_ROUNDS),
        Some(1)
    );
    // (p+q)/2 - ceil(sqrt(n)) rounds: p, q 2^20 apart on 1024-bit primes is found at
    // once; small factors far apart need millions of rounds.
    let distant = BigUint::from(1_000_003u32) * 3_000_000_019u64;
    assert_eq!(weak::fermat_round(&be(&distant), weak::FERMAT_ROUNDS), None);
    // A square (p = q) is factored too.
    let square = m127() * m127();
    assert_eq!(
        weak::fermat_round(&be(&square), weak::FERMAT_ROUNDS),
        Some(1)
    );
    // Round counting: with the bound at the exact round it trips, one fewer does not.
    let found = weak::fermat_round(&be(&close), 1);
    assert_eq!(found, Some(1));
}

#[test]
fn fermat_counts_rounds_exactly() {
    // Find a product whose factorisation takes exactly k > 1 rounds, then bound at k-1.
    let p = BigUint::from(1_000_003u32);
    let mut checked = 0;
    for q in [1_010_033u32, 1_040_021, 1_100_009] {
        let n = &p * q;
        if let Some(round) = weak::fermat_round(&be(&n), 100_000) {
            assert_eq!(weak::fermat_round(&be(&n), round), Some(round));
            assert_eq!(weak::fermat_round(&be(&n), round - 1), None);
            if round > 1 {
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no multi-round case exercised");
}

/// Builds a modulus with the ROCA structure: p = k·M + 65537^a mod M with M the
/// product of the ROCA primes (both factors carry it, so n does too).
fn roca_like() -> BigUint {
    let primes = [
        3u32, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    let m: BigUint = primes.iter().map(|&p| BigUint::from(p)).product();
    let g = BigUint::from(65537u32);
    let p = &m * 12345u32 + g.modpow(&BigUint::from(77u32), &m);
    let q = &m * 54321u32 + g.modpow(&BigUint::from(1234u32), &m);
    p * q
}

#[test]
fn roca_fingerprint_trips_on_the_structure_not_on_others() {
    assert!(weak::roca_fingerprint(&be(&roca_like())));
    // Near miss: the same structure broken by one unit.
    assert!(!weak::roca_fingerprint(&be(&(roca_like() + 2u8))));
    assert!(!weak::roca_fingerprint(&be(&(m127() * m127()))));
}

#[test]
fn debian_list_format_and_lookup() {
    let list =
        DebianWeakKeys::parse("# comment\n\n1e6d6d5406dff39314f8\n31E848C69637DABF13C2\n").unwrap();
    assert_eq!(list.len(), 2);
    // The fingerprint of a modulus follows `openssl rsa -modulus | sha1sum | cut -c21-40`.
    let n = m127();
    let fingerprint = DebianWeakKeys::fingerprint_hex(&be(&n));
    assert_eq!(fingerprint.len(), 20);
    let with_n = DebianWeakKeys::parse(&fingerprint).unwrap();
    assert!(with_n.contains_modulus(&be(&n)));
    assert!(!list.contains_modulus(&be(&n)));
    // Leading zero bytes do not change the fingerprint.
    let mut padded = vec![0u8];
    padded.extend(be(&n));
    assert!(with_n.contains_modulus(&padded));
    assert!(matches!(
        DebianWeakKeys::parse("1e6d6d5406dff39314f8\nnot-hex\n"),
        Err(autocsr_policy::Error::BlocklistSyntax { line: 2 })
    ));
    assert!(DebianWeakKeys::parse("1e6d6d5406dff39314f").is_err());
}

#[test]
fn refuses_oversized_moduli_without_arithmetic() {
    let huge = vec![0xffu8; 16392 / 8];
    assert_eq!(weak::small_factor(&huge), None);
    assert_eq!(weak::fermat_round(&huge, weak::FERMAT_ROUNDS), None);
    assert!(!weak::roca_fingerprint(&huge));
}
