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
