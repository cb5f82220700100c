//! Key generation, PKCS#8 export/import and every refusal on that path.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "helpers outside #[test] functions: a failed expectation is the point"
)]

mod common;

use autocsr_keygen::secrecy::{ExposeSecret, SecretString};
use autocsr_keygen::{Error, KeyAlgorithm, Pkcs8Encryption, PrivateKey};
use common::{FailingRng, TestRng};
use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode};
use pkcs8::pkcs5::pbes2;
use pkcs8::{EncodePrivateKey, PrivateKeyInfoRef};

fn passphrase() -> SecretString {
    SecretString::from("test passphrase")
}

#[test]
fn algorithm_names_round_trip() {
    let names = ["rsa2048", "rsa3072", "rsa4096", "p256", "p384"];
    for (algorithm, name) in KeyAlgorithm::ALL.iter().copied().zip(names) {
        assert_eq!(algorithm.as_str(), name);
        assert_eq!(algorithm.to_string(), name);
        assert_eq!(name.parse::<KeyAlgorithm>().unwrap(), algorithm);
        assert_eq!(
            name.to_uppercase().parse::<KeyAlgorithm>().unwrap(),
            algorithm
        );
    }
}

#[test]
fn unknown_algorithm_names_are_refused() {
    for name in ["", "rsa1024", "ed25519", "p521", "rsa", "p-256"] {
        match name.parse::<KeyAlgorithm>() {
            Err(Error::UnknownAlgorithm { name: given }) => assert_eq!(given, name),
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
}

#[test]
fn every_algorithm_generates_from_the_os_rng_with_the_right_key() {
    for algorithm in KeyAlgorithm::ALL.iter().copied() {
        let key = PrivateKey::generate(algorithm).unwrap();
        assert_eq!(key.algorithm(), algorithm);
        let spki_der = key.public_key_der().unwrap();
        let spki = spki::SubjectPublicKeyInfoRef::from_der(&spki_der).unwrap();
        match algorithm.rsa_bits() {
            Some(bits) => {
                use rsa::traits::PublicKeyParts;
                let public = rsa::PublicKey::try_from(spki).unwrap();
                assert_eq!(public.n().bit_width() as usize, bits, "{algorithm}");
                let exponent: Vec<u8> = public
                    .e_bytes()
                    .iter()
                    .copied()
                    .skip_while(|b| *b == 0)
                    .collect();
                assert_eq!(exponent, [1, 0, 1]);
            }
            None => {
                let curve = spki.algorithm.parameters_oid().unwrap();
                let expected = if algorithm == KeyAlgorithm::EcdsaP256 {
                    "1.2.840.10045.3.1.7"
                } else {
                    "1.3.132.0.34"
                };
                assert_eq!(curve.to_string(), expected);
            }
        }
    }
}

#[test]
fn two_os_rng_keys_differ() {
    let a = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let b = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    assert_ne!(a.public_key_der().unwrap(), b.public_key_der().unwrap());
}

#[test]
fn the_callers_rng_is_the_one_used() {
    for algorithm in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Rsa2048,
    ] {
        let a = PrivateKey::generate_with_rng(algorithm, &mut TestRng::new(7)).unwrap();
        let b = PrivateKey::generate_with_rng(algorithm, &mut TestRng::new(7)).unwrap();
        let c = PrivateKey::generate_with_rng(algorithm, &mut TestRng::new(8)).unwrap();
        assert_eq!(a.public_key_der().unwrap(), b.public_key_der().unwrap());
        assert_ne!(a.public_key_der().unwrap(), c.public_key_der().unwrap());
    }
}

#[test]
fn a_failing_rng_is_a_typed_error() {
    for algorithm in KeyAlgorithm::ALL.iter().copied() {
        let result = PrivateKey::try_generate_with_rng(algorithm, &mut FailingRng);
        assert!(matches!(result, Err(Error::Rng)), "{algorithm}: {result:?}");
    }
}

#[test]
fn plain_pkcs8_round_trips_for_every_algorithm() {
    for algorithm in KeyAlgorithm::ALL.iter().copied() {
        let key = PrivateKey::generate_with_rng(algorithm, &mut TestRng::new(1)).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let from_der = PrivateKey::from_pkcs8_der(der.expose_secret()).unwrap();
        assert_eq!(from_der.algorithm(), algorithm);
        assert_eq!(
            from_der.public_key_der().unwrap(),
            key.public_key_der().unwrap()
        );

        let pem = key.to_pkcs8_pem().unwrap();
        assert!(
            pem.expose_secret()
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        let from_pem = PrivateKey::from_pkcs8_pem(pem.expose_secret()).unwrap();
        assert_eq!(
            from_pem.public_key_der().unwrap(),
            key.public_key_der().unwrap()
        );
        assert_eq!(
            from_pem.to_pkcs8_der().unwrap().expose_secret(),
            der.expose_secret()
        );

        let public_pem = key.public_key_pem().unwrap();
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let (label, public_der) = der::pem::decode_vec(public_pem.as_bytes()).unwrap();
        assert_eq!(label, "PUBLIC KEY");
        assert_eq!(public_der, key.public_key_der().unwrap());
    }
}

#[test]
fn encrypted_pkcs8_round_trips_with_both_kdfs() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    for encryption in [Pkcs8Encryption::Scrypt, Pkcs8Encryption::Pbkdf2Sha256] {
        let pem = key
            .to_encrypted_pkcs8_pem(&passphrase(), encryption)
            .unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let back = PrivateKey::from_encrypted_pkcs8_pem(&pem, &passphrase()).unwrap();
        assert_eq!(
            back.public_key_der().unwrap(),
            key.public_key_der().unwrap()
        );

        let der = key
            .to_encrypted_pkcs8_der(&passphrase(), encryption)
            .unwrap();
        let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der).unwrap();
        let params = info.encryption_algorithm.pbes2().unwrap();
        assert_eq!(params.encryption.oid(), pbes2::AES_256_CBC_OID);
        match encryption {
            Pkcs8Encryption::Scrypt => assert!(params.kdf.is_scrypt()),
            _ => assert!(params.kdf.is_pbkdf2()),
        }
        // Fresh salt and IV each time.
        let again = key
            .to_encrypted_pkcs8_der(&passphrase(), encryption)
            .unwrap();
        assert_ne!(der, again);
    }
}

