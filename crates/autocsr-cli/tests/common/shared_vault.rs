//! A shared vault for the end-to-end tests: a fresh database on the throw-away PostgreSQL
//! server (`AUTOCSR_PG_URL`) and a SoftHSM2 token initialised here, and "machines": data
//! directories that run the built `autocsr` against both.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed expectation is the test's failure"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

pub const TOKEN: &str = "autocsr-cli-test";
pub const PIN: &str = "2718-user-pin";
const SO_PIN: &str = "3141-so-pin";

pub fn module_path() -> PathBuf {
    autocsr_interop::softhsm_module()
}

/// An admin connection to `url`.
pub fn admin(url: &str) -> postgres::Client {
    postgres::Config::from_str(url)
        .unwrap()
        .connect(postgres::NoTls)
        .unwrap()
}

/// `url` naming another database (URL form: `.../dbname[?...]`).
pub fn with_dbname(url: &str, dbname: &str) -> String {
    let config = postgres::Config::from_str(url).unwrap();
    let current = config
        .get_dbname()
        .expect("AUTOCSR_PG_URL names a database");
    let (head, tail) = url
        .split_once(&format!("/{current}"))
        .expect("AUTOCSR_PG_URL in URL form (postgresql://.../dbname)");
    format!("{head}/{dbname}{tail}")
}

/// `url` with one more query parameter.
pub fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "cli_{}_{}_{nanos}_{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A database of its own on the test server, dropped at the end.
pub struct Database {
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl Database {
    /// `None` (after a loud `SKIPPED:`, or a failure under `AUTOCSR_REQUIRE_INTEROP=1`)
    /// without a server.
    pub fn create(tag: &str) -> Option<Database> {
        let admin_url = autocsr_interop::postgres_url()?;
        let name = unique(tag);
        admin(&admin_url)
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap();
        let url = with_dbname(&admin_url, &name);
        Some(Database {
            admin_url,
            name,
            url,
        })
    }

    pub fn client(&self) -> postgres::Client {
        admin(&self.url)
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).unwrap().get(0)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = admin(&self.admin_url).batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ));
    }
}

/// A SoftHSM2 token in a temp dir, initialised here, its user PIN in a file (mode 0600).
pub struct Hsm {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub pin_file: PathBuf,
}

impl Hsm {
    /// `None` (after `SKIPPED:`, or a failure under `AUTOCSR_REQUIRE_INTEROP=1`) without
    /// SoftHSM2.
    pub fn init() -> Option<Hsm> {
        if !autocsr_interop::softhsm_available() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let conf = autocsr_interop::init_softhsm_token(dir.path(), TOKEN, PIN, SO_PIN);
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        Some(Hsm {
            dir,
            conf,
            pin_file,
        })
    }

    pub fn tokens_dir(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }
}

/// One application server: its own data directory (its audit log) and output directory,
/// the shared vault through the environment, as an operator would configure it.
pub struct Machine {
    pub root: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Machine {
    /// A machine using `db` with the HSM `hsm`.
    pub fn with_hsm(db: &Database, hsm: &Hsm) -> Machine {
        Machine::with_hsm_at(&db.url, hsm)
    }

    /// A machine using the database at `url` with the HSM `hsm`.
    pub fn with_hsm_at(url: &str, hsm: &Hsm) -> Machine {
        Machine::with_env(vec![
            ("AUTOCSR_VAULT_URL".into(), url.to_owned()),
            ("SOFTHSM2_CONF".into(), hsm.conf.display().to_string()),
            (
                "AUTOCSR_HSM_MODULE".into(),
                module_path().display().to_string(),
            ),
            ("AUTOCSR_HSM_TOKEN".into(), TOKEN.into()),
            (
                "AUTOCSR_HSM_PIN_FILE".into(),
                hsm.pin_file.display().to_string(),
            ),
        ])
    }

    pub fn with_env(env: Vec<(String, String)>) -> Machine {
        Machine {
            root: tempfile::tempdir().unwrap(),
            env,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn out_dir(&self) -> PathBuf {
        self.root.path().join("out")
    }

    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_autocsr"));
        command
            .env("AUTOCSR_DATA_DIR", self.data_dir())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Runs `autocsr --json ARGS` with a watchdog: a run that takes over 120 s is killed
    /// and fails the test (a hang), however slow the machine is otherwise.
    pub fn run_json<I, S>(&self, args: I) -> (Option<i32>, Value, Output)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = self.command(["--json"]);
        command.args(args);
        let output = run_with_watchdog(command);
        let value = if output.stdout.is_empty() {
            Value::Null
        } else {
            super::parse_one_object(&output.stdout)
        };
        (output.status.code(), value, output)
    }

    /// `autocsr --json ARGS`, expecting `exit`; returns the JSON.
    pub fn json<I, S>(&self, args: I, exit: i32) -> (Value, Output)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let (code, value, output) = self.run_json(args);
        assert_eq!(
            code,
            Some(exit),
            "exit status\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (value, output)
    }

    pub fn order(&self, extra: &[&str]) -> Value {
        let out = self.out_dir().display().to_string();
        let mut args = vec!["order", "--domain", "example.com", "--key", "p256"];
        args.extend_from_slice(&["--out", &out]);
        args.extend_from_slice(extra);
        self.json(args, 0).0
    }
}

pub fn run_with_watchdog(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "autocsr hung (killed after 120 s)\n--- stderr\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
