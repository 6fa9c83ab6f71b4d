//! Hashing NIFs: one-shot, streaming (resource) and batch.

use crate::timeslice;
use chunker_core::digest::{self, HashAlgo, Hasher};
use chunker_core::threads::offload;
use rustler::{Atom, Binary, Encoder, Env, NewBinary, ResourceArc, Term};
use std::sync::Mutex;

rustler::atoms! {
    ok,
    error,
    dirty,
    finished,
    not_a_binary,
    sha256,
    blake3,
}

/// Updates up to this size may run on a normal scheduler: SHA-256 with
/// SHA-NI does 64 KiB in about 40 µs on the reference machine.
const NORMAL_UPDATE_MAX: usize = 64 * 1024;

fn algo(a: Atom) -> rustler::NifResult<HashAlgo> {
    if a == sha256() {
        Ok(HashAlgo::Sha256)
    } else if a == blake3() {
        Ok(HashAlgo::Blake3)
    } else {
        Err(rustler::Error::BadArg)
    }
}

fn digest_term<'a>(env: Env<'a>, d: &[u8; 32]) -> Term<'a> {
    NewBinary::from_slice(env, d).into()
}

/// One-shot digest on a normal scheduler (the caller keeps inputs small).
#[rustler::nif]
fn hash<'a>(env: Env<'a>, data: Binary<'a>, algo_name: Atom) -> rustler::NifResult<Term<'a>> {
    let algo = algo(algo_name)?;
    let digest = timeslice::charged(env, || algo.digest(data.as_slice()));
    Ok(digest_term(env, &digest))
}

/// One-shot digest of a big input; BLAKE3 uses every rayon thread.
#[rustler::nif(schedule = "DirtyCpu")]
fn hash_dirty<'a>(env: Env<'a>, data: Binary<'a>, algo_name: Atom) -> rustler::NifResult<Term<'a>> {
    let algo = algo(algo_name)?;
    let src = data.as_slice();
    Ok(digest_term(
        env,
        &offload(src.len(), || algo.digest_parallel(src)),
    ))
}

/// An incremental hasher shared by reference; `None` once finished.
pub struct HashStream(Mutex<Option<Hasher>>);

#[rustler::resource_impl]
impl rustler::Resource for HashStream {}

#[rustler::nif]
fn hash_open(algo_name: Atom) -> rustler::NifResult<ResourceArc<HashStream>> {
    Ok(ResourceArc::new(HashStream(Mutex::new(Some(Hasher::new(
        algo(algo_name)?,
    ))))))
}

fn update_locked(h: &mut Option<Hasher>, data: &[u8]) -> Atom {
    match h {
        Some(h) => {
            h.update_parallel(data);
            ok()
        }
        None => finished(),
    }
}

/// Small update on a normal scheduler; `:dirty` when it is big or the handle is busy.
#[rustler::nif]
fn hash_update(env: Env, handle: ResourceArc<HashStream>, data: Binary) -> Atom {
    if data.len() > NORMAL_UPDATE_MAX {
        return dirty();
    }
    match handle.0.try_lock() {
        Ok(mut h) => timeslice::charged(env, || update_locked(&mut h, data.as_slice())),
        Err(_) => dirty(),
    }
}

#[rustler::nif(schedule = "DirtyCpu")]
fn hash_update_dirty(handle: ResourceArc<HashStream>, data: Binary) -> Atom {
    let mut guard = handle.0.lock().unwrap_or_else(|p| p.into_inner());
    let h = &mut *guard;
    let src = data.as_slice();
    offload(src.len(), || update_locked(h, src))
}

fn finish_locked<'a>(env: Env<'a>, h: &mut Option<Hasher>) -> Term<'a> {
    match h.take() {
        Some(mut hasher) => (ok(), digest_term(env, &hasher.finalize_reset())).encode(env),
        None => (error(), finished()).encode(env),
    }
}

/// `{:ok, digest}`, or `{:error, :finished}` the second time; `:dirty` when
/// the handle is busy.
#[rustler::nif]
fn hash_finish(env: Env, handle: ResourceArc<HashStream>) -> Term {
    match handle.0.try_lock() {
        Ok(mut h) => finish_locked(env, &mut h),
        Err(_) => dirty().encode(env),
    }
}

#[rustler::nif(schedule = "DirtyCpu")]
fn hash_finish_dirty(env: Env, handle: ResourceArc<HashStream>) -> Term {
    let mut h = handle.0.lock().unwrap_or_else(|p| p.into_inner());
    finish_locked(env, &mut h)
}

fn batch<'a>(env: Env<'a>, items: Vec<Term<'a>>, algo_name: Atom) -> rustler::NifResult<Term<'a>> {
    let algo = algo(algo_name)?;
    let bins: Vec<Option<Binary>> = items.iter().map(|t| t.decode().ok()).collect();
    let slices: Vec<&[u8]> = bins
        .iter()
        .map(|b| b.as_ref().map_or(&[][..], |b| b.as_slice()))
        .collect();
    let digests = digest::digest_batch(algo, &slices);
    let out: Vec<Term> = bins
        .iter()
        .zip(&digests)
        .map(|(b, d)| match b {
            Some(_) => (ok(), digest_term(env, d)).encode(env),
            None => (error(), not_a_binary()).encode(env),
        })
        .collect();
    Ok(out.encode(env))
}

/// Batch on a normal scheduler; `:dirty` when the total is too big for it.
#[rustler::nif]
fn hash_batch<'a>(
    env: Env<'a>,
    items: Vec<Term<'a>>,
    algo_name: Atom,
) -> rustler::NifResult<Term<'a>> {
    let total: usize = items
        .iter()
        .map(|t| t.decode::<Binary>().map_or(0, |b| b.len()))
        .sum();
    if total > NORMAL_UPDATE_MAX || items.len() > 1_000 {
        return Ok(dirty().encode(env));
    }
    batch(env, items, algo_name)
}

/// Batch of big inputs, hashed in parallel.
#[rustler::nif(schedule = "DirtyCpu")]
fn hash_batch_dirty<'a>(
    env: Env<'a>,
    items: Vec<Term<'a>>,
    algo_name: Atom,
) -> rustler::NifResult<Term<'a>> {
    batch(env, items, algo_name)
}
