//! rayon's global pool over JS workers (the pattern of wasm-bindgen-rayon, with a transport that works in
//! Node's worker_threads and in browser Web Workers alike). The JS side:
//!   1. `new PoolBuilder(n)`, then starts `builder.workers()` (n - 1) workers that instantiate this module over
//!      the same shared memory;
//!   2. each worker calls `start_worker(builder.receiver())`, which blocks waiting for its rayon thread;
//!   3. once all are started, `builder.build()` installs the global pool and hands a thread to each worker.
//!
//! The thread that calls `build()` (the one that calls the kernels) is the pool's thread 0: a kernel's parallel
//! region starts working at once on the caller while the others wake and steal, instead of the caller sleeping
//! until a woken worker picks the region up (a ~0.1 ms round trip on every call).

use crossbeam_channel::{bounded, Receiver, Sender};
use rayon::{ThreadBuilder, ThreadPoolBuilder};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct PoolBuilder {
    threads: usize,
    sender: Sender<ThreadBuilder>,
    receiver: Receiver<ThreadBuilder>,
}

#[wasm_bindgen]
impl PoolBuilder {
    #[wasm_bindgen(constructor)]
    pub fn new(threads: usize) -> Result<PoolBuilder, JsError> {
        if threads == 0 {
            return Err(JsError::new("thread pool: threads must be at least 1, got 0"));
        }
        let (sender, receiver) = bounded(threads);
        Ok(PoolBuilder { threads, sender, receiver })
    }

    /// JS workers to start: every pool thread but the calling one.
    pub fn workers(&self) -> usize {
        self.threads - 1
    }

    /// Address of the channel the workers wait on; valid while this builder lives.
    pub fn receiver(&self) -> *const Receiver<ThreadBuilder> {
        &self.receiver
    }

    /// Installs the global pool; call after every worker is inside `start_worker`.
    pub fn build(&self) -> Result<(), JsError> {
        let sender = self.sender.clone();
        ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .use_current_thread()
            .spawn_handler(move |thread| sender.send(thread).map_err(|e| std::io::Error::other(e.to_string())))
            .build_global()
            .map_err(|e| JsError::new(&format!("thread pool: {e}")))
    }
}

/// Runs one rayon worker thread on the calling JS worker; returns when the pool shuts down.
#[wasm_bindgen]
pub fn start_worker(receiver: *const Receiver<ThreadBuilder>) -> Result<(), JsError> {
    // SAFETY: `receiver` comes from `PoolBuilder::receiver`, alive until every worker has taken its thread.
    let receiver = unsafe { &*receiver };
    let thread = receiver.recv().map_err(|e| JsError::new(&format!("thread pool: {e}")))?;
    thread.run();
    Ok(())
}