#[test]
fn wrong_passphrase_is_a_decryption_error() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let pem = key
        .to_encrypted_pkcs8_pem(&passphrase(), Pkcs8Encryption::Scrypt)
        .unwrap();
    // Several wrong passphrases, so a lucky valid CBC padding is covered too.
    for wrong in ["wrong", "Test passphrase", "test passphrase ", "x"] {
        let result = PrivateKey::from_encrypted_pkcs8_pem(&pem, &SecretString::from(wrong));
        assert!(
            matches!(result, Err(Error::Decryption)),
            "{wrong}: {result:?}"
        );
    }
}

#[test]
fn empty_passphrases_are_refused_both_ways() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let empty = SecretString::from("");
    assert!(matches!(
        key.to_encrypted_pkcs8_pem(&empty, Pkcs8Encryption::Scrypt),
        Err(Error::EmptyPassphrase)
    ));
    assert!(matches!(
        key.to_encrypted_pkcs8_der(&empty, Pkcs8Encryption::Pbkdf2Sha256),
        Err(Error::EmptyPassphrase)
    ));
    let pem = key
        .to_encrypted_pkcs8_pem(&passphrase(), Pkcs8Encryption::Scrypt)
        .unwrap();
    assert!(matches!(
        PrivateKey::from_encrypted_pkcs8_pem(&pem, &empty),
        Err(Error::EmptyPassphrase)
    ));
}

