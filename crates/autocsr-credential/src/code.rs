//! Unlock codes: random, grouped Crockford base32 with two check symbols.
//!
//! # The check symbols
//!
//! A code of `k` data symbols `d_0 .. d_{k-1}` (each a value in GF(32), the field built on
//! the primitive polynomial x^5 + x^2 + 1) gets two check symbols `p`, `q` at positions `k`
//! and `k + 1`, chosen so that the whole word `c_0 .. c_{n-1}` (n = k + 2 ≤ 31) satisfies
//!
//! ```text
//! S0 = c_0 + c_1 + ... + c_{n-1}                   = 0
//! S1 = c_0·α^0 + c_1·α^1 + ... + c_{n-1}·α^{n-1}   = 0      (α = x, order 31)
//! ```
//!
//! This is a shortened Reed–Solomon-style code with minimum distance 3: any error touching
//! one or two positions is detected. One error `e ≠ 0` gives `S0 = e ≠ 0`. Two errors
//! `e_i, e_j` (i ≠ j) with `S0 = 0` must have `e_i = e_j = e`, and then
//! `S1 = e·(α^i + α^j) ≠ 0` because the powers α^0 .. α^30 are distinct. A substitution
//! changes one position and an adjacent transposition two, so both are always caught. The
//! code is linear, so `tests::every_single_substitution_and_adjacent_swap_is_detected`
//! proves it exhaustively for every length (it checks every error pattern, which covers
//! every code word at once).

use core::fmt;

use rand_core::CryptoRng;
use secrecy::SecretString;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::Error;

/// Crockford base32: no I, L, O or U, so nothing reads as another symbol.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols per group in the canonical text.
const GROUP: usize = 5;
/// Check symbols appended to the data symbols.
const CHECK_SYMBOLS: usize = 2;

/// How long an unlock code is, in data symbols of 5 bits each.
///
/// Built from a number of bits with [`CodeLength::from_bits`], which refuses fewer than
/// [`CodeLength::MIN_BITS`] (an error, never a silent clamp) and more than
/// [`CodeLength::MAX_BITS`] (the check code covers at most 31 symbols).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodeLength {
    data_symbols: u8,
}

impl CodeLength {
    /// The smallest entropy a code may have: 80 bits.
    pub const MIN_BITS: u32 = 80;
    /// The largest entropy a code may have: 145 bits (29 data symbols).
    pub const MAX_BITS: u32 = 145;
    /// The default: 128 bits asked for, 26 data symbols, 130 bits of entropy.
    pub const DEFAULT: CodeLength = CodeLength { data_symbols: 26 };

    /// A length giving at least `bits` bits of entropy (rounded up to whole symbols).
    ///
    /// # Errors
    /// [`Error::CodeTooShort`] below [`Self::MIN_BITS`], [`Error::CodeTooLong`] above
    /// [`Self::MAX_BITS`].
    pub fn from_bits(bits: u32) -> Result<Self, Error> {
        if bits < Self::MIN_BITS {
            return Err(Error::CodeTooShort {
                bits,
                min_bits: Self::MIN_BITS,
            });
        }
        if bits > Self::MAX_BITS {
            return Err(Error::CodeTooLong {
                bits,
                max_bits: Self::MAX_BITS,
            });
        }
        let data_symbols = u8::try_from(bits.div_ceil(5)).map_err(|_| Error::CodeTooLong {
            bits,
            max_bits: Self::MAX_BITS,
        })?;
        Ok(Self { data_symbols })
    }

    /// Entropy of a code of this length, in bits (5 per data symbol).
    #[must_use]
    pub fn entropy_bits(self) -> u32 {
        u32::from(self.data_symbols) * 5
    }

    /// Number of random data symbols.
    #[must_use]
    pub fn data_symbols(self) -> usize {
        usize::from(self.data_symbols)
    }

    /// Number of symbols including the check symbols.
    #[must_use]
    pub fn total_symbols(self) -> usize {
        self.data_symbols() + CHECK_SYMBOLS
    }

