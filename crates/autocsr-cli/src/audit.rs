//! The CLI's audit log: vault events appended to `audit.jsonl` in the data directory, one
//! JSON object per line. Events carry the order id and the time, never the code.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::sync::Mutex;

use autocsr::credential::{AuditEvent, AuditKind, AuditSink};

use crate::output::rfc3339;

/// File name of the audit log inside the data directory.
pub(crate) const AUDIT_FILE: &str = "audit.jsonl";

/// Appends each event as one line. A failed write is reported on stderr and does not stop
/// the vault operation (the sink cannot fail by contract), so monitoring should watch the
/// command's stderr too.
#[derive(Debug)]
pub(crate) struct JsonLinesAudit {
    path: PathBuf,
    // Serialises writers within this process; lines are written with one `write_all` on an
    // O_APPEND file, so concurrent processes do not interleave inside a line.
    lock: Mutex<()>,
}

impl JsonLinesAudit {
    pub(crate) fn new(path: PathBuf) -> JsonLinesAudit {
        JsonLinesAudit {
            path,
            lock: Mutex::new(()),
        }
    }
}

pub(crate) fn event_name(kind: AuditKind) -> &'static str {
    match kind {
        AuditKind::Issued => "issued",
        AuditKind::Revealed => "revealed",
        AuditKind::Expired => "expired",
        AuditKind::Revoked => "revoked",
        AuditKind::Purged => "purged",
        _ => "other",
    }
}

impl AuditSink for JsonLinesAudit {
    fn record(&self, event: &AuditEvent) {
        let line = serde_json::json!({
            "at": rfc3339(event.at),
            "event": event_name(event.kind),
            "order_id": event.order_id,
        });
        let mut text = line.to_string();
        text.push('\n');
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .and_then(|mut file| file.write_all(text.as_bytes()));
        if let Err(err) = written {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not append to the audit log {}: {err}",
                self.path.display()
            );
        }
    }
}
