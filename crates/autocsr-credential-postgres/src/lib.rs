#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use autocsr_credential::record::{KeyId, NONCE_LEN, RecordBody, StoredRecord};
use autocsr_credential::{
    Error, KeyStore, KeyWrapper, RecordStore, ReminderClaim, StoredKey, Vault,
};
use postgres::error::SqlState;
use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Config, Statement};
use r2d2::{ManageConnection, Pool, PooledConnection};
use zeroize::Zeroizing;

mod tls;
mod url_params;

/// The schema both stores use unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "autocsr";
/// How many rows one purge transaction deletes at most.
pub const DEFAULT_PURGE_BATCH: i64 = 1_000;

const STATE_SEALED: i16 = 0;
const STATE_EXPIRED: i16 = 1;
const STATE_REVOKED: i16 = 2;

/// How a store connects: pool size, timeouts, schema, purge batch size.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The PostgreSQL schema holding this store's tables (created if missing). Letters,
    /// digits and `_`, starting with a letter or `_`, at most 63 bytes.
    pub schema: String,
    /// Connections the pool keeps at most (at least 1; 8 by default).
    pub max_connections: u32,
    /// How long a call waits for a pooled connection, and a new connection for the server
    /// (more than zero; 10 s by default; a `connect_timeout` in the URL wins for the latter).
    pub connect_timeout: Duration,
    /// Rows one purge transaction deletes at most (at least 1; [`DEFAULT_PURGE_BATCH`]).
    pub purge_batch: i64,
    /// The CA certificates (a PEM file) a TLS connection's server certificate must chain
    /// to, instead of the system's CA store; an `sslrootcert=` in the URL wins. Needs the
    /// `tls` feature (refused without it).
    pub tls_root_cert: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            schema: DEFAULT_SCHEMA.to_owned(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            purge_batch: DEFAULT_PURGE_BATCH,
            tls_root_cert: None,
        }
    }
}

/// What went wrong, coarsely, for callers that react differently (retry a connection,
/// fix a certificate, fix the input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgErrorKind {
    /// A bad URL or option, refused before any connection.
    Config,
    /// The TLS handshake failed: the server's certificate did not verify (unknown CA,
    /// wrong host name, expired), the server does not offer TLS where the `sslmode` needs
    /// it, or the CA file could not be used.
    Tls,
    /// The server could not be reached, closed the connection, or the pool had none.
    Connection,
    /// The server answered with an error (see [`PgError::code`]).
    Database,
}

/// A database error without its DETAIL (which can quote row values): the SQLSTATE and the
/// primary message only, or the driver's message for connection and protocol errors.
#[derive(Debug)]
pub struct PgError {
    /// The SQLSTATE, for database errors.
    pub code: Option<String>,
    kind: PgErrorKind,
    message: String,
}

impl PgError {
    /// What kind of failure this is.
    pub fn kind(&self) -> PgErrorKind {
        self.kind
    }
}

impl core::fmt::Display for PgError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "PostgreSQL error {code}: {}", self.message),
            None => write!(f, "PostgreSQL: {}", self.message),
        }
    }
}

impl std::error::Error for PgError {}

fn pg_err(e: &postgres::Error) -> Error {
    let inner = match e.as_db_error() {
        Some(db) => PgError {
            code: Some(db.code().code().to_owned()),
            kind: PgErrorKind::Database,
            message: db.message().to_owned(),
        },
        // The driver's own message says only "error connecting to server"; the reason
        // (refused, no such host, timed out) is in its source chain: an I/O or parse
        // error, which never holds the password.
        None => PgError {
            code: e.code().map(|c| c.code().to_owned()),
            kind: if is_tls_failure(e) {
                PgErrorKind::Tls
            } else {
                PgErrorKind::Connection
            },
            message: with_sources(e),
        },
    };
    Error::storage(inner)
}

/// `e`'s message followed by each of its sources' (`outer: inner: ...`).
fn with_sources(e: &postgres::Error) -> String {
    let mut message = e.to_string();
    let mut next = std::error::Error::source(e);
    while let Some(source) = next {
        message.push_str(": ");
        message.push_str(&source.to_string());
        next = source.source();
    }
    message
}

/// The driver's TLS errors: its own "error performing TLS handshake" (its only way to say
/// so), or a rustls error anywhere in the source chain.
fn is_tls_failure(e: &postgres::Error) -> bool {
    if e.to_string() == "error performing TLS handshake" {
        return true;
    }
    let mut next = std::error::Error::source(e);
    while let Some(source) = next {
        if tls::is_rustls_error(source) {
            return true;
        }
        next = source.source();
    }
    false
}

