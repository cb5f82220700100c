//! A private PostgreSQL cluster for one test: `initdb` into a temp dir, listening on a Unix
//! socket in that dir (and, from [`PrivateCluster::start_tcp`], on a free loopback port,
//! with or without TLS), so a test may restart or kill it without disturbing the shared
//! server of `.ci/start-postgres.sh` or other tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::missing;

/// A throw-away cluster: started by [`PrivateCluster::start`], stopped (immediate mode)
/// and removed on drop.
#[derive(Debug)]
pub struct PrivateCluster {
    root: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    url: String,
    /// `name=value` server settings given at every start, after the defaults.
    settings: Vec<String>,
    /// The loopback TCP port, when it listens on 127.0.0.1 too.
    tcp_port: Option<u16>,
}

/// What [`PrivateCluster::start_tcp`] sets up besides its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tcp {
    /// `ssl = on` with a certificate for `localhost` signed by a test CA
    /// ([`PrivateCluster::tls_ca_file`]); `pg_hba.conf` accepts TCP only over TLS.
    Tls,
    /// `ssl = off`; `pg_hba.conf` accepts plaintext TCP.
    Plain,
}

impl PrivateCluster {
    /// Initialises and starts a cluster (trust authentication on its private socket, one
    /// database `autocsr_test`). `None`, after the [`missing`] notice, when PostgreSQL's
    /// server programs are not installed.
    ///
    /// # Panics
    /// When they are missing and `AUTOCSR_REQUIRE_INTEROP=1`, or when `initdb` or the server
    /// fails.
    pub fn start() -> Option<PrivateCluster> {
        Self::start_with(&[])
    }