    /// Length of the canonical text (symbols plus the dashes between groups of five).
    #[must_use]
    pub fn canonical_len(self) -> usize {
        let n = self.total_symbols();
        n + n.div_ceil(GROUP) - 1
    }

    fn from_total_symbols(total: usize) -> Option<Self> {
        let data = total.checked_sub(CHECK_SYMBOLS)?;
        let bits = u32::try_from(data * 5).ok()?;
        Self::from_bits(bits)
            .ok()
            .filter(|l| l.data_symbols() == data)
    }
}

impl Default for CodeLength {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A random unlock code: the password of one sealed archive.
///
/// Zeroized on drop, compared in constant time, `Debug` prints a placeholder, and there is
/// no `Display`: the text leaves only through [`UnlockCode::reveal`]. A code is never
/// derived from anything (no seed, no order id): it cannot be computed again.
#[derive(Clone)]
pub struct UnlockCode {
    /// Symbol values 0..32, data then check symbols.
    symbols: Zeroizing<Vec<u8>>,
}

impl UnlockCode {
    /// A new code of the default length from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`Error::Randomness`] if the operating system cannot supply random bytes.
    pub fn generate() -> Result<Self, Error> {
        Self::generate_os(CodeLength::DEFAULT)
    }

    /// A new code of `length` from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`Error::Randomness`] if the operating system cannot supply random bytes.
    pub fn generate_os(length: CodeLength) -> Result<Self, Error> {
        let mut bytes = Zeroizing::new(vec![0u8; length.data_symbols()]);
        getrandom::fill(&mut bytes).map_err(|_| Error::Randomness)?;
        Ok(Self::from_random_bytes(&bytes))
    }