fn db(e: postgres::Error) -> Error {
    pg_err(&e)
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn config_err(message: &str) -> Error {
    Error::storage(PgError {
        code: None,
        kind: PgErrorKind::Config,
        message: message.to_owned(),
    })
}

fn to_i64(v: u64) -> Result<i64, Error> {
    i64::try_from(v).map_err(|_| Error::InvalidTime)
}

fn to_u64(v: i64) -> Result<u64, Error> {
    u64::try_from(v).map_err(|_| Error::Malformed {
        what: "negative stored integer",
    })
}

/// Checks a schema name so it can be spliced into SQL (identifiers cannot be parameters).
fn check_schema(name: &str) -> Result<(), Error> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if first_ok && rest_ok && name.len() <= 63 && !name.starts_with("pg_") {
        Ok(())
    } else {
        Err(config_err(
            "invalid schema name (use a-z, 0-9 and _, starting with a letter or _, at most 63 bytes, not pg_)",
        ))
    }
}

/// The pool's connections: what r2d2_postgres's manager does, plus the statements each connection
/// has prepared, so a store call runs its statement in one round trip instead of two
/// (prepare, then execute). A connection's statements die with it.
struct Manager {
    config: Config,
    connector: tls::Connector,
}

/// A pooled connection and the statements prepared on it, by SQL text (each store has
/// about ten, so the map stays small).
struct Connection {
    client: postgres::Client,
    statements: HashMap<String, Statement>,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Connection {
    fn prepared(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<postgres::Row>, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query(&statement, params)
    }

    fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<postgres::Row>, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query_opt(&statement, params)
    }

    fn query_one(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<postgres::Row, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query_one(&statement, params)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.execute(&statement, params)
    }
}

impl ManageConnection for Manager {
    type Connection = Connection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Connection, postgres::Error> {
        #[cfg_attr(
            not(feature = "tls"),
            expect(
                clippy::clone_on_copy,
                reason = "NoTls is Copy, the rustls connector is not"
            )
        )]
        let connector = self.connector.clone();
        Ok(Connection {
            client: self.config.connect(connector)?,
            statements: HashMap::new(),
        })
    }

    /// One round trip before every use: a restarted server's dead connections are found
    /// here and replaced, instead of failing the caller's statement (the synchronous
    /// driver notices a closed connection only when a call fails).
    fn is_valid(&self, connection: &mut Connection) -> Result<(), postgres::Error> {
        connection.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, connection: &mut Connection) -> bool {
        connection.client.is_closed()
    }
}

/// One versioned migration: the SQL that takes the schema from `version - 1` to `version`.
/// `{s}` stands for the quoted schema name.
struct Migration {
    version: i32,
    sql: &'static str,
}

/// One store's tables: their version table and migrations, oldest first.
struct Schema {
    /// The lock and version-table name: records and keys may share a schema.
    component: &'static str,
    migrations: &'static [Migration],
}

impl Schema {
    fn latest(&self) -> i32 {
        self.migrations.last().map_or(0, |m| m.version)
    }
}

const RECORD_SCHEMA: Schema = Schema {
    component: "records",
    migrations: &[
        Migration {
            version: 1,
            sql: "CREATE TABLE {s}.records (
                order_id     TEXT PRIMARY KEY,
                format       SMALLINT NOT NULL,
                created_at   BIGINT NOT NULL,
                expires_at   BIGINT NOT NULL,
                key_id       BYTEA NOT NULL,
                reveal_count BIGINT NOT NULL DEFAULT 0,
                state        SMALLINT NOT NULL,
                state_at     BIGINT,
                nonce        BYTEA,
                ciphertext   BYTEA
            );
            CREATE INDEX records_by_expiry ON {s}.records (expires_at);",
        },
        // Reminder bookkeeping beside the record (not part of `StoredRecord`, like the
        // reveal count): nullable columns, so no row is rewritten; and a partial index
        // holding only what a claim can take (a reveal or a mark drops a row out of it).
        Migration {
            version: 2,
            sql: "ALTER TABLE {s}.records
                ADD COLUMN reminder_lease_until BIGINT,
                ADD COLUMN reminded_at BIGINT;
            CREATE INDEX records_reminder_due ON {s}.records (expires_at)
                WHERE state = 0 AND reveal_count = 0 AND reminded_at IS NULL;",
        },
    ],
};

