//! The zeroizing private-key type: generation, PKCS#8 import and export.

use core::fmt;

use der::pem::LineEnding;
use pkcs8::pkcs5::pbes2;
use pkcs8::{EncodePrivateKey, EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use rand_core::{CryptoRng, TryCryptoRng};
use rsa::traits::PublicKeyParts;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use signature::Keypair;
use spki::EncodePublicKey;
use zeroize::Zeroizing;

use crate::algorithm::{ID_EC_PUBLIC_KEY, KeyAlgorithm, RSA_ENCRYPTION, SECP256R1, SECP384R1};
use crate::error::{Error, Result};

type RsaSigningKey = rsa::pkcs1v15::SigningKey<sha2::Sha256>;

/// Largest scrypt work accepted when decrypting, as N·r·p (the number of 128-byte
/// BlockMix rounds per ROMix pass, up to a constant): 8x the 2^17 that `openssl pkcs8
/// -scrypt` and this crate write (N = 2^14, r = 8, p = 1), so N = 2^17 at r = 8. It also
/// bounds the memory, about 128·r·(N + p) bytes, to at most 256 MiB.
pub const MAX_SCRYPT_WORK: u64 = 1 << 20;
/// Largest PBKDF2-HMAC-SHA-256 (or -SHA-224) work accepted when decrypting, as iterations
/// times the output blocks the cipher key needs: 3.3x OWASP's 2023 figure of 600,000 (what
/// this crate writes), 2x Django's 1,000,000, about one second on a server core.
pub const MAX_PBKDF2_SHA256_WORK: u64 = 2_000_000;
/// Largest PBKDF2-HMAC-SHA-512 (or -SHA-384) work, as for SHA-256: 3.3x OWASP's 2023
/// figure of 210,000, about the same time as [`MAX_PBKDF2_SHA256_WORK`].
pub const MAX_PBKDF2_SHA512_WORK: u64 = 700_000;

/// How an exported PKCS#8 key is encrypted (PBES2, RFC 8018, always with AES-256-CBC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Pkcs8Encryption {
    /// scrypt with N = 2^14, r = 8, p = 1 (what `openssl pkcs8 -scrypt` writes and within
    /// OpenSSL 3's default memory limit), 16-byte salt.
    #[default]
    Scrypt,
    /// PBKDF2-HMAC-SHA-256 with 600,000 iterations (OWASP 2023), 16-byte salt: for readers
    /// that do not know scrypt.
    Pbkdf2Sha256,
}

/// The key material. Every variant is boxed so the secret is not copied when the
/// `PrivateKey` moves, and every inner type zeroizes itself on drop.
pub(crate) enum KeyMaterial {
    Rsa(Box<RsaSigningKey>),
    P256(Box<p256::ecdsa::SigningKey>),
    P384(Box<p384::ecdsa::SigningKey>),
}

/// A private key of one of the [`KeyAlgorithm`]s.
///
/// - Wiped on drop: the RSA primes, exponents and CRT values, and the ECDSA scalar, are
///   zeroized by their own types when this value is dropped (they implement
///   [`zeroize::ZeroizeOnDrop`]); so is every PKCS#8 buffer this type hands out
///   ([`SecretSlice`], [`SecretString`]) or uses inside ([`Zeroizing`]).
/// - `Debug` prints only the algorithm; there is no `Display`, no `Clone`, no `PartialEq`.
/// - Exporting the secret is always an explicit call (`to_pkcs8_*`).
///
/// # Examples
///
/// ```
/// use autocsr_keygen::secrecy::ExposeSecret as _;
/// use autocsr_keygen::{KeyAlgorithm, PrivateKey};
///
/// let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
/// assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);
/// assert_eq!(format!("{key:?}"), r#"PrivateKey { algorithm: EcdsaP256, key: "[REDACTED]" }"#);
///
/// // The PEM is a SecretString: reading it is an explicit `expose_secret`.
/// let pem = key.to_pkcs8_pem()?;
/// assert!(pem.expose_secret().starts_with("-----BEGIN PRIVATE KEY-----\n"));
/// let read_back = PrivateKey::from_pkcs8_pem(pem.expose_secret())?;
/// assert_eq!(read_back.public_key_der()?, key.public_key_der()?);
/// # Ok::<(), autocsr_keygen::Error>(())
/// ```
pub struct PrivateKey {
    algorithm: KeyAlgorithm,
    /// Read by the [`CsrSigner`](crate::CsrSigner) implementation in `signer.rs`.
    pub(crate) material: KeyMaterial,
}

