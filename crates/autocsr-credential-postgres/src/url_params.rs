//! Takes `sslmode` and `sslrootcert` out of a connection string before the driver parses
//! it: the driver knows only `disable`, `prefer` and `require`, and no `sslrootcert`, so
//! the store applies them itself (see the `tls` module).

use autocsr_credential::Error;

use crate::config_err;

/// The TLS parameters of one connection string, as written.
#[derive(Debug, Default)]
pub(crate) struct TlsParams {
    pub(crate) mode: Option<String>,
    pub(crate) root_cert: Option<String>,
}

impl TlsParams {
    fn set(&mut self, key: &str, value: String) -> Result<(), Error> {
        let slot = if key == "sslmode" {
            &mut self.mode
        } else {
            &mut self.root_cert
        };
        // Two values are a mistake or an attempt to override; neither should be guessed at.
        if slot.replace(value).is_some() {
            return Err(config_err("sslmode or sslrootcert is given twice"));
        }
        Ok(())
    }
}

fn is_tls_key(key: &str) -> bool {
    key == "sslmode" || key == "sslrootcert"
}

/// The connection string without `sslmode` and `sslrootcert`, and their values. Accepts
/// both forms the driver does: a `postgres://`/`postgresql://` URL (the parameters in its
/// query, percent-encoded) and `key=value` pairs (values optionally single-quoted, with
/// backslash escapes).
///
/// # Errors
/// A malformed percent-encoding or quoting, or either parameter given twice.
pub(crate) fn split_tls_params(text: &str) -> Result<(String, TlsParams), Error> {
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        split_url(text)
    } else {
        split_key_values(text)
    }
}

fn split_url(url: &str) -> Result<(String, TlsParams), Error> {
    let mut params = TlsParams::default();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), params));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if is_tls_key(key) {
            params.set(key, percent_decode(value)?)?;
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, params))
}

fn percent_decode(value: &str) -> Result<String, Error> {
    let bad = || config_err("malformed PostgreSQL URL");
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = core::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// `key = value` pairs, as libpq and the driver read them: whitespace around `=` allowed,
/// a value either bare (up to whitespace) or in single quotes, `\` escaping the next
/// character in both.
fn split_key_values(text: &str) -> Result<(String, TlsParams), Error> {
    let bad = || config_err("malformed PostgreSQL connection string");
    let mut params = TlsParams::default();
    let mut kept = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(bad());
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => value.push(chars.next().ok_or_else(bad)?.1),
                    Some((_, c)) => value.push(c),
                    None => return Err(bad()),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next().ok_or_else(bad)?.1);
                } else {
                    value.push(c);
                }
            }
        }
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        if is_tls_key(&key) {
            params.set(&key, value)?;
        } else {
            kept.push_str(text.get(start..end).ok_or_else(bad)?);
            kept.push(' ');
        }
    }
    Ok((kept, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters_are_taken_out_and_decoded() {
        let (rest, p) = split_tls_params(
            "postgresql://u:p%40ss@db.example:5432/x?connect_timeout=3&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem&application_name=a",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgresql://u:p%40ss@db.example:5432/x?connect_timeout=3&application_name=a"
        );
        assert_eq!(p.mode.as_deref(), Some("verify-full"));
        assert_eq!(p.root_cert.as_deref(), Some("/etc/ca x.pem"));
        let (rest, p) = split_tls_params("postgres://h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgres://h/db");
        assert_eq!(p.mode.as_deref(), Some("require"));
        assert!(p.root_cert.is_none());
        let (rest, p) = split_tls_params("postgres://h/db").unwrap();
        assert_eq!(rest, "postgres://h/db");
        assert!(p.mode.is_none());
    }

    #[test]
    fn key_value_parameters_are_taken_out_quoted_or_not() {
        let (rest, p) = split_tls_params(
            "host=db user = 'a b' sslmode= verify-ca  sslrootcert='/etc/it\\'s ca.pem' dbname=x",
        )
        .unwrap();
        assert_eq!(rest, "host=db user = 'a b' dbname=x ");
        assert_eq!(p.mode.as_deref(), Some("verify-ca"));
        assert_eq!(p.root_cert.as_deref(), Some("/etc/it's ca.pem"));
    }

    #[test]
    fn bad_or_repeated_parameters_are_refused() {
        for text in [
            "postgres://h/db?sslmode=require&sslmode=disable",
            "postgres://h/db?sslrootcert=%zz",
            "postgres://h/db?sslrootcert=%2",
            "postgres://h/db?sslrootcert=%ff",
            "sslmode=require sslmode=disable",
            "sslrootcert='unterminated",
            "sslmode",
            "sslrootcert=x\\",
        ] {
            assert!(split_tls_params(text).is_err(), "{text}");
        }
    }
}
