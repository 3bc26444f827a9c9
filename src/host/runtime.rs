//! The one async runtime the host owns. Script-thread primitives block on it; nothing else
//! creates a runtime. Two worker threads match the machines this runs on (small VPSs).

use std::future::Future;
use std::sync::OnceLock;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The shared runtime, started on first use.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("runbook-io")
            .enable_all()
            .build()
            .expect("the async runtime starts")
    })
}

/// Runs a future to completion from synchronous code.
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// Sleeps `duration`, waking to look at `control` every few milliseconds so Ctrl-C and step
/// deadlines end the wait at once.
pub fn sleep_checked(
    duration: std::time::Duration,
    control: &crate::context::control::Control,
) -> crate::error::Result<()> {
    let end = std::time::Instant::now() + duration;
    loop {
        control.check()?;
        let now = std::time::Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(CHECK_EVERY));
    }
}

/// How often [`block_on_controlled`] and [`sleep_checked`] look at the control.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs a future to completion from synchronous code, stopping it early when the run is
/// interrupted (Ctrl-C) or the step's deadline passes — for calls that can block for long,
/// such as a database query.
pub fn block_on_controlled<T, F>(
    control: &crate::context::control::Control,
    future: F,
) -> crate::error::Result<T>
where
    F: Future<Output = crate::error::Result<T>>,
{
    block_on(async {
        tokio::pin!(future);
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                out = &mut future => return out,
                _ = tick.tick() => control.check()?,
            }
        }
    })
}