const KEY_SCHEMA: Schema = Schema {
    component: "record_keys",
    migrations: &[Migration {
        version: 1,
        sql: "CREATE TABLE {s}.record_keys (
            key_id     BYTEA PRIMARY KEY,
            expires_at BIGINT NOT NULL,
            key        BYTEA NOT NULL
        );
        CREATE INDEX record_keys_by_expiry ON {s}.record_keys (expires_at);",
    }],
};

/// Parses a connection string as the stores do, without connecting: the driver's
/// [`Config`] of everything but `sslmode` and `sslrootcert` (which the stores apply
/// themselves), after checking those. For describing a URL without its password.
///
/// # Errors
/// [`Error::Storage`] ([`PgErrorKind::Config`]) for a malformed string or an unknown or
/// repeated `sslmode`; without the `tls` feature also for a `sslmode` that needs TLS and
/// for any `sslrootcert`. The message never quotes the string.
pub fn parse_url(url: &str) -> Result<Config, Error> {
    let (config_text, tls_params) = url_params::split_tls_params(url)?;
    let config =
        Config::from_str(&config_text).map_err(|_| config_err("malformed PostgreSQL URL"))?;
    tls::check_mode(&tls_params)?;
    Ok(config)
}

/// Connects, creates or migrates the schema, and builds the pool. The first connection is
/// made directly so a wrong URL, password or database fails at once with its own error.
fn connect(url: &str, options: &Options, schema: &Schema) -> Result<Pool<Manager>, Error> {
    check_schema(&options.schema)?;
    // r2d2 panics on a zero pool size or timeout: refuse them here as bad input.
    if options.purge_batch < 1 || options.max_connections < 1 || options.connect_timeout.is_zero() {
        return Err(config_err(
            "purge_batch and max_connections must be at least 1, connect_timeout more than zero",
        ));
    }
    let (config_text, tls_params) = url_params::split_tls_params(url)?;
    let mut config =
        Config::from_str(&config_text).map_err(|_| config_err("malformed PostgreSQL URL"))?;
    let connector = tls::configure(&mut config, &tls_params, options)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    config.application_name("autocsr-credential");
    // The URL's connect_timeout, if it set one, else the option's (set just above).
    let timeout = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(options.connect_timeout);
    let mut first = connect_within(&config, &connector, timeout)?;
    migrate(&mut first, &options.schema, schema)?;
    drop(first);
    // Unchecked: the first connection above already proved the URL; the pool connects on
    // demand and validates each connection it hands out (a restarted server's dead
    // connections are replaced, not returned).
    Ok(Pool::builder()
        .max_size(options.max_connections)
        .min_idle(Some(0))
        .connection_timeout(options.connect_timeout)
        .build_unchecked(Manager { config, connector }))
}

/// Makes one connection, giving up after `timeout`. The driver's `connect_timeout` bounds
/// only the TCP or socket connect; a server (or proxy) that accepts and then never answers
/// the startup would block the caller forever. The attempt runs on a thread of its own,
/// which is left behind on timeout and ends when the server or the OS closes the socket.
#[cfg_attr(
    not(feature = "tls"),
    expect(
        clippy::clone_on_copy,
        reason = "NoTls is Copy, the rustls connector is not"
    )
)]
fn connect_within(
    config: &Config,
    connector: &tls::Connector,
    timeout: Duration,
) -> Result<postgres::Client, Error> {
    let (tx, rx) = std::sync::mpsc::channel();
    let config = config.clone();
    let connector = connector.clone();
    std::thread::Builder::new()
        .name("autocsr-pg-connect".to_owned())
        .spawn(move || {
            let _ = tx.send(config.connect(connector));
        })
        .map_err(Error::storage)?;
    match rx.recv_timeout(timeout) {
        Ok(connected) => connected.map_err(db),
        Err(_) => Err(config_err(
            "the server accepted the connection but did not answer within the connect timeout",
        )),
    }
}