    /// A new code of `length` from a caller-supplied CSPRNG (tests, or a host's own DRBG).
    pub fn generate_with_rng<R: CryptoRng + ?Sized>(rng: &mut R, length: CodeLength) -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; length.data_symbols()]);
        rng.fill_bytes(&mut bytes);
        Self::from_random_bytes(&bytes)
    }

    fn from_random_bytes(bytes: &[u8]) -> Self {
        let mut symbols = Zeroizing::new(Vec::with_capacity(bytes.len() + CHECK_SYMBOLS));
        // 256 is a multiple of 32, so the low five bits of a uniform byte are uniform.
        symbols.extend(bytes.iter().map(|b| b & 0x1f));
        let (p, q) = check_symbols(&symbols);
        symbols.push(p);
        symbols.push(q);
        Self { symbols }
    }

    /// Parses a code of the default length typed by a person.
    ///
    /// Forgives case, spaces, missing or extra dashes and the look-alikes `O`→`0`,
    /// `I`/`L`→`1`. The result's [`reveal`](Self::reveal) is the canonical form.
    ///
    /// # Errors
    /// [`Error::BadCharacter`] (with its position in `text`, counted in characters from 0),
    /// [`Error::WrongLength`], or [`Error::ChecksumMismatch`] (probably a typo).
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_with_length(text, CodeLength::DEFAULT)
    }

    /// Parses a code that must have `length`; see [`parse`](Self::parse).
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    pub fn parse_with_length(text: &str, length: CodeLength) -> Result<Self, Error> {
        let symbols = normalize(text)?;
        if symbols.len() != length.total_symbols() {
            return Err(Error::WrongLength {
                expected: length.total_symbols(),
                found: symbols.len(),
            });
        }
        Self::from_symbols(symbols)
    }

    /// Parses a code of any allowed length (80 to 145 bits); see [`parse`](Self::parse).
    ///
    /// Prefer [`parse_with_length`](Self::parse_with_length) when the length is known: a
    /// dropped character is then reported as [`Error::WrongLength`].
    ///
    /// # Errors
    /// As [`parse`](Self::parse); [`Error::WrongLength`] gives the default length as
    /// `expected` when no allowed length matches.
    pub fn parse_any_length(text: &str) -> Result<Self, Error> {
        // `from_symbols` checks the length.
        Self::from_symbols(normalize(text)?)
    }

    /// Parses untrusted bytes (a form field before UTF-8 validation) like
    /// [`parse_any_length`](Self::parse_any_length): the fuzzing and corpus-replay entry
    /// point.
    ///
    /// # Errors
    /// [`Error::BadCharacter`] at the first byte that is not valid UTF-8 (its position
    /// counted in characters), then as [`parse_any_length`](Self::parse_any_length).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, Error> {
        match core::str::from_utf8(bytes) {
            Ok(text) => Self::parse_any_length(text),
            Err(e) => {
                let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
                let position = core::str::from_utf8(valid).map_or(0, |t| t.chars().count());
                Err(Error::BadCharacter { position })
            }
        }
    }

    /// Builds a code from symbol values (0..32), checking length and check symbols.
    pub(crate) fn from_symbols(symbols: Zeroizing<Vec<u8>>) -> Result<Self, Error> {
        if CodeLength::from_total_symbols(symbols.len()).is_none() {
            return Err(Error::WrongLength {
                expected: CodeLength::DEFAULT.total_symbols(),
                found: symbols.len(),
            });
        }
        if symbols.iter().any(|&s| s >= 32) {
            return Err(Error::ChecksumMismatch);
        }
        let (s0, s1) = syndromes(&symbols);
        if s0 != 0 || s1 != 0 {
            return Err(Error::ChecksumMismatch);
        }
        Ok(Self { symbols })
    }

    /// Symbol values (data then check), for the vault's record encoding.
    pub(crate) fn symbols(&self) -> &[u8] {
        &self.symbols
    }

    /// The length of this code.
    #[must_use]
    pub fn length(&self) -> CodeLength {
        let data = self.symbols.len().saturating_sub(CHECK_SYMBOLS);
        CodeLength {
            data_symbols: u8::try_from(data).unwrap_or(u8::MAX),
        }
    }

    /// The canonical text, `XXXXX-XXXXX-…`: exactly the archive password.
    #[must_use]
    pub fn reveal(&self) -> SecretString {
        // Exact capacity: the String is never reallocated, so no stray copy is left behind.
        let mut text = String::with_capacity(self.length().canonical_len());
        for (i, &s) in self.symbols.iter().enumerate() {
            if i > 0 && i % GROUP == 0 {
                text.push('-');
            }
            text.push(char::from(symbol_char(s)));
        }
        SecretString::from(text)
    }
}

impl fmt::Debug for UnlockCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnlockCode([REDACTED])")
    }
}

impl ConstantTimeEq for UnlockCode {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        // Lengths are public (they follow from the configuration); the symbols are not.
        self.symbols.as_slice().ct_eq(other.symbols.as_slice())
    }
}

impl PartialEq for UnlockCode {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.ct_eq(other))
    }
}

impl Eq for UnlockCode {}

impl Drop for UnlockCode {
    fn drop(&mut self) {
        // Zeroizing<Vec<u8>> clears itself; this makes the intent explicit and keeps the
        // type from gaining Copy-like semantics by accident.
        self.symbols.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for UnlockCode {}

fn symbol_char(s: u8) -> u8 {
    ALPHABET.get(usize::from(s & 0x1f)).copied().unwrap_or(b'0')
}

/// Maps one typed character to a symbol value, forgiving case and look-alikes.
fn char_value(c: char) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    let byte = u8::try_from(c).ok()?;
    let pos = ALPHABET.iter().position(|&a| a == byte)?;
    u8::try_from(pos).ok()
}

/// More typed symbols than any code has; `normalize` stops there.
const MAX_TYPED_SYMBOLS: usize = 64;

/// Strips separators and maps characters to symbol values.
fn normalize(text: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    // Room for every symbol it may keep: a Vec that grew would free its old buffer
    // (holding most of the code) without wiping it.
    let mut symbols = Zeroizing::new(Vec::with_capacity(MAX_TYPED_SYMBOLS));
    for (position, c) in text.chars().enumerate() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        match char_value(c) {
            // Anything this long cannot be a code; stop before the buffer grows.
            Some(_) if symbols.len() >= MAX_TYPED_SYMBOLS => {
                return Err(Error::WrongLength {
                    expected: CodeLength::DEFAULT.total_symbols(),
                    found: text
                        .chars()
                        .filter(|c| *c != '-' && !c.is_whitespace())
                        .count(),
                });
            }
            Some(v) => symbols.push(v),
            None => return Err(Error::BadCharacter { position }),
        }
    }
    Ok(symbols)
}

