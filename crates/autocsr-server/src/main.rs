//! `autocsr-server`: see the crate README.

use std::alloc::System;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use autocsr_server::{Cli, Command, Error, HmacKey, MAX_LINK_LIFETIME, Settings, SignLinkArgs};
use clap::Parser as _;

/// Every heap block is zeroed before it is freed, so the keys, codes and archives a request
/// handled do not linger in freed memory for a later crash dump or core to show
/// (docs/THREAT_MODEL.md says what is left: live memory, the stack, C allocations).
#[global_allocator]
static ALLOCATOR: autocsr_wipe_alloc::WipeOnFree<System> =
    autocsr_wipe_alloc::WipeOnFree::new(System);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::SignLink(args)) => sign_link(&args),
        _ => serve(cli),
    }
}

fn serve(cli: Cli) -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(cli.serve.log)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .init();
    let settings = match Settings::from_args(cli.serve) {
        Ok(settings) => settings,
        Err(err) => return fail(&err),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&Error::Serve(err)),
    };
    let outcome = runtime.block_on(async {
        // Installed before the server starts (and logs that it listens), so a SIGTERM that
        // comes at once is a graceful stop, not the default kill.
        let shutdown = shutdown_signal()?;
        autocsr_server::serve(settings, shutdown).await
    });
    // Dropping the runtime waits for blocking work (an order's last vault write) to end.
    drop(runtime);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// SIGTERM (what service managers send) or SIGINT (Ctrl-C). The handlers are installed
/// when this returns, not when the future is first polled.
fn shutdown_signal() -> Result<impl Future<Output = ()>, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(Error::Serve)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Error::Serve)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

fn sign_link(args: &SignLinkArgs) -> ExitCode {
    if args.lifetime.is_zero() || args.lifetime > MAX_LINK_LIFETIME {
        return fail(&Error::Link(
            "--lifetime must be more than zero and at most 24h",
        ));
    }
    let key = match HmacKey::from_file(&args.link_key_file) {
        Ok(key) => key,
        Err(err) => return fail(&err),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0);
    let expires = now.saturating_add(args.lifetime.as_secs());
    match autocsr_server::sign_link(&args.base_url, &key, &args.order_id, expires) {
        Ok(link) => {
            #[allow(clippy::print_stdout)] // The link is this command's output.
            {
                println!("{link}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

fn fail(err: &Error) -> ExitCode {
    use std::io::Write as _;
    let mut message = format!("autocsr-server: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let _ = writeln!(std::io::stderr(), "{message}");
    ExitCode::FAILURE
}