/// Creates or upgrades one store's tables in one transaction, serialised with every other
/// opener of the same schema (either store) by a transaction-level advisory lock, so
/// concurrent first opens from several servers are safe. A newer schema is refused. A
/// schema already at this version is only read, so a role without CREATE rights (only the
/// grants its store needs) can open it.
fn migrate(client: &mut postgres::Client, schema_name: &str, schema: &Schema) -> Result<(), Error> {
    let s = format!("\"{schema_name}\"");
    let version_table = format!("{s}.{}_schema_version", schema.component);
    let latest = schema.latest();
    let mut tx = client.transaction().map_err(db)?;
    if let Some(current) = read_version(&mut tx, &version_table)? {
        refuse_newer(current, latest)?;
        if current == latest {
            return tx.commit().map_err(db);
        }
    }
    // One lock per schema, not per store: a record store and a key store opened into the
    // same new schema at once would otherwise race on CREATE SCHEMA.
    let lock_name = format!("autocsr-credential:{schema_name}");
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_name])
        .map_err(db)?;
    // CREATE SCHEMA asks for the database's CREATE right even when the schema exists, so
    // it is only issued for a missing one: a role that owns a schema a DBA made for it can
    // create its tables there without any right on the database.
    let schema_exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema_name],
        )
        .map_err(db)?
        .try_get(0)
        .map_err(db)?;
    if !schema_exists {
        tx.batch_execute(&format!("CREATE SCHEMA {s}"))
            .map_err(db)?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {version_table} (version INTEGER NOT NULL)"
    ))
    .map_err(db)?;
    // Read again under the lock: another opener may have migrated meanwhile.
    let current = read_version(&mut tx, &version_table)?.unwrap_or(0);
    refuse_newer(current, latest)?;
    for migration in schema.migrations.iter().filter(|m| m.version > current) {
        tx.batch_execute(&migration.sql.replace("{s}", &s))
            .map_err(db)?;
    }
    if current < latest {
        tx.execute(&format!("DELETE FROM {version_table}"), &[])
            .map_err(db)?;
        tx.execute(
            &format!("INSERT INTO {version_table} (version) VALUES ($1)"),
            &[&latest],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)
}

/// The schema version, or `None` if the version table does not exist (yet).
fn read_version(
    tx: &mut postgres::Transaction<'_>,
    version_table: &str,
) -> Result<Option<i32>, Error> {
    let exists: bool = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&version_table])
        .map_err(db)?
        .try_get(0)
        .map_err(db)?;
    if !exists {
        return Ok(None);
    }
    let version: i32 = tx
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {version_table}"),
            &[],
        )
        .map_err(db)?
        .try_get(0)
        .map_err(db)?;
    Ok(Some(version))
}

fn refuse_newer(current: i32, latest: i32) -> Result<(), Error> {
    if current > latest {
        return Err(Error::UnsupportedSchema {
            found: i64::from(current),
            supported: i64::from(latest),
        });
    }
    Ok(())
}

fn get(pool: &Pool<Manager>) -> Result<PooledConnection<Manager>, Error> {
    pool.get().map_err(|e| {
        Error::storage(PgError {
            code: None,
            kind: PgErrorKind::Connection,
            message: format!("no pooled connection: {e}"),
        })
    })
}

/// Credential records in PostgreSQL. Holds only ciphertext and tombstones: back it up
/// freely.
pub struct PostgresRecordStore {
    pool: Pool<Manager>,
    table: String,
    purge_batch: i64,
}

impl core::fmt::Debug for PostgresRecordStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresRecordStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl PostgresRecordStore {
    /// Connects to `url` (a `postgres://` URL or `key=value` string) and creates or
    /// migrates the record table in [`DEFAULT_SCHEMA`].
    ///
    /// `sslmode` and `sslrootcert` in the URL choose TLS (feature `tls`; see the README):
    /// every TLS connection verifies the server's certificate and name.
    ///
    /// # Errors
    /// [`Error::Storage`] (see [`PgError::kind`]) for a malformed URL or an unknown
    /// `sslmode`, a failed TLS handshake or certificate check, a server without TLS where
    /// the `sslmode` requires it, a failed connection or login, or a database error;
    /// [`Error::UnsupportedSchema`] for tables a newer version wrote.
    pub fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, &Options::default())
    }

    /// As [`connect`](Self::connect), with [`Options`].
    ///
    /// # Errors
    /// As [`connect`](Self::connect); also an invalid schema name or option.
    pub fn connect_with(url: &str, options: &Options) -> Result<Self, Error> {
        Ok(Self {
            pool: connect(url, options, &RECORD_SCHEMA)?,
            table: format!("\"{}\".records", options.schema),
            purge_batch: options.purge_batch,
        })
    }
}

