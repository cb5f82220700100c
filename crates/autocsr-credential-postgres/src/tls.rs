//! TLS for the stores' connections, after the URL's `sslmode` (see the README's TLS
//! section). With the `tls` feature a TLS connection is always verified: the server's
//! certificate must chain to the `sslrootcert` CAs (or the system's) and name the host.
//! There is no "encrypt without verifying": against an active attacker it protects
//! nothing, and a security library should not offer it silently.

use autocsr_credential::Error;
use postgres::Config;
use postgres::config::SslMode;

use crate::url_params::TlsParams;
use crate::{Options, config_err};

/// What the URL's `sslmode` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `disable`, or no `sslmode` and no `sslrootcert`: plaintext, as without the feature.
    Plain,
    /// TLS (verified) if the server offers it, else plaintext.
    Prefer,
    /// `require`, `verify-ca`, `verify-full`, or no `sslmode` but an `sslrootcert`: verified
    /// TLS or no connection.
    Verified,
}

fn mode(params: &TlsParams) -> Result<Mode, Error> {
    match params.mode.as_deref() {
        // A CA given without a mode asks for TLS: silently staying in plaintext would be
        // the surprise.
        None if params.root_cert.is_some() => Ok(Mode::Verified),
        None | Some("disable") => Ok(Mode::Plain),
        Some("prefer") => Ok(Mode::Prefer),
        Some("require" | "verify-ca" | "verify-full") => Ok(Mode::Verified),
        Some(_) => Err(config_err(
            "unsupported sslmode (use disable, prefer, require, verify-ca or verify-full)",
        )),
    }
}

const NEEDS_TLS: &str = "this sslmode or sslrootcert needs TLS: build autocsr-credential-postgres with its `tls` feature";

/// Checks the `sslmode` (and, without the `tls` feature, that nothing asks for TLS).
///
/// # Errors
/// As [`configure`], before reading any file.
pub(crate) fn check_mode(params: &TlsParams) -> Result<(), Error> {
    let mode = mode(params)?;
    if !cfg!(feature = "tls") && (mode == Mode::Verified || params.root_cert.is_some()) {
        return Err(config_err(NEEDS_TLS));
    }
    Ok(())
}

#[cfg(not(feature = "tls"))]
pub(crate) type Connector = postgres::NoTls;

#[cfg(not(feature = "tls"))]
pub(crate) fn is_rustls_error(_source: &(dyn std::error::Error + 'static)) -> bool {
    false
}

/// Sets the driver's `sslmode` and returns the connector for it.
///
/// # Errors
/// An unknown `sslmode`; without the `tls` feature, any mode that needs TLS and any root
/// certificate.
#[cfg(not(feature = "tls"))]
pub(crate) fn configure(
    config: &mut Config,
    params: &TlsParams,
    options: &Options,
) -> Result<Connector, Error> {
    check_mode(params)?;
    if options.tls_root_cert.is_some() {
        return Err(config_err(NEEDS_TLS));
    }
    match mode(params)? {
        Mode::Plain => config.ssl_mode(SslMode::Disable),
        // The driver with no TLS connector stays in plaintext.
        Mode::Prefer => config.ssl_mode(SslMode::Prefer),
        Mode::Verified => return Err(config_err(NEEDS_TLS)),
    };
    Ok(postgres::NoTls)
}

#[cfg(feature = "tls")]
pub(crate) use with_tls::{Connector, configure, is_rustls_error};

#[cfg(feature = "tls")]
mod with_tls {
    use std::sync::Arc;

    use rustls::RootCertStore;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    use super::{Config, Error, Mode, Options, SslMode, TlsParams, mode};
    use crate::{PgError, PgErrorKind};

    fn tls_err(message: String) -> Error {
        Error::storage(PgError {
            code: None,
            kind: PgErrorKind::Tls,
            message,
        })
    }

    pub(crate) type Connector = tokio_postgres_rustls::MakeRustlsConnect;

    /// A CA file larger than this is refused unread (a system bundle is about 200 KiB).
    const MAX_ROOT_CERT_FILE: u64 = 16 << 20;

    pub(crate) fn is_rustls_error(source: &(dyn std::error::Error + 'static)) -> bool {
        if source.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        source
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
    }

    /// Sets the driver's `sslmode` and returns the connector for it: verifying against
    /// `sslrootcert` (the URL's, else [`Options::tls_root_cert`]), or the system's CA store
    /// when neither is given or it is `system`.
    ///
    /// # Errors
    /// An unknown `sslmode`; a CA file that cannot be read or holds no certificate; an
    /// empty system store.
    pub(crate) fn configure(
        config: &mut Config,
        params: &TlsParams,
        options: &Options,
    ) -> Result<Connector, Error> {
        let mode = match mode(params)? {
            Mode::Plain if params.mode.is_none() && options.tls_root_cert.is_some() => {
                Mode::Verified
            }
            mode => mode,
        };
        let roots = match mode {
            // Never used: the driver does not start TLS.
            Mode::Plain => RootCertStore::empty(),
            Mode::Prefer | Mode::Verified => {
                let path = params
                    .root_cert
                    .as_deref()
                    .map(std::path::PathBuf::from)
                    .or_else(|| options.tls_root_cert.clone());
                match path {
                    Some(path) if path.as_os_str() != "system" => roots_from_file(&path)?,
                    _ => system_roots()?,
                }
            }
        };
        config.ssl_mode(match mode {
            Mode::Plain => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Verified => SslMode::Require,
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // PostgreSQL's ALPN name: PostgreSQL 17 requires it for sslnegotiation=direct.
        client.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Connector::new(client))
    }

    fn roots_from_file(path: &std::path::Path) -> Result<RootCertStore, Error> {
        let shown = path.display();
        let unreadable =
            |e: std::io::Error| tls_err(format!("cannot read sslrootcert {shown}: {e}"));
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let mut pem = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_ROOT_CERT_FILE + 1),
            &mut pem,
        )
        .map_err(unreadable)?;
        if u64::try_from(pem.len()).unwrap_or(u64::MAX) > MAX_ROOT_CERT_FILE {
            return Err(tls_err(format!(
                "sslrootcert {shown} is larger than 16 MiB"
            )));
        }
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|e| tls_err(format!("sslrootcert {shown} is not valid PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| tls_err(format!("sslrootcert {shown}: unusable certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(tls_err(format!(
                "sslrootcert {shown} holds no CERTIFICATE block"
            )));
        }
        Ok(roots)
    }

    fn system_roots() -> Result<RootCertStore, Error> {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let _ = roots.add_parsable_certificates(found.certs);
        if roots.is_empty() {
            return Err(tls_err(
                "no CA certificate in the system's store: give sslrootcert".to_owned(),
            ));
        }
        Ok(roots)
    }
}