// Sound because every field zeroizes itself on drop (checked at compile time in the tests).
impl zeroize::ZeroizeOnDrop for PrivateKey {}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl PrivateKey {
    /// Generates a key from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`Error::Rng`] if the OS random source fails, [`Error::KeyGeneration`] if the
    /// cryptographic library fails.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey> {
        PrivateKey::generate_from(algorithm, &mut getrandom::SysRng)
    }

    /// Generates a key from a caller-supplied CSPRNG (for tests and for hosts with their
    /// own DRBG). Use [`PrivateKey::generate`] unless you have a reason not to.
    ///
    /// # Errors
    /// [`Error::KeyGeneration`] if the cryptographic library fails.
    pub fn generate_with_rng<R: CryptoRng + ?Sized>(
        algorithm: KeyAlgorithm,
        rng: &mut R,
    ) -> Result<PrivateKey> {
        PrivateKey::generate_from(algorithm, rng)
    }

    /// Like [`PrivateKey::generate_with_rng`] for a random source that can fail (a
    /// hardware DRBG, say): its failure becomes [`Error::Rng`].
    ///
    /// # Errors
    /// [`Error::Rng`] if `rng` fails, [`Error::KeyGeneration`] if the cryptographic library
    /// fails.
    pub fn try_generate_with_rng<R: TryCryptoRng + ?Sized>(
        algorithm: KeyAlgorithm,
        rng: &mut R,
    ) -> Result<PrivateKey> {
        PrivateKey::generate_from(algorithm, rng)
    }

    fn generate_from<R: TryCryptoRng + ?Sized>(
        algorithm: KeyAlgorithm,
        rng: &mut R,
    ) -> Result<PrivateKey> {
        use p256::elliptic_curve::Generate;
        let material = match algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let bits = algorithm.rsa_bits().ok_or(Error::KeyGeneration)?;
                let key = rsa::PrivateKey::new(rng, bits).map_err(|err| match err {
                    rsa::Error::Rng => Error::Rng,
                    _ => Error::KeyGeneration,
                })?;
                KeyMaterial::Rsa(Box::new(RsaSigningKey::new(key)))
            }
            KeyAlgorithm::EcdsaP256 => KeyMaterial::P256(Box::new(
                p256::ecdsa::SigningKey::try_generate_from_rng(rng).map_err(|_| Error::Rng)?,
            )),
            KeyAlgorithm::EcdsaP384 => KeyMaterial::P384(Box::new(
                p384::ecdsa::SigningKey::try_generate_from_rng(rng).map_err(|_| Error::Rng)?,
            )),
        };
        Ok(PrivateKey {
            algorithm,
            material,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The unencrypted PKCS#8 (RFC 5958 `OneAsymmetricKey` v1) DER encoding, as a
    /// [`SecretSlice`]: wiped when dropped, redacted in `Debug`, read with
    /// `expose_secret()`. (A bare `Zeroizing<Vec<u8>>` would print the key in `Debug`.)
    ///
    /// # Errors
    /// [`Error::KeyEncoding`] if encoding fails.
    pub fn to_pkcs8_der(&self) -> Result<SecretSlice<u8>> {
        Ok(SecretSlice::from(
            self.pkcs8_document()?.as_bytes().to_vec(),
        ))
    }

    /// The one place the key is encoded as PKCS#8 (a wiping `SecretDocument`), for the
    /// DER, PEM and encrypted exports.
    fn pkcs8_document(&self) -> Result<der::SecretDocument> {
        match &self.material {
            KeyMaterial::Rsa(key) => key.to_pkcs8_der(),
            KeyMaterial::P256(key) => key.to_pkcs8_der(),
            KeyMaterial::P384(key) => key.to_pkcs8_der(),
        }
        .map_err(|_| Error::KeyEncoding)
    }

    /// The unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, LF line endings).
    ///
    /// # Errors
    /// [`Error::KeyEncoding`] if encoding fails.
    pub fn to_pkcs8_pem(&self) -> Result<SecretString> {
        let pem = self
            .pkcs8_document()?
            .to_pem("PRIVATE KEY", LineEnding::LF)
            .map_err(|_| Error::KeyEncoding)?;
        Ok(SecretString::from(pem.as_str()))
    }

    /// The PKCS#8 `EncryptedPrivateKeyInfo` DER encoding (PBES2 with the chosen key
    /// derivation, AES-256-CBC, fresh random salt and IV from the OS CSPRNG). The result is
    /// ciphertext, so it is an ordinary `Vec`.
    ///
    /// # Errors
    /// [`Error::EmptyPassphrase`], [`Error::Rng`], [`Error::KeyEncoding`].
    pub fn to_encrypted_pkcs8_der(
        &self,
        passphrase: &SecretString,
        encryption: Pkcs8Encryption,
    ) -> Result<Vec<u8>> {
        Ok(self.encrypt(passphrase, encryption)?.as_bytes().to_vec())
    }

    /// The PKCS#8 `EncryptedPrivateKeyInfo` as PEM (`-----BEGIN ENCRYPTED PRIVATE KEY-----`,
    /// LF line endings), readable by `openssl pkey -passin`.
    ///
    /// # Errors
    /// [`Error::EmptyPassphrase`], [`Error::Rng`], [`Error::KeyEncoding`].
    ///
    /// # Examples
    ///
    /// ```
    /// use autocsr_keygen::secrecy::SecretString;
    /// use autocsr_keygen::{Error, KeyAlgorithm, Pkcs8Encryption, PrivateKey};
    ///
    /// let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
    /// let passphrase = SecretString::from("correct horse battery staple");
    /// let pem = key.to_encrypted_pkcs8_pem(&passphrase, Pkcs8Encryption::Scrypt)?;
    /// assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    ///
    /// let opened = PrivateKey::from_encrypted_pkcs8_pem(&pem, &passphrase)?;
    /// assert_eq!(opened.public_key_der()?, key.public_key_der()?);
    /// // An empty passphrase is refused rather than used.
    /// let empty = SecretString::from("");
    /// assert!(matches!(
    ///     key.to_encrypted_pkcs8_pem(&empty, Pkcs8Encryption::Scrypt),
    ///     Err(Error::EmptyPassphrase)
    /// ));
    /// # Ok::<(), autocsr_keygen::Error>(())
    /// ```
    pub fn to_encrypted_pkcs8_pem(
        &self,
        passphrase: &SecretString,
        encryption: Pkcs8Encryption,
    ) -> Result<String> {
        let document = self.encrypt(passphrase, encryption)?;
        der::pem::encode_string("ENCRYPTED PRIVATE KEY", LineEnding::LF, document.as_bytes())
            .map_err(|_| Error::KeyEncoding)
    }

    fn encrypt(
        &self,
        passphrase: &SecretString,
        encryption: Pkcs8Encryption,
    ) -> Result<der::SecretDocument> {
        let passphrase = passphrase.expose_secret();
        if passphrase.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        let rng = &mut getrandom::SysRng;
        let parameters = match encryption {
            Pkcs8Encryption::Scrypt => pbes2::Parameters::generate_scrypt(rng),
            Pkcs8Encryption::Pbkdf2Sha256 => pbes2::Parameters::generate_pbkdf2(rng),
        }
        .map_err(|err| match err {
            pkcs8::pkcs5::Error::Rng => Error::Rng,
            _ => Error::KeyEncoding,
        })?;
        let plain = self.pkcs8_document()?;
        let info: PrivateKeyInfoRef<'_> = plain.decode_msg().map_err(|_| Error::KeyEncoding)?;
        info.encrypt_with_params(parameters, passphrase.as_bytes())
            .map_err(|_| Error::KeyEncoding)
    }

    /// Reads an unencrypted PKCS#8 DER private key.
    ///
    /// # Errors
    /// [`Error::InvalidPrivateKey`] for malformed input, [`Error::UnsupportedKey`] for a
    /// well-formed key that is not RSA 2048/3072/4096 with e = 65537, P-256 or P-384.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey> {
        let info = PrivateKeyInfoRef::try_from(der).map_err(|_| Error::InvalidPrivateKey)?;
        let algorithm_oid = info.algorithm.oid;
        if algorithm_oid == RSA_ENCRYPTION {
            let key = rsa::PrivateKey::try_from(info).map_err(|_| Error::InvalidPrivateKey)?;
            let algorithm =
                KeyAlgorithm::from_rsa_bits(key.n().bit_width()).ok_or(Error::UnsupportedKey {
                    reason: "RSA modulus is not 2048, 3072 or 4096 bits",
                })?;
            let exponent = key.e_bytes();
            let significant: Vec<u8> = exponent.iter().copied().skip_while(|b| *b == 0).collect();
            if significant != [0x01, 0x00, 0x01] {
                return Err(Error::UnsupportedKey {
                    reason: "RSA public exponent is not 65537",
                });
            }
            return Ok(PrivateKey {
                algorithm,
                material: KeyMaterial::Rsa(Box::new(RsaSigningKey::new(key))),
            });
        }
        if algorithm_oid != ID_EC_PUBLIC_KEY {
            return Err(Error::UnsupportedKey {
                reason: "not an RSA or ECDSA key",
            });
        }
        let curve = info
            .algorithm
            .parameters_oid()
            .map_err(|_| Error::InvalidPrivateKey)?;
        if curve == SECP256R1 {
            let key =
                p256::ecdsa::SigningKey::try_from(info).map_err(|_| Error::InvalidPrivateKey)?;
            Ok(PrivateKey {
                algorithm: KeyAlgorithm::EcdsaP256,
                material: KeyMaterial::P256(Box::new(key)),
            })
        } else if curve == SECP384R1 {
            let key =
                p384::ecdsa::SigningKey::try_from(info).map_err(|_| Error::InvalidPrivateKey)?;
            Ok(PrivateKey {
                algorithm: KeyAlgorithm::EcdsaP384,
                material: KeyMaterial::P384(Box::new(key)),
            })
        } else {
            Err(Error::UnsupportedKey {
                reason: "elliptic curve is not P-256 or P-384",
            })
        }
    }

    /// Reads an unencrypted PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Errors
    /// As [`PrivateKey::from_pkcs8_der`]; a wrong PEM label or bad armour is
    /// [`Error::InvalidPrivateKey`].
    pub fn from_pkcs8_pem(pem: &str) -> Result<PrivateKey> {
        let (label, der) = der::pem::decode_vec(pem.as_bytes())
            .map(|(label, der)| (label.to_owned(), Zeroizing::new(der)))
            .map_err(|_| Error::InvalidPrivateKey)?;
        if label != "PRIVATE KEY" {
            return Err(Error::InvalidPrivateKey);
        }
        PrivateKey::from_pkcs8_der(&der)
    }

    /// Reads a PKCS#8 `EncryptedPrivateKeyInfo` (DER). PBES2 with scrypt or
    /// PBKDF2-HMAC-SHA-2 and AES is read. The key-derivation parameters are checked before
    /// any work is done, so a hostile file can neither crash nor stall the host: scrypt N
    /// must be a power of two of at least 2 and r, p at least 1, PBKDF2 must iterate at
    /// least once; the work is capped at [`MAX_SCRYPT_WORK`] (N·r·p) for scrypt and at
    /// [`MAX_PBKDF2_SHA256_WORK`] / [`MAX_PBKDF2_SHA512_WORK`] (iterations times the
    /// hash-sized blocks of the cipher key) for PBKDF2.
    ///
    /// # Errors
    /// [`Error::EmptyPassphrase`], [`Error::InvalidPrivateKey`] for malformed input,
    /// [`Error::UnsupportedEncryption`] (PBES1, PBKDF2-HMAC-SHA-1, other schemes),
    /// [`Error::InvalidKeyDerivation`] for invalid parameters, [`Error::LimitExceeded`] for
    /// an excessive cost,
    /// [`Error::Decryption`] for a wrong passphrase or corrupt ciphertext, and the errors of
    /// [`PrivateKey::from_pkcs8_der`] for the decrypted key.
    pub fn from_encrypted_pkcs8_der(der: &[u8], passphrase: &SecretString) -> Result<PrivateKey> {
        let passphrase = passphrase.expose_secret();
        if passphrase.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        let encrypted =
            EncryptedPrivateKeyInfoRef::try_from(der).map_err(|_| Error::InvalidPrivateKey)?;
        // Only PBES2 (RFC 8018) has parameters here; PBES1 (DES, RC2) is refused.
        let parameters = encrypted
            .encryption_algorithm
            .pbes2()
            .ok_or(Error::UnsupportedEncryption)?;
        check_kdf(parameters)?;
        let plain = encrypted
            .decrypt(passphrase.as_bytes())
            .map_err(|err| match err {
                pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm {
                    ..
                }) => Error::UnsupportedEncryption,
                _ => Error::Decryption,
            })?;
        PrivateKey::from_pkcs8_der(plain.as_bytes()).map_err(|err| match err {
            // A wrong passphrase usually fails the CBC padding check, but 1 in 256 wrong
            // passphrases gives valid padding and garbage: that is a decryption failure too.
            Error::InvalidPrivateKey => Error::Decryption,
            other => other,
        })
    }

    /// Reads a PKCS#8 `-----BEGIN ENCRYPTED PRIVATE KEY-----` PEM.
    ///
    /// # Errors
    /// As [`PrivateKey::from_encrypted_pkcs8_der`]; a wrong PEM label or bad armour is
    /// [`Error::InvalidPrivateKey`].
    pub fn from_encrypted_pkcs8_pem(pem: &str, passphrase: &SecretString) -> Result<PrivateKey> {
        let (label, der) =
            der::pem::decode_vec(pem.as_bytes()).map_err(|_| Error::InvalidPrivateKey)?;
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(Error::InvalidPrivateKey);
        }
        PrivateKey::from_encrypted_pkcs8_der(&der, passphrase)
    }

    /// The public key as DER `SubjectPublicKeyInfo` (RFC 5280).
    ///
    /// # Errors
    /// [`Error::KeyEncoding`] if encoding fails.
    pub fn public_key_der(&self) -> Result<Vec<u8>> {
        let document = match &self.material {
            KeyMaterial::Rsa(key) => key.verifying_key().to_public_key_der(),
            KeyMaterial::P256(key) => key.verifying_key().to_public_key_der(),
            KeyMaterial::P384(key) => key.verifying_key().to_public_key_der(),
        }
        .map_err(|_| Error::KeyEncoding)?;
        Ok(document.into_vec())
    }

    /// The public key as PEM `SubjectPublicKeyInfo` (`-----BEGIN PUBLIC KEY-----`, LF).
    ///
    /// # Errors
    /// [`Error::KeyEncoding`] if encoding fails.
    pub fn public_key_pem(&self) -> Result<String> {
        der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.public_key_der()?)
            .map_err(|_| Error::KeyEncoding)
    }
}