fn row_to_record(row: &postgres::Row) -> Result<StoredRecord, Error> {
    let get_err = |e| pg_err(&e);
    let state: i16 = row.try_get("state").map_err(get_err)?;
    let state_at: Option<i64> = row.try_get("state_at").map_err(get_err)?;
    let body = match state {
        STATE_SEALED => {
            let nonce: Option<Vec<u8>> = row.try_get("nonce").map_err(get_err)?;
            let nonce: [u8; NONCE_LEN] = nonce
                .as_deref()
                .and_then(|n| n.try_into().ok())
                .ok_or(Error::Malformed { what: "nonce" })?;
            let ciphertext: Option<Vec<u8>> = row.try_get("ciphertext").map_err(get_err)?;
            RecordBody::Sealed {
                nonce,
                ciphertext: ciphertext.ok_or(Error::Malformed { what: "ciphertext" })?,
            }
        }
        STATE_EXPIRED => RecordBody::Expired {
            destroyed_at_ms: to_u64(state_at.unwrap_or(0))?,
        },
        STATE_REVOKED => RecordBody::Revoked {
            revoked_at_ms: to_u64(state_at.unwrap_or(0))?,
        },
        _ => {
            return Err(Error::Malformed {
                what: "record state",
            });
        }
    };
    let format: i16 = row.try_get("format").map_err(get_err)?;
    let key_id: Vec<u8> = row.try_get("key_id").map_err(get_err)?;
    Ok(StoredRecord {
        format: u8::try_from(format).map_err(|_| Error::Malformed { what: "format" })?,
        order_id: row.try_get("order_id").map_err(get_err)?,
        created_at_ms: to_u64(row.try_get("created_at").map_err(get_err)?)?,
        expires_at_ms: to_u64(row.try_get("expires_at").map_err(get_err)?)?,
        key_id: KeyId::from_slice(&key_id)?,
        reveal_count: to_u64(row.try_get("reveal_count").map_err(get_err)?)?,
        body,
    })
}

fn tombstone_columns(body: &RecordBody) -> Result<(i16, i64), Error> {
    match body {
        RecordBody::Expired { destroyed_at_ms } => Ok((STATE_EXPIRED, to_i64(*destroyed_at_ms)?)),
        RecordBody::Revoked { revoked_at_ms } => Ok((STATE_REVOKED, to_i64(*revoked_at_ms)?)),
        _ => Err(Error::Malformed {
            what: "a tombstone must not hold a code",
        }),
    }
}

/// Deletes rows matching `filter` (with `$1` = now) in transactions of at most `batch` rows,
/// each taking only rows no other purge has locked (`FOR UPDATE SKIP LOCKED`), so
/// concurrent purges share the work and delete each row exactly once, and no transaction
/// grows with the table. Returns the `returning` column of every deleted row.
fn purge_in_batches<T>(
    client: &mut Connection,
    table: &str,
    key_column: &str,
    now_ms: u64,
    batch: i64,
    mut each: impl FnMut(&postgres::Row) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    let sql = format!(
        "DELETE FROM {table} WHERE {key_column} IN (
             SELECT {key_column} FROM {table} WHERE expires_at <= $1
             LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING {key_column}"
    );
    let now = to_i64(now_ms)?;
    let mut out = Vec::new();
    loop {
        let rows = client.query(&sql, &[&now, &batch]).map_err(db)?;
        if rows.is_empty() {
            return Ok(out);
        }
        for row in &rows {
            out.push(each(row)?);
        }
    }
}

