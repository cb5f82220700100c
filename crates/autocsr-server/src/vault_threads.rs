//! A fixed set of threads for the requests' vault calls (`--vault-threads`).
//!
//! Why not tokio's blocking pool: it starts a thread for every call that finds none idle,
//! so 32 reveals at once became 32 threads queueing on the SQLite store's one connection,
//! and most of a reveal's time went to waking threads and switching between them
//! (docs/PERFORMANCE.md, "Reveal"). Here a few threads take calls from one queue, and a
//! thread that finishes a call takes the next without sleeping.
//!
//! Long work stays on the blocking pool: orders (key generation), the CSR check, and the
//! purge and reminder jobs, so none of them can hold every vault thread.

use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The threads and the queue that feeds them.
#[derive(Debug)]
pub(crate) struct VaultThreads {
    /// `None` once [`stop`](Self::stop) has closed the queue.
    queue: Mutex<Option<Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl VaultThreads {
    /// Starts `count` threads.
    ///
    /// # Errors
    /// The operating system refused a thread; the ones already started end.
    pub(crate) fn start(count: NonZeroUsize) -> std::io::Result<VaultThreads> {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut threads = Vec::with_capacity(count.get());
        for index in 0..count.get() {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("vault-{index}"))
                .spawn(move || work(&receiver));
            match spawned {
                Ok(thread) => threads.push(thread),
                // Dropping the sender on the way out ends the started threads.
                Err(err) => return Err(err),
            }
        }
        Ok(VaultThreads {
            queue: Mutex::new(Some(sender)),
            threads: Mutex::new(threads),
        })
    }

    /// Runs `call` on a vault thread and waits for it without blocking the runtime.
    /// `None` when it panicked or the threads were stopped: the caller answers 500.
    ///
    /// A request that is dropped while waiting (the client left) does not cancel the
    /// call: it runs to its end, as on tokio's blocking pool, so a vault write is never
    /// cut in half.
    pub(crate) async fn run<T, F>(&self, call: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.submit(call)?.await.ok()
    }

    /// Queues `call`; the receiver gets its value (nothing when it panicked).
    fn submit<T, F>(&self, call: F) -> Option<oneshot::Receiver<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A panic ends this call (the caller sees `None`), not the thread.
            if let Ok(value) = catch_unwind(AssertUnwindSafe(call)) {
                let _ = answer.send(value);
            }
        });
        lock(&self.queue).as_ref()?.send(job).ok()?;
        Some(answered)
    }

    /// Closes the queue and waits for the threads to finish the calls already queued.
    /// Later [`run`](Self::run)s answer `None`. Blocks: call it off the runtime.
    pub(crate) fn stop(&self) {
        drop(lock(&self.queue).take());
        for thread in lock(&self.threads).drain(..) {
            let _ = thread.join();
        }
    }
}

/// A vault thread: takes the next call until the queue is closed and empty.
fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // The guard is dropped before the call runs, so the other threads can take the
        // next one meanwhile.
        let next = lock(receiver).recv();
        match next {
            Ok(job) => job(),
            Err(_closed) => return,
        }
    }
}

/// A poisoned lock only means a thread panicked while holding it; what it guards (a
/// queue end, join handles) is still whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn threads(count: usize) -> VaultThreads {
        let count = NonZeroUsize::new(count).unwrap_or(NonZeroUsize::MIN);
        VaultThreads::start(count).unwrap_or_else(|err| unreachable!("start: {err}"))
    }

    #[tokio::test]
    async fn a_call_runs_on_a_vault_thread_and_answers() {
        let pool = threads(2);
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await;
        assert!(
            matches!(name, Some(Some(ref n)) if n.starts_with("vault-")),
            "{name:?}"
        );
        pool.stop();
    }

    #[tokio::test]
    async fn a_panicking_call_answers_none_and_the_thread_keeps_serving() {
        let pool = threads(1);
        let panicked: Option<u8> = pool
            .run(|| std::panic::resume_unwind(Box::new("a vault call failed")))
            .await;
        assert_eq!(panicked, None);
        // The one thread survived the panic.
        assert_eq!(pool.run(|| 7).await, Some(7));
        pool.stop();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_calls_run_at_once_than_there_are_threads() {
        let pool = Arc::new(threads(3));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut calls = Vec::new();
        for _ in 0..24 {
            let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
            calls.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        for call in calls {
            assert_eq!(call.await.ok().flatten(), Some(()));
        }
        // Fails if the bound is not kept (more) or if the calls ran one at a time (1).
        assert_eq!(most.load(Ordering::SeqCst), 3);
        pool.stop();
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_does_not_cancel_its_call() {
        let pool = threads(1);
        let (open_gate, gate) = channel::<()>();
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        let call = pool.run(move || {
            let _ = gate.recv();
            counted.fetch_add(1, Ordering::SeqCst);
        });
        // Polled once (so queued, and held at the gate), then dropped: the client left.
        let gave_up = tokio::time::timeout(Duration::from_millis(1), call).await;
        assert!(gave_up.is_err());
        let _ = open_gate.send(());
        pool.stop();
        assert_eq!(ran.load(Ordering::SeqCst), 1, "the call ran to its end");
    }

    #[tokio::test]
    async fn stop_finishes_the_queued_calls_and_refuses_later_ones() {
        let pool = threads(1);
        let (open_gate, gate) = channel::<()>();
        let done = Arc::new(AtomicUsize::new(0));
        // The one thread waits at the gate, so the next four calls stay in the queue.
        let first = pool.submit(move || {
            let _ = gate.recv();
        });
        let queued: Vec<_> = (0..4)
            .map(|_| {
                let done = done.clone();
                pool.submit(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        assert!(first.is_some() && queued.iter().all(Option::is_some));
        let _ = open_gate.send(());
        pool.stop();
        assert_eq!(
            done.load(Ordering::SeqCst),
            4,
            "stop returned before the queue ran"
        );
        assert_eq!(pool.run(|| 1).await, None);
    }
}