/// Refuses key-derivation parameters that are not valid (RFC 7914, RFC 8018) or that would
/// cost more work than a legitimate file needs, before any of that work is done.
fn check_kdf(parameters: &pbes2::Parameters) -> Result<()> {
    let invalid = |reason| Err(Error::InvalidKeyDerivation { reason });
    match &parameters.kdf {
        pbes2::Kdf::Scrypt(scrypt) => {
            let n = scrypt.cost_parameter;
            if n < 2 || !n.is_power_of_two() {
                return invalid("scrypt N is not a power of two of at least 2");
            }
            if scrypt.block_size == 0 {
                return invalid("scrypt r is 0");
            }
            if scrypt.parallelization == 0 {
                return invalid("scrypt p is 0");
            }
            let work = n
                .saturating_mul(u64::from(scrypt.block_size))
                .saturating_mul(u64::from(scrypt.parallelization));
            if work > MAX_SCRYPT_WORK {
                return Err(Error::LimitExceeded {
                    what: "scrypt work N·r·p",
                    limit: MAX_SCRYPT_WORK,
                });
            }
        }
        pbes2::Kdf::Pbkdf2(pbkdf2) => {
            let (what, hash_len, max_work) = match pbkdf2.prf {
                pbes2::Pbkdf2Prf::HmacWithSha224 => {
                    ("PBKDF2-HMAC-SHA-224 iterations", 28, MAX_PBKDF2_SHA256_WORK)
                }
                pbes2::Pbkdf2Prf::HmacWithSha256 => {
                    ("PBKDF2-HMAC-SHA-256 iterations", 32, MAX_PBKDF2_SHA256_WORK)
                }
                pbes2::Pbkdf2Prf::HmacWithSha384 => {
                    ("PBKDF2-HMAC-SHA-384 iterations", 48, MAX_PBKDF2_SHA512_WORK)
                }
                pbes2::Pbkdf2Prf::HmacWithSha512 => {
                    ("PBKDF2-HMAC-SHA-512 iterations", 64, MAX_PBKDF2_SHA512_WORK)
                }
                // HMAC-SHA-1 (and anything newer pkcs5 learns) is not read.
                _ => return Err(Error::UnsupportedEncryption),
            };
            if pbkdf2.iteration_count == 0 {
                return invalid("PBKDF2 iteration count is 0");
            }
            // PBKDF2 runs all its iterations once per hash-sized block of the cipher key:
            // HMAC-SHA-224 needs two blocks for an AES-256 key, and so twice the work.
            let blocks = parameters.encryption.key_size().div_ceil(hash_len).max(1);
            let limit = max_work / u64::try_from(blocks).unwrap_or(u64::MAX);
            if u64::from(pbkdf2.iteration_count) > limit {
                return Err(Error::LimitExceeded { what, limit });
            }
        }
        _ => return Err(Error::UnsupportedEncryption),
    }
    Ok(())
}