impl RecordStore for PostgresRecordStore {
    fn insert_all(&self, records: &[StoredRecord]) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        let mut order_ids = Vec::with_capacity(records.len());
        let mut formats = Vec::with_capacity(records.len());
        let mut created = Vec::with_capacity(records.len());
        let mut expires = Vec::with_capacity(records.len());
        let mut key_ids = Vec::with_capacity(records.len());
        let mut counts = Vec::with_capacity(records.len());
        let mut nonces = Vec::with_capacity(records.len());
        let mut ciphertexts = Vec::with_capacity(records.len());
        for r in records {
            let RecordBody::Sealed { nonce, ciphertext } = &r.body else {
                return Err(Error::Malformed {
                    what: "only sealed records can be inserted",
                });
            };
            order_ids.push(r.order_id.as_str());
            formats.push(i16::from(r.format));
            created.push(to_i64(r.created_at_ms)?);
            expires.push(to_i64(r.expires_at_ms)?);
            key_ids.push(&r.key_id.as_bytes()[..]);
            counts.push(i64::try_from(r.reveal_count).map_err(|_| Error::Malformed {
                what: "reveal count out of range",
            })?);
            nonces.push(&nonce[..]);
            ciphertexts.push(ciphertext.as_slice());
        }
        // One statement: atomic by itself, and a taken or repeated order id violates the
        // primary key, also against another server inserting the same id concurrently.
        let sql = format!(
            "INSERT INTO {} (order_id, format, created_at, expires_at, key_id, reveal_count,
                             state, nonce, ciphertext)
             SELECT o, f, c, e, k, n, {STATE_SEALED}, nc, ct
             FROM UNNEST($1::text[], $2::smallint[], $3::bigint[], $4::bigint[], $5::bytea[],
                         $6::bigint[], $7::bytea[], $8::bytea[]) AS t(o, f, c, e, k, n, nc, ct)",
            self.table
        );
        let mut client = get(&self.pool)?;
        match client.execute(
            &sql,
            &[
                &order_ids,
                &formats,
                &created,
                &expires,
                &key_ids,
                &counts,
                &nonces,
                &ciphertexts,
            ],
        ) {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists),
            Err(e) => Err(pg_err(&e)),
        }
    }

    fn load(&self, order_id: &str) -> Result<Option<StoredRecord>, Error> {
        let mut client = get(&self.pool)?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT order_id, format, created_at, expires_at, key_id, reveal_count,
                            state, state_at, nonce, ciphertext
                     FROM {} WHERE order_id = $1",
                    self.table
                ),
                &[&order_id],
            )
            .map_err(db)?;
        row.as_ref().map(row_to_record).transpose()
    }

    fn count_reveal(
        &self,
        order_id: &str,
        now_ms: u64,
        max_count: u64,
    ) -> Result<Option<u64>, Error> {
        // A limit above every BIGINT is no limit: NULL.
        let max_count = i64::try_from(max_count).ok();
        // Under a limit the count is a promise ("at most n reveals"): the commit waits for
        // the WAL flush (the server's synchronous_commit, not touched), so a crash cannot
        // hand a counted reveal out again. Without one it is bookkeeping, as in the SQLite
        // store: this statement's own transaction commits with synchronous_commit = off
        // (set_config's `true`: local to the transaction, so the pooled connection's next
        // statement is durable again). A server crash may then lose the last moments'
        // increments (at most about 3 x wal_writer_delay); never a record, a tombstone or a
        // key, whose commits stay synchronous. RETURNING runs it only when a row changed,
        // before the commit reads the setting.
        let bookkeeping = if max_count.is_none() {
            ", set_config('synchronous_commit', 'off', true)"
        } else {
            ""
        };
        let mut client = get(&self.pool)?;
        // One statement: the row lock makes concurrent reveals queue, and each re-checks
        // the condition (the limit included) on the row as the one before left it.
        let row = client
            .query_opt(
                &format!(
                    "UPDATE {} SET reveal_count = reveal_count
                         + CASE WHEN reveal_count < 9223372036854775807 THEN 1 ELSE 0 END
                     WHERE order_id = $1 AND state = {STATE_SEALED} AND expires_at > $2
                       AND ($3::bigint IS NULL OR reveal_count < $3::bigint)
                     RETURNING reveal_count{bookkeeping}",
                    self.table
                ),
                &[&order_id, &to_i64(now_ms)?, &max_count],
            )
            .map_err(db)?;
        match row {
            Some(row) => Ok(Some(to_u64(row.try_get(0).map_err(db)?)?)),
            None => Ok(None),
        }
    }

    fn destroy(&self, order_id: &str, tombstone: &RecordBody) -> Result<bool, Error> {
        let (state, at) = tombstone_columns(tombstone)?;
        let mut client = get(&self.pool)?;
        let changed = client
            .execute(
                &format!(
                    "UPDATE {} SET state = $2, state_at = $3, nonce = NULL, ciphertext = NULL
                     WHERE order_id = $1 AND state = {STATE_SEALED}",
                    self.table
                ),
                &[&order_id, &state, &at],
            )
            .map_err(db)?;
        Ok(changed == 1)
    }

    fn purge_expired(&self, now_ms: u64) -> Result<Vec<String>, Error> {
        let mut client = get(&self.pool)?;
        purge_in_batches(
            &mut client,
            &self.table,
            "order_id",
            now_ms,
            self.purge_batch,
            |row| row.try_get(0).map_err(db),
        )
    }

    fn claim_reminders(
        &self,
        now_ms: u64,
        due_by_ms: u64,
        lease_until_ms: u64,
        max: usize,
    ) -> Result<Vec<ReminderClaim>, Error> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let due_by = i64::try_from(due_by_ms).unwrap_or(i64::MAX);
        let mut client = get(&self.pool)?;
        // One statement: the CTE locks the rows it selects and skips rows another claim
        // holds, so concurrent claims never take one row twice; a row another claim
        // leased and committed meanwhile is re-checked on its new version (the lease test
        // then excludes it). The literal state and count let the partial index serve it.
        let rows = client
            .query(
                &format!(
                    "WITH due AS (
                         SELECT order_id FROM {t}
                         WHERE state = {STATE_SEALED} AND reveal_count = 0
                           AND reminded_at IS NULL
                           AND expires_at > $1 AND expires_at <= $2
                           AND (reminder_lease_until IS NULL OR reminder_lease_until <= $1)
                         ORDER BY expires_at, order_id
                         LIMIT $4
                         FOR UPDATE SKIP LOCKED)
                     UPDATE {t} AS r SET reminder_lease_until = $3
                     FROM due WHERE r.order_id = due.order_id
                     RETURNING r.order_id, r.expires_at",
                    t = self.table
                ),
                &[&to_i64(now_ms)?, &due_by, &to_i64(lease_until_ms)?, &limit],
            )
            .map_err(db)?;
        let mut claims = rows
            .iter()
            .map(|row| {
                Ok(ReminderClaim {
                    order_id: row.try_get(0).map_err(db)?,
                    expires_at_ms: to_u64(row.try_get(1).map_err(db)?)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        claims.sort_unstable_by(|a, b| {
            (a.expires_at_ms, &a.order_id).cmp(&(b.expires_at_ms, &b.order_id))
        });
        Ok(claims)
    }

    fn mark_reminded(&self, order_id: &str, now_ms: u64) -> Result<bool, Error> {
        let mut client = get(&self.pool)?;
        let changed = client
            .execute(
                &format!(
                    "UPDATE {} SET reminded_at = $2 WHERE order_id = $1 AND reminded_at IS NULL",
                    self.table
                ),
                &[&order_id, &to_i64(now_ms)?],
            )
            .map_err(db)?;
        Ok(changed == 1)
    }
}

/// Record keys in PostgreSQL.
///
/// A `DELETE` here erases nothing from dead tuples, the WAL, replicas or base backups, so
/// keys must reach this store wrapped by a [`KeyWrapper`] that really destroys its wrapping
/// keys; that is why [`connect`](Self::connect) takes a [`KeyProtection`].
pub struct PostgresKeyStore {
    pool: Pool<Manager>,
    table: String,
    purge_batch: i64,
}

impl core::fmt::Debug for PostgresKeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresKeyStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// What the key store's blobs are: the caller's explicit statement, because PostgreSQL
/// cannot destroy a row's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProtection {
    /// Every key is wrapped by a [`KeyWrapper`] whose `destroy_expired` really destroys
    /// its wrapping keys (e.g. non-extractable keys in an HSM). Use [`open_vault`].
    DestroyingWrapper,
    /// **Hazmat**: raw record keys in PostgreSQL. Revoke and purge then delete rows whose
    /// bytes survive in dead tuples, the WAL and every base backup: a copy of the database
    /// taken before a revoke or purge still decrypts the codes. Only for tests and for
    /// measuring exactly that.
    HazmatRawKeys,
}

impl PostgresKeyStore {
    /// Connects to `url` and creates or migrates the key table in [`DEFAULT_SCHEMA`].
    /// Put it in another database, or at least another role's schema, than the records,
    /// and exclude it from backups.
    ///
    /// # Errors
    /// As [`PostgresRecordStore::connect`].
    pub fn connect(url: &str, protection: KeyProtection) -> Result<Self, Error> {
        Self::connect_with(url, protection, &Options::default())
    }

    /// As [`connect`](Self::connect), with [`Options`].
    ///
    /// # Errors
    /// As [`PostgresRecordStore::connect_with`].
    pub fn connect_with(
        url: &str,
        protection: KeyProtection,
        options: &Options,
    ) -> Result<Self, Error> {
        // Both choices are explicit; nothing to store about them yet.
        let _ = protection;
        Ok(Self {
            pool: connect(url, options, &KEY_SCHEMA)?,
            table: format!("\"{}\".record_keys", options.schema),
            purge_batch: options.purge_batch,
        })
    }
}

impl KeyStore for PostgresKeyStore {
    fn insert_all(&self, keys: &[StoredKey]) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let ids: Vec<&[u8]> = keys.iter().map(|k| &k.id.as_bytes()[..]).collect();
        let expires = keys
            .iter()
            .map(|k| to_i64(k.expires_at_ms))
            .collect::<Result<Vec<_>, _>>()?;
        let blobs: Vec<&[u8]> = keys.iter().map(|k| k.blob.as_slice()).collect();
        let mut client = get(&self.pool)?;
        let sql = format!(
            "INSERT INTO {} (key_id, expires_at, key)
             SELECT * FROM UNNEST($1::bytea[], $2::bigint[], $3::bytea[])",
            self.table
        );
        match client.execute(&sql, &[&ids, &expires, &blobs]) {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists),
            Err(e) => Err(pg_err(&e)),
        }
    }

    fn get(&self, id: &KeyId) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let mut client = get(&self.pool)?;
        let row = client
            .query_opt(
                &format!("SELECT key FROM {} WHERE key_id = $1", self.table),
                &[&&id.as_bytes()[..]],
            )
            .map_err(db)?;
        match row {
            Some(row) => Ok(Some(Zeroizing::new(row.try_get(0).map_err(db)?))),
            None => Ok(None),
        }
    }

    fn destroy(&self, ids: &[KeyId]) -> Result<u64, Error> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&[u8]> = ids.iter().map(|id| &id.as_bytes()[..]).collect();
        let mut client = get(&self.pool)?;
        client
            .execute(
                &format!("DELETE FROM {} WHERE key_id = ANY($1)", self.table),
                &[&ids],
            )
            .map_err(db)
    }

    fn destroy_expired(&self, now_ms: u64) -> Result<u64, Error> {
        let mut client = get(&self.pool)?;
        let destroyed = purge_in_batches(
            &mut client,
            &self.table,
            "key_id",
            now_ms,
            self.purge_batch,
            |_| Ok(()),
        )?;
        Ok(u64::try_from(destroyed.len()).unwrap_or(u64::MAX))
    }

    fn count(&self) -> Result<u64, Error> {
        let mut client = get(&self.pool)?;
        let n: i64 = client
            .query_one(&format!("SELECT COUNT(*) FROM {}", self.table), &[])
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        to_u64(n)
    }
}

