//! Per-thread caches of encoder and decoder contexts.

use super::bounded::Bounded;
use super::{Algo, Error};
use std::cell::{Cell, RefCell};
use std::thread::LocalKey;

thread_local! {
    /// Set while [`uncached`] runs: contexts are made fresh and dropped.
    static BYPASS: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the per-thread caches bypassed (to measure their gain).
pub(crate) fn uncached<R>(f: impl FnOnce() -> R) -> R {
    BYPASS.with(|b| b.set(true));
    let r = f();
    BYPASS.with(|b| b.set(false));
    r
}

fn bypass() -> bool {
    BYPASS.with(Cell::get)
}

/// Contexts holding more memory than this are freed after use instead of
/// being kept (high levels on big inputs allocate hundreds of MiB).
pub(crate) const KEEP_MAX: usize = 32 << 20;

/// Runs `f` with this thread's cached context from `key` (made by `make`
/// when absent), and keeps it afterwards if `size` is at most [`KEEP_MAX`].
pub(crate) fn with_cached<T: 'static, R>(
    key: &'static LocalKey<RefCell<Option<T>>>,
    make: impl FnOnce() -> Result<T, Error>,
    size: impl Fn(&T) -> usize,
    f: impl FnOnce(&mut T) -> Result<R, Error>,
) -> Result<R, Error> {
    let cached = if bypass() {
        None
    } else {
        key.try_with(|c| c.borrow_mut().take()).ok().flatten()
    };
    let mut ctx = match cached {
        Some(ctx) => ctx,
        None => make()?,
    };
    let result = f(&mut ctx);
    if size(&ctx) <= KEEP_MAX && !bypass() {
        let _ = key.try_with(|c| *c.borrow_mut() = Some(ctx));
    }
    result
}

thread_local! {
    static DECODERS: RefCell<Option<[Option<Bounded>; 4]>> = const { RefCell::new(None) };
}

fn slot(algo: Algo) -> usize {
    match algo {
        Algo::Zstd => 0,
        Algo::Lz4 => 1,
        Algo::Xz => 2,
        _ => 3,
    }
}

/// Runs `f` with this thread's cached decoder for `algo`, reset to `limit`.
pub(crate) fn with_decoder<R>(
    algo: Algo,
    limit: u64,
    f: impl FnOnce(&mut Bounded) -> Result<R, Error>,
) -> Result<R, Error> {
    let cached = DECODERS
        .try_with(|d| d.borrow_mut().as_mut().and_then(|s| s[slot(algo)].take()))
        .ok()
        .flatten()
        .filter(|d| d.algo == algo && !bypass());
    let mut dec = match cached {
        Some(mut d) => {
            d.reset(limit)?;
            d
        }
        None => Bounded::new(algo, limit)?,
    };
    let result = f(&mut dec);
    if dec.memory() <= KEEP_MAX && !bypass() {
        let _ = DECODERS.try_with(|d| {
            d.borrow_mut().get_or_insert_with(Default::default)[slot(algo)] = Some(dec)
        });
    }
    result
}