/// Multiplication in GF(32) modulo x^5 + x^2 + 1 (no tables, no secret-dependent branches).
fn gf_mul(a: u8, b: u8) -> u8 {
    let mut a = a & 0x1f;
    let mut b = b & 0x1f;
    let mut product = 0u8;
    for _ in 0..5 {
        product ^= a & 0u8.wrapping_sub(b & 1);
        let carry = (a >> 4) & 1;
        a = ((a << 1) & 0x1f) ^ (0x05 & 0u8.wrapping_sub(carry));
        b >>= 1;
    }
    product
}

fn gf_pow(base: u8, exp: usize) -> u8 {
    let mut result = 1u8;
    for _ in 0..(exp % 31) {
        result = gf_mul(result, base);
    }
    result
}

/// Inverse in GF(32)*: a^30, since the multiplicative group has order 31.
fn gf_inv(a: u8) -> u8 {
    gf_pow(a, 30)
}

const ALPHA: u8 = 2;

fn syndromes(symbols: &[u8]) -> (u8, u8) {
    let mut s0 = 0u8;
    let mut s1 = 0u8;
    let mut power = 1u8;
    for &c in symbols {
        s0 ^= c;
        s1 ^= gf_mul(c, power);
        power = gf_mul(power, ALPHA);
    }
    (s0, s1)
}

