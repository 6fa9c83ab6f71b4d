//! The shared worker pool: one rayon pool for every pipeline and batch call.
//!
//! Its size is set once with [`configure`] (the Elixir application does it
//! at startup from `RAYON_NUM_THREADS`); otherwise rayon's default (the
//! `RAYON_NUM_THREADS` variable, else one thread per CPU). Worker threads
//! run at lowered priority ([`crate::threads::lower_priority`]), so the
//! kernel lets the BEAM's schedulers preempt them promptly.

use std::sync::OnceLock;

static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();

/// Sets the number of worker threads (0: rayon's default). Returns `false`
/// if the pool already exists (its size cannot change).
pub fn configure(threads: usize) -> bool {
    let mut created = false;
    POOL.get_or_init(|| {
        created = true;
        build(threads)
    });
    created
}

/// The pool, created with the default size on first use.
pub fn get() -> &'static rayon::ThreadPool {
    POOL.get_or_init(|| build(0))
}

/// Number of worker threads.
pub fn threads() -> usize {
    get().current_num_threads()
}

fn build(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("chunker-worker-{i}"))
        .start_handler(|_| crate::threads::lower_priority())
        .build()
        .expect("cannot start the chunker worker pool")
}