/// A vault over PostgreSQL: records at `records_url`, keys at `keys_url` (another database
/// or role, excluded from backups), every key wrapped by `wrapper`, whose wrapping keys
/// purge destroys.
///
/// # Errors
/// As [`PostgresRecordStore::connect`].
pub fn open_vault(
    records_url: &str,
    keys_url: &str,
    wrapper: Arc<dyn KeyWrapper>,
) -> Result<Vault, Error> {
    let records = PostgresRecordStore::connect(records_url)?;
    let keys = PostgresKeyStore::connect(keys_url, KeyProtection::DestroyingWrapper)?;
    Ok(Vault::new(Arc::new(records), Arc::new(keys)).with_key_wrapper(wrapper))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    /// A pooled connection prepares each statement once: the second call finds it in the
    /// connection's cache and the server holds one prepared statement for it.
    #[test]
    fn a_pooled_connection_prepares_each_statement_once() {
        let Some(url) = autocsr_interop::postgres_url() else {
            return;
        };
        let (config_text, tls_params) = url_params::split_tls_params(&url).unwrap();
        let mut config = Config::from_str(&config_text).unwrap();
        let connector = tls::configure(&mut config, &tls_params, &Options::default()).unwrap();
        let manager = Manager { config, connector };
        let mut connection = manager.connect().unwrap();
        let sql = "SELECT $1::bigint + 1";
        for n in 0..3_i64 {
            let row = connection.query_one(sql, &[&n]).unwrap();
            assert_eq!(row.get::<_, i64>(0), n + 1);
        }
        assert_eq!(connection.statements.len(), 1);
        let prepared: i64 = connection
            .client
            .query_one(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
                &[&sql],
            )
            .unwrap()
            .get(0);
        assert_eq!(prepared, 1);
        manager.is_valid(&mut connection).unwrap();
        assert!(!manager.has_broken(&mut connection));
    }
}