fn check_symbols(data: &[u8]) -> (u8, u8) {
    let k = data.len();
    let (a, b) = syndromes(data);
    let alpha_k = gf_pow(ALPHA, k);
    let alpha_k1 = gf_mul(alpha_k, ALPHA);
    let numerator = b ^ gf_mul(a, alpha_k1);
    let denominator = gf_mul(alpha_k, 1 ^ ALPHA);
    let p = gf_mul(numerator, gf_inv(denominator));
    (p, a ^ p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn all_lengths() -> impl Iterator<Item = CodeLength> {
        (16u32..=29).map(|k| CodeLength::from_bits(k * 5).unwrap())
    }

    #[test]
    fn field_inverse_is_an_inverse() {
        for a in 1..32u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "a = {a}");
        }
        // α generates the whole multiplicative group: its first 31 powers are distinct.
        let mut seen = std::collections::HashSet::new();
        for i in 0..31 {
            assert!(seen.insert(gf_pow(ALPHA, i)));
        }
    }

    /// The code is linear, so an error pattern is detected for every code word iff its
    /// syndrome is non-zero. This checks every substitution (position × non-zero change)
    /// and every adjacent transposition (position × pair of distinct symbols) for every
    /// allowed length: an exhaustive proof, not a sample.
    #[test]
    fn every_single_substitution_and_adjacent_swap_is_detected() {
        for length in all_lengths() {
            let n = length.total_symbols();
            for position in 0..n {
                for change in 1..32u8 {
                    let mut error = vec![0u8; n];
                    error[position] = change;
                    assert_ne!(syndromes(&error), (0, 0), "n={n} pos={position} e={change}");
                }
            }
            for position in 0..n - 1 {
                for a in 0..32u8 {
                    for b in 0..32u8 {
                        if a == b {
                            continue;
                        }
                        let mut error = vec![0u8; n];
                        error[position] = a ^ b;
                        error[position + 1] = a ^ b;
                        assert_ne!(syndromes(&error), (0, 0), "n={n} swap at {position}");
                    }
                }
            }
        }
    }

    #[test]
    fn generated_codes_verify_and_round_trip() {
        for length in all_lengths() {
            let code = UnlockCode::generate_os(length).unwrap();
            let text = code.reveal();
            assert_eq!(text.expose_secret().len(), length.canonical_len());
            let back = UnlockCode::parse_with_length(text.expose_secret(), length).unwrap();
            assert_eq!(back, code);
            assert_eq!(
                UnlockCode::parse_any_length(text.expose_secret()).unwrap(),
                code
            );
        }
    }

    #[test]
    fn lengths_below_80_or_above_145_bits_are_refused() {
        assert!(matches!(
            CodeLength::from_bits(79),
            Err(Error::CodeTooShort { bits: 79, .. })
        ));
        assert!(matches!(
            CodeLength::from_bits(0),
            Err(Error::CodeTooShort { .. })
        ));
        assert!(matches!(
            CodeLength::from_bits(146),
            Err(Error::CodeTooLong { .. })
        ));
        assert_eq!(CodeLength::from_bits(80).unwrap().entropy_bits(), 80);
        assert_eq!(CodeLength::from_bits(128).unwrap(), CodeLength::DEFAULT);
        assert!(CodeLength::DEFAULT.entropy_bits() >= 128);
    }

    #[test]
    fn parse_forgives_case_spaces_dashes_and_lookalikes() {
        let code = UnlockCode::generate().unwrap();
        let canonical = code.reveal().expose_secret().to_owned();
        assert_eq!(canonical.len(), 33);
        let plain: String = canonical.chars().filter(|c| *c != '-').collect();
        let sloppy: String = plain
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let c = match c {
                    '0' => 'o',
                    '1' if i % 2 == 0 => 'l',
                    '1' => 'I',
                    other => other.to_ascii_lowercase(),
                };
                if i % 3 == 0 {
                    vec![' ', c, '-', '-']
                } else {
                    vec![c]
                }
            })
            .collect();
        let parsed = UnlockCode::parse(&sloppy).unwrap();
        assert_eq!(parsed.reveal().expose_secret(), &canonical);
        assert_eq!(UnlockCode::parse(&plain).unwrap(), code);
    }

    #[test]
    fn parse_reports_typed_errors() {
        let code = UnlockCode::generate().unwrap();
        let canonical = code.reveal().expose_secret().to_owned();
        let mut bad = canonical.clone();
        bad.replace_range(7..8, "U");
        assert!(matches!(
            UnlockCode::parse(&bad),
            Err(Error::BadCharacter { position: 7 })
        ));
        assert!(matches!(
            UnlockCode::parse(&canonical[..canonical.len() - 1]),
            Err(Error::WrongLength {
                expected: 28,
                found: 27
            })
        ));
        assert!(matches!(
            UnlockCode::parse(""),
            Err(Error::WrongLength { found: 0, .. })
        ));
        let first = canonical.as_bytes()[0];
        let replacement = if first == b'A' { "B" } else { "A" };
        let mut typo = canonical.clone();
        typo.replace_range(0..1, replacement);
        assert!(matches!(
            UnlockCode::parse(&typo),
            Err(Error::ChecksumMismatch)
        ));
        let long = "0".repeat(10_000);
        assert!(matches!(
            UnlockCode::parse(&long),
            Err(Error::WrongLength { .. })
        ));
    }

    #[test]
    fn debug_is_redacted_and_equality_compares_symbols() {
        let a = UnlockCode::generate().unwrap();
        let b = UnlockCode::generate().unwrap();
        let text = a.reveal().expose_secret().to_owned();
        let debug = format!("{a:?}");
        assert!(!debug.contains(&text[..5]));
        assert_eq!(debug, "UnlockCode([REDACTED])");
        assert_ne!(a, b);
        assert_eq!(a.clone(), a);
    }
}