#[test]
fn malformed_input_is_an_invalid_private_key() {
    for input in [
        &b""[..],
        b"\x30\x03\x02\x01\x00",
        b"not der at all",
        &[0x30; 64],
    ] {
        assert!(matches!(
            PrivateKey::from_pkcs8_der(input),
            Err(Error::InvalidPrivateKey)
        ));
        assert!(matches!(
            PrivateKey::from_encrypted_pkcs8_der(input, &passphrase()),
            Err(Error::InvalidPrivateKey)
        ));
    }
    for pem in [
        "",
        "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
        "hello",
    ] {
        assert!(matches!(
            PrivateKey::from_pkcs8_pem(pem),
            Err(Error::InvalidPrivateKey)
        ));
        assert!(matches!(
            PrivateKey::from_encrypted_pkcs8_pem(pem, &passphrase()),
            Err(Error::InvalidPrivateKey)
        ));
    }
}

#[test]
fn pem_labels_are_checked() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let plain = key.to_pkcs8_pem().unwrap();
    let encrypted = key
        .to_encrypted_pkcs8_pem(&passphrase(), Pkcs8Encryption::Scrypt)
        .unwrap();
    // Each reader refuses the other's label, and a public key is not a private key.
    assert!(matches!(
        PrivateKey::from_pkcs8_pem(&encrypted),
        Err(Error::InvalidPrivateKey)
    ));
    assert!(matches!(
        PrivateKey::from_encrypted_pkcs8_pem(plain.expose_secret(), &passphrase()),
        Err(Error::InvalidPrivateKey)
    ));
    assert!(matches!(
        PrivateKey::from_pkcs8_pem(&key.public_key_pem().unwrap()),
        Err(Error::InvalidPrivateKey)
    ));
}