    /// As [`start`](Self::start), with server settings (`("fsync", "on")`, …) passed as
    /// `-c name=value` at every start after the defaults, which they override (a benchmark
    /// wants `fsync` back on). Values must not contain spaces or quotes: they go into
    /// `pg_ctl -o` unquoted.
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn start_with(settings: &[(&str, &str)]) -> Option<PrivateCluster> {
        let Some(bin) = server_bin() else {
            missing(
                "PostgreSQL's server programs (initdb, pg_ctl) are not installed",
                "apt-get install postgresql",
            );
            return None;
        };
        let as_postgres = is_root();
        let root = unique_dir();
        std::fs::create_dir(&root).expect("create the cluster's directory");
        set_mode(&root, 0o755);
        let cluster = PrivateCluster {
            url: format!(
                "postgresql://postgres@{}/autocsr_test",
                root.display().to_string().replace('/', "%2F")
            ),
            root,
            bin,
            as_postgres,
            settings: settings
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
            tcp_port: None,
        };
        if as_postgres {
            let chown = Command::new("chown")
                .args(["postgres:", &cluster.root.display().to_string()])
                .output()
                .expect("run chown");
            assert!(chown.status.success(), "chown failed: {chown:?}");
        }
        let data = cluster.data_dir();
        cluster.run_ok(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-instructions",
                "--no-sync",
            ],
        );
        cluster.pg_ctl(&["start"]);
        cluster.run_ok(
            "createdb",
            &[
                "-h",
                &cluster.root.display().to_string(),
                "-U",
                "postgres",
                "autocsr_test",
            ],
        );
        Some(cluster)
    }

    /// The URL of its database `autocsr_test` (as superuser `postgres`, over the socket;
    /// with the TCP port in it after [`start_tcp`](Self::start_tcp), which also names the
    /// socket).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// As [`start`](Self::start), also listening on `127.0.0.1` at a free port, with or
    /// without TLS. It makes, with `openssl`, a test CA and a server key and certificate
    /// for `localhost` (SAN `DNS:localhost` only) signed by it, plus a second, unrelated CA ([`other_ca_file`](Self::other_ca_file)). `None`, after the
    /// [`missing`] notice, when PostgreSQL's server programs or `openssl` are missing.
    ///
    /// # Panics
    /// As [`start`](Self::start); also when `openssl` fails.
    pub fn start_tcp(tcp: Tcp) -> Option<PrivateCluster> {
        let openssl = crate::Program::require("openssl")?;
        let mut cluster = Self::start()?;
        let port = free_port();
        let dir = cluster.root.join("tls");
        std::fs::create_dir(&dir).expect("create the TLS directory");
        make_test_pki(&openssl, &dir);
        if cluster.as_postgres {
            let chown = Command::new("chown")
                .args(["-R", "postgres:", &dir.display().to_string()])
                .output()
                .expect("run chown");
            assert!(chown.status.success(), "chown failed: {chown:?}");
        }
        let hba = match tcp {
            Tcp::Tls => {
                for (name, file) in [
                    ("ssl_cert_file", "server.crt"),
                    ("ssl_key_file", "server.key"),
                ] {
                    cluster
                        .settings
                        .push(format!("{name}={}", dir.join(file).display()));
                }
                cluster.settings.push("ssl=on".to_owned());
                "hostssl all all 127.0.0.1/32 trust\n"
            }
            Tcp::Plain => "host all all 127.0.0.1/32 trust\n",
        };
        std::fs::write(
            cluster.root.join("data").join("pg_hba.conf"),
            format!("local all all trust\nlocal replication all trust\n{hba}"),
        )
        .expect("write pg_hba.conf");
        cluster.tcp_port = Some(port);
        cluster.url = format!(
            "postgresql://postgres@{}:{port}/autocsr_test",
            cluster.root.display().to_string().replace('/', "%2F")
        );
        cluster.restart();
        Some(cluster)
    }

    /// The URL of its database over loopback TCP (`host=localhost`, so TLS checks the
    /// name `localhost`; `hostaddr=127.0.0.1`, so no resolver is asked), without any
    /// `sslmode`. `None` unless started by [`start_tcp`](Self::start_tcp).
    pub fn tcp_url(&self) -> Option<String> {
        self.tcp_port.map(|port| {
            format!("postgresql://postgres@localhost:{port}/autocsr_test?hostaddr=127.0.0.1")
        })
    }

    /// The test CA's certificate (PEM) that signed the server's (used only with
    /// [`Tcp::Tls`]), after [`start_tcp`](Self::start_tcp).
    pub fn tls_ca_file(&self) -> PathBuf {
        self.root.join("tls").join("ca.crt")
    }

    /// A second CA's certificate (PEM) that signed nothing the server has.
    pub fn other_ca_file(&self) -> PathBuf {
        self.root.join("tls").join("other-ca.crt")
    }

    /// Restarts the server (`pg_ctl restart -m fast`: every connection is terminated, the
    /// server comes back) and waits until it accepts connections again.
    ///
    /// # Panics
    /// When `pg_ctl` fails.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast"]);
    }

    /// Stops the server at once (`-m immediate`: like a crash, recovery on next start).
    ///
    /// # Panics
    /// When `pg_ctl` fails.
    pub fn stop_immediately(&self) {
        self.pg_ctl(&["stop", "-m", "immediate"]);
    }

    /// Starts a stopped server and waits until it accepts connections.
    ///
    /// # Panics
    /// When `pg_ctl` fails.
    pub fn start_again(&self) {
        self.pg_ctl(&["start"]);
    }

    /// Whether PostgreSQL's server programs are installed; when not, prints the
    /// [`missing`] notice. For a parent process that must report a skip before a child
    /// process of its own starts the cluster.
    ///
    /// # Panics
    /// When they are missing and `AUTOCSR_REQUIRE_INTEROP=1`.
    pub fn available() -> bool {
        if server_bin().is_some() {
            return true;
        }
        missing(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed",
            "apt-get install postgresql",
        );
        false
    }

    /// The data directory (`PGDATA`): `pg_relation_filepath` names files relative to it,
    /// and the WAL is in its `pg_wal`.
    pub fn data_path(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Takes a base backup of the running server with `pg_basebackup` (plain format, the
    /// WAL it needs streamed alongside: `-X stream`; an immediate checkpoint: `-c fast`)
    /// over a replication connection, which `initdb`'s default `pg_hba.conf` trusts on the
    /// local socket (`wal_level = replica` is the default). Returns the backup as a
    /// cluster of its own, **stopped**: its [`data_path`](Self::data_path) holds the files
    /// an operator would keep; [`start_again`](Self::start_again) starts it on its own
    /// socket (recovering from the streamed WAL), at its own [`url`](Self::url). Dropping
    /// it removes the copy.
    ///
    /// # Panics
    /// When the directory cannot be made or `pg_basebackup` fails.
    pub fn base_backup(&self) -> PrivateCluster {
        let root = unique_dir();
        std::fs::create_dir(&root).expect("create the backup's directory");
        set_mode(&root, 0o755);
        let backup = PrivateCluster {
            url: format!(
                "postgresql://postgres@{}/autocsr_test",
                root.display().to_string().replace('/', "%2F")
            ),
            root,
            bin: self.bin.clone(),
            as_postgres: self.as_postgres,
            settings: self.settings.clone(),
            tcp_port: None,
        };
        if backup.as_postgres {
            let chown = Command::new("chown")
                .args(["postgres:", &backup.root.display().to_string()])
                .output()
                .expect("run chown");
            assert!(chown.status.success(), "chown failed: {chown:?}");
        }
        self.run_ok(
            "pg_basebackup",
            &[
                "-h",
                &self.root.display().to_string(),
                "-U",
                "postgres",
                "-D",
                &backup.data_dir(),
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        backup
    }

    /// The directory of its Unix socket (for `-h` of PostgreSQL's own tools); it belongs
    /// to the server's user, so they may write files there.
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// Runs one of PostgreSQL's programs (`pgbench`, `psql`, …) from the server's
    /// directory, as the server's user, and returns its output whatever its exit status.
    ///
    /// # Panics
    /// When the program cannot be started.
    pub fn run_program(&self, program: &str, args: &[&str]) -> Output {
        self.run(program, args)
    }

    fn data_dir(&self) -> String {
        self.root.join("data").display().to_string()
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data_dir();
        let log = self.root.join("server.log").display().to_string();
        // A TCP port also names the socket (`.s.PGSQL.<port>`): only a cluster without TCP
        // keeps the default port, which its URL assumes.
        let listen = match self.tcp_port {
            Some(port) => format!("-c listen_addresses=127.0.0.1 -c port={port}"),
            None => "-c listen_addresses=''".to_owned(),
        };
        let mut socket_options = format!(
            "-k {} {listen} -c max_connections=100 -c fsync=off",
            self.root.display()
        );
        for setting in &self.settings {
            socket_options.push_str(" -c ");
            socket_options.push_str(setting);
        }
        let mut all: Vec<&str> = vec!["-D", &data, "-w", "-t", "60"];
        all.extend_from_slice(args);
        if args
            .first()
            .is_some_and(|a| *a == "start" || *a == "restart")
        {
            all.extend_from_slice(&["-l", &log, "-o", &socket_options]);
        }
        self.run_ok("pg_ctl", &all);
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        command
            .args(args)
            .output()
            .unwrap_or_else(|err| panic!("could not run {program}: {err}"))
    }

    fn run_ok(&self, program: &str, args: &[&str]) {
        let output = self.run(program, args);
        crate::assert_success(program, &output);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The directory of `initdb` and `pg_ctl`: Debian's versioned one (the newest), else
/// wherever `PATH` has them.
fn server_bin() -> Option<PathBuf> {
    let mut versioned: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versioned.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(bin) = versioned.pop() {
        return Some(bin);
    }
    let initdb = crate::Program::find("initdb")?;
    let dir = initdb.command().get_program().to_owned();
    Path::new(&dir).parent().map(Path::to_path_buf)
}

/// A port nobody listens on at this moment (the OS picks it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// A test CA (`ca.crt`), a server key and certificate for `localhost` signed by it
/// (`server.key` mode 0600, `server.crt`), and an unrelated CA (`other-ca.crt`), in `dir`.
fn make_test_pki(openssl: &crate::Program, dir: &Path) {
    let path = |name: &str| dir.join(name).display().to_string();
    for ca in ["ca", "other-ca"] {
        openssl.run_ok([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=AutoCSR test {ca}"),
            "-keyout",
            &path(&format!("{ca}.key")),
            "-out",
            &path(&format!("{ca}.crt")),
        ]);
    }
    openssl.run_ok([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &path("server.key"),
        "-out",
        &path("server.csr"),
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the extensions file");
    openssl.run_ok([
        "x509",
        "-req",
        "-in",
        &path("server.csr"),
        "-CA",
        &path("ca.crt"),
        "-CAkey",
        &path("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &path("server.ext"),
        "-out",
        &path("server.crt"),
    ]);
    set_mode(&dir.join("server.key"), 0o600);
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn unique_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // Short: a Unix socket path has a limit of about 100 bytes.
    std::env::temp_dir().join(format!(
        "acpg{}.{}.{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ))
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .expect("set the cluster directory's mode");
}