#[test]
fn rsa_keys_of_other_sizes_or_exponents_are_unsupported() {
    let mut rng = TestRng::new(3);
    let small = rsa::PrivateKey::new(&mut rng, 1024).unwrap();
    let der = small.to_pkcs8_der().unwrap();
    assert!(matches!(
        PrivateKey::from_pkcs8_der(der.as_bytes()),
        Err(Error::UnsupportedKey { .. })
    ));

    let odd_size = rsa::PrivateKey::new(&mut rng, 2560).unwrap();
    let der = odd_size.to_pkcs8_der().unwrap();
    assert!(matches!(
        PrivateKey::from_pkcs8_der(der.as_bytes()),
        Err(Error::UnsupportedKey { .. })
    ));

    let exponent_3 =
        rsa::PrivateKey::new_with_exp(&mut rng, 2048, rsa::BoxedUint::from(3u64)).unwrap();
    let der = exponent_3.to_pkcs8_der().unwrap();
    match PrivateKey::from_pkcs8_der(der.as_bytes()) {
        Err(Error::UnsupportedKey { reason }) => assert!(reason.contains("exponent")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn other_key_types_are_unsupported() {
    // RFC 8410 section 10.3: an Ed25519 private key.
    let ed25519 = hex::decode(
        "302e020100300506032b657004220420d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842",
    )
    .unwrap();
    assert!(matches!(
        PrivateKey::from_pkcs8_der(&ed25519),
        Err(Error::UnsupportedKey { .. })
    ));

    // A P-256 key relabelled as secp256k1: well-formed PKCS#8 on a curve we do not offer.
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let der = key.to_pkcs8_der().unwrap();
    let info = PrivateKeyInfoRef::from_der(der.expose_secret()).unwrap();
    let secp256k1 = ObjectIdentifier::new_unwrap("1.3.132.0.10");
    let relabelled = PrivateKeyInfoRef::new(
        spki::AlgorithmIdentifierRef {
            oid: info.algorithm.oid,
            parameters: Some(AnyRef::from(&secp256k1)),
        },
        info.private_key,
    )
    .to_der()
    .unwrap();
    match PrivateKey::from_pkcs8_der(&relabelled) {
        Err(Error::UnsupportedKey { reason }) => assert!(reason.contains("curve")),
        other => panic!("unexpected {other:?}"),
    }
}

/// Builds an `EncryptedPrivateKeyInfo` around arbitrary ciphertext, without running the KDF.
fn encrypted_info_with(params: pbes2::Parameters) -> Vec<u8> {
    let ciphertext = [0u8; 48];
    pkcs8::EncryptedPrivateKeyInfoRef {
        encryption_algorithm: params.into(),
        encrypted_data: OctetStringRef::new(&ciphertext).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
fn excessive_kdf_costs_are_refused_before_any_work() {
    let salt = [1u8; 16];
    let iv = [2u8; 16];
    let refused = |params: pbes2::Parameters| {
        matches!(
            PrivateKey::from_encrypted_pkcs8_der(&encrypted_info_with(params), &passphrase()),
            Err(Error::LimitExceeded { .. })
        )
    };
    // scrypt N = 2^20, r = 8: 1 GiB of memory.
    let scrypt = pkcs8::pkcs5::scrypt::Params::new(20, 8, 1).unwrap();
    assert!(refused(
        pbes2::Parameters::generate_scrypt_aes256cbc(scrypt, &salt, iv).unwrap()
    ));
    // N = 2^17, r = 15, p = 16 stays under 256 MiB of memory but is 240x the work of the
    // openssl default (6 s here): the memory bound alone let it through.
    assert!(refused(scrypt_params(1 << 17, 15, 16)));
    // p alone can multiply the work without adding memory.
    assert!(refused(scrypt_params(1 << 14, 8, 9)));
    // A valid but absurd N: the work saturates instead of overflowing.
    assert!(refused(scrypt_params(1 << 63, u16::MAX, u16::MAX)));
    let pbkdf2 =
        pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(50_000_000, &salt, iv).unwrap();
    assert!(refused(pbkdf2));
    // Within the limits, the same garbage ciphertext is a plain decryption failure.
    let cheap = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(1000, &salt, iv).unwrap();
    assert!(matches!(
        PrivateKey::from_encrypted_pkcs8_der(&encrypted_info_with(cheap), &passphrase()),
        Err(Error::Decryption)
    ));
    let cheap = scrypt_params(1 << 10, 8, 1);
    assert!(matches!(
        PrivateKey::from_encrypted_pkcs8_der(&encrypted_info_with(cheap), &passphrase()),
        Err(Error::Decryption)
    ));
}

fn pbkdf2_params(
    prf: pbes2::Pbkdf2Prf,
    iteration_count: u32,
    encryption: pbes2::EncryptionScheme,
) -> pbes2::Parameters {
    pbes2::Parameters {
        kdf: pbes2::Kdf::Pbkdf2(pbes2::Pbkdf2Params {
            salt: pbes2::Salt::try_from(&[1u8; 16][..]).unwrap(),
            iteration_count,
            key_length: None,
            prf,
        }),
        encryption,
    }
}

/// The verdict on garbage ciphertext under `params`: `LimitExceeded` means refused before
/// the KDF ran, `Decryption` that the KDF ran and the (garbage) data did not decrypt.
fn verdict(params: pbes2::Parameters) -> Result<PrivateKey, Error> {
    PrivateKey::from_encrypted_pkcs8_der(&encrypted_info_with(params), &passphrase())
}

#[test]
fn the_work_caps_are_exact_and_per_prf() {
    use autocsr_keygen::{MAX_PBKDF2_SHA256_WORK, MAX_PBKDF2_SHA512_WORK, MAX_SCRYPT_WORK};
    use pbes2::{EncryptionScheme::*, Pbkdf2Prf::*};
    let aes256 = Aes256Cbc { iv: [2u8; 16] };
    let aes128 = Aes128Cbc { iv: [2u8; 16] };
    let cap = |work: u64| u32::try_from(work).unwrap();
    // One over each cap is refused, naming the PRF and the effective limit.
    for (prf, encryption, limit, name) in [
        (HmacWithSha256, aes256, MAX_PBKDF2_SHA256_WORK, "SHA-256"),
        (HmacWithSha224, aes128, MAX_PBKDF2_SHA256_WORK, "SHA-224"),
        // SHA-224 gives 28 bytes: an AES-256 key takes two blocks, so half the iterations.
        (
            HmacWithSha224,
            aes256,
            MAX_PBKDF2_SHA256_WORK / 2,
            "SHA-224",
        ),
        (HmacWithSha384, aes256, MAX_PBKDF2_SHA512_WORK, "SHA-384"),
        (HmacWithSha512, aes256, MAX_PBKDF2_SHA512_WORK, "SHA-512"),
    ] {
        match verdict(pbkdf2_params(prf, cap(limit) + 1, encryption)) {
            Err(Error::LimitExceeded { what, limit: said }) => {
                assert!(what.contains(name), "{what}");
                assert_eq!(said, limit, "{name}");
            }
            other => panic!("{name} at {}: unexpected {other:?}", limit + 1),
        }
    }
    // The scrypt cap itself is accepted (the KDF runs; the garbage does not decrypt), both
    // as N = 2^17, r = 8 and as N = 2^16, r = 8, p = 2; twice the cap is not.
    for (n, p) in [(MAX_SCRYPT_WORK / 8, 1), (MAX_SCRYPT_WORK / 16, 2)] {
        match verdict(scrypt_params(n, 8, p)) {
            Err(Error::Decryption) => {}
            other => panic!("N = {n}, r = 8, p = {p}: unexpected {other:?}"),
        }
    }
    assert!(matches!(
        verdict(scrypt_params(MAX_SCRYPT_WORK / 4, 8, 1)),
        Err(Error::LimitExceeded { .. })
    ));
}

#[test]
fn zero_pbkdf2_iterations_and_sha1_are_refused() {
    let aes256 = pbes2::EncryptionScheme::Aes256Cbc { iv: [2u8; 16] };
    assert!(matches!(
        verdict(pbkdf2_params(pbes2::Pbkdf2Prf::HmacWithSha256, 0, aes256)),
        Err(Error::InvalidKeyDerivation { .. })
    ));
    assert!(matches!(
        verdict(pbkdf2_params(pbes2::Pbkdf2Prf::HmacWithSha1, 2048, aes256)),
        Err(Error::UnsupportedEncryption)
    ));
}

#[test]
fn pbes1_is_an_unsupported_encryption() {
    // pbeWithMD5AndDES-CBC (PKCS#5 v1.5): SEQUENCE { AlgorithmIdentifier, OCTET STRING }.
    let mut der = hex::decode("302f301b06092a864886f70d010503300e0408").unwrap();
    der.extend_from_slice(&[7u8; 8]); // salt
    der.extend_from_slice(&hex::decode("020208000410").unwrap()); // 2048 iterations
    der.extend_from_slice(&[9u8; 16]); // ciphertext
    assert!(matches!(
        PrivateKey::from_encrypted_pkcs8_der(&der, &passphrase()),
        Err(Error::UnsupportedEncryption)
    ));
}

fn scrypt_params(n: u64, r: u16, p: u16) -> pbes2::Parameters {
    pbes2::Parameters {
        kdf: pbes2::Kdf::Scrypt(pbes2::ScryptParams {
            salt: pbes2::Salt::try_from(&[1u8; 16][..]).unwrap(),
            cost_parameter: n,
            block_size: r,
            parallelization: p,
            key_length: None,
        }),
        encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [2u8; 16] },
    }
}

#[test]
fn malformed_scrypt_parameters_are_refused_not_a_panic() {
    // N = 0 used to wrap inside pkcs5's log2 and hit an `expect`; the others are invalid
    // scrypt parameters (RFC 7914 section 2) that no writer produces.
    for (n, r, p) in [
        (0, 8, 1),
        (1, 8, 1),
        (3, 8, 1),
        (16_383, 8, 1),
        (16_384, 0, 1),
        (16_384, 8, 0),
        (u64::MAX, 8, 1),
    ] {
        let der = encrypted_info_with(scrypt_params(n, r, p));
        match PrivateKey::from_encrypted_pkcs8_der(&der, &passphrase()) {
            Err(Error::InvalidKeyDerivation { .. }) => {}
            other => panic!("N = {n}, r = {r}, p = {p}: unexpected {other:?}"),
        }
    }
}
