//! Chunking NIFs: eager, streaming (resource) and file.

use crate::timeslice;
use crate::{atoms, errors};
use chunker_core::cdc::{self, ChunkerConfig, HashedChunk, HashingStream, Payload};
use chunker_core::digest::HashAlgo;
use chunker_core::threads::offload;
use rustler::{Binary, Encoder, Env, NewBinary, ResourceArc, Term};
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;

/// Feeds up to this size may run on a normal scheduler (well under 1 ms).
const NORMAL_FEED_MAX: usize = 64 * 1024;

/// Decodes `{min, avg, max, normalization}` and the hash atom.
pub(crate) fn decode_options<'a>(
    env: Env<'a>,
    sizes: Term<'a>,
    hash: Term<'a>,
) -> Result<(ChunkerConfig, Option<HashAlgo>), Term<'a>> {
    let invalid = |field, reason: &str| {
        (
            atoms::error(),
            (atoms::invalid_options(), (field, reason.to_string())),
        )
            .encode(env)
    };
    let (min, avg, max, level): (Term, Term, Term, Term) = sizes
        .decode()
        .map_err(|_| invalid(atoms::min_size(), "options must be a 4-tuple"))?;
    let int = |term: Term<'a>, field| {
        term.decode::<u64>()
            .map_err(|_| invalid(field, "must be a non-negative integer below 2^64"))
    };
    let config = ChunkerConfig::new(
        int(min, atoms::min_size())?,
        int(avg, atoms::avg_size())?,
        int(max, atoms::max_size())?,
        int(level, atoms::normalization())?,
    )
    .map_err(|e| errors::cdc_error(env, &e))?;
    let algo = if hash == atoms::sha256().encode(env) {
        Some(HashAlgo::Sha256)
    } else if hash == atoms::blake3().encode(env) {
        Some(HashAlgo::Blake3)
    } else if hash == atoms::none().encode(env) {
        None
    } else {
        return Err(invalid(atoms::hash(), "must be :sha256, :blake3 or :none"));
    };
    Ok((config, algo))
}

fn bytes<'a>(env: Env<'a>, data: &[u8]) -> Term<'a> {
    NewBinary::from_slice(env, data).into()
}

fn digest_term<'a>(env: Env<'a>, digest: Option<[u8; 32]>) -> Term<'a> {
    match digest {
        Some(d) => bytes(env, &d),
        None => atoms::nil().encode(env),
    }
}

/// `{offset, length, hash | nil, data | nil}`.
fn chunk_tuple<'a>(env: Env<'a>, c: &HashedChunk, fed: Option<&Binary<'a>>) -> Term<'a> {
    let data = match (&c.payload, fed) {
        (Payload::InFeed { start, end }, Some(bin)) => bin
            .make_subbinary(*start, end - start)
            .map(|b| b.to_term(env))
            .unwrap_or_else(|_| atoms::nil().encode(env)),
        (Payload::Owned(v), _) => bytes(env, v),
        _ => atoms::nil().encode(env),
    };
    (
        c.chunk.offset,
        c.chunk.length,
        digest_term(env, c.digest),
        data,
    )
        .encode(env)
}

fn chunk_eager<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    sizes: Term<'a>,
    hash: Term<'a>,
    payloads: bool,
) -> Term<'a> {
    let (config, algo) = match decode_options(env, sizes, hash) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let src = data.as_slice();
    let chunks: Vec<Term> = offload(src.len(), || cdc::chunk_digests(&config, src, algo))
        .into_iter()
        .map(|(chunk, digest)| {
            let payload = if payloads {
                let start = chunk.offset as usize;
                Payload::InFeed {
                    start,
                    end: start + chunk.length,
                }
            } else {
                Payload::None
            };
            let c = HashedChunk {
                chunk,
                digest,
                payload,
            };
            chunk_tuple(env, &c, Some(&data))
        })
        .collect();
    (atoms::ok(), chunks).encode(env)
}

/// Eager chunking of a small binary (the caller keeps these under 64 KiB).
#[rustler::nif]
fn chunk<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    sizes: Term<'a>,
    hash: Term<'a>,
    payloads: bool,
) -> Term<'a> {
    timeslice::charged(env, || chunk_eager(env, data, sizes, hash, payloads))
}

/// Eager chunking of a large binary.
#[rustler::nif(schedule = "DirtyCpu")]
fn chunk_dirty<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    sizes: Term<'a>,
    hash: Term<'a>,
    payloads: bool,
) -> Term<'a> {
    chunk_eager(env, data, sizes, hash, payloads)
}

/// A streaming chunker shared by reference; calls are serialized.
pub struct ChunkStream {
    inner: Mutex<HashingStream>,
    payloads: bool,
}

#[rustler::resource_impl]
impl rustler::Resource for ChunkStream {}

#[rustler::nif]
fn chunker_open<'a>(env: Env<'a>, sizes: Term<'a>, hash: Term<'a>, payloads: bool) -> Term<'a> {
    match decode_options(env, sizes, hash) {
        Ok((config, algo)) => {
            let stream = ChunkStream {
                inner: Mutex::new(HashingStream::new(config, algo, payloads)),
                payloads,
            };
            (atoms::ok(), ResourceArc::new(stream)).encode(env)
        }
        Err(e) => e,
    }
}

fn feed_locked<'a>(env: Env<'a>, stream: &mut HashingStream, data: &Binary<'a>) -> Term<'a> {
    let mut out = Vec::new();
    let src = data.as_slice();
    match offload(src.len(), || stream.feed(src, &mut out)) {
        Ok(()) => {
            let chunks: Vec<Term> = out
                .iter()
                .map(|c| chunk_tuple(env, c, Some(data)))
                .collect();
            (atoms::ok(), chunks).encode(env)
        }
        Err(e) => errors::cdc_error(env, &e),
    }
}

/// Feeds a small binary on a normal scheduler; answers `:dirty` when the
/// work could exceed 1 ms (big feed, payload assembly or a busy handle).
#[rustler::nif]
fn chunker_feed<'a>(env: Env<'a>, handle: ResourceArc<ChunkStream>, data: Binary<'a>) -> Term<'a> {
    if data.len() > NORMAL_FEED_MAX || handle.payloads {
        return atoms::dirty().encode(env);
    }
    match handle.inner.try_lock() {
        Ok(mut stream) => timeslice::charged(env, || feed_locked(env, &mut stream, &data)),
        Err(_) => atoms::dirty().encode(env),
    }
}

#[rustler::nif(schedule = "DirtyCpu")]
fn chunker_feed_dirty<'a>(
    env: Env<'a>,
    handle: ResourceArc<ChunkStream>,
    data: Binary<'a>,
) -> Term<'a> {
    let mut stream = handle.inner.lock().unwrap_or_else(|p| p.into_inner());
    feed_locked(env, &mut stream, &data)
}

#[rustler::nif(schedule = "DirtyCpu")]
fn chunker_finish(env: Env, handle: ResourceArc<ChunkStream>) -> Term {
    let mut stream = handle.inner.lock().unwrap_or_else(|p| p.into_inner());
    match stream.finish() {
        Ok(last) => {
            let chunks: Vec<Term> = last.iter().map(|c| chunk_tuple(env, c, None)).collect();
            (atoms::ok(), chunks).encode(env)
        }
        Err(e) => errors::cdc_error(env, &e),
    }
}

#[rustler::nif(schedule = "DirtyIo")]
fn chunk_file<'a>(env: Env<'a>, path: Binary<'a>, sizes: Term<'a>, hash: Term<'a>) -> Term<'a> {
    // Raw bytes: Elixir paths need not be UTF-8.
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path.as_slice()));
    let (config, algo) = match decode_options(env, sizes, hash) {
        Ok(v) => v,
        Err(e) => return e,
    };
    match cdc::chunk_file(path, config, algo) {
        Ok(chunks) => {
            let terms: Vec<Term> = chunks.iter().map(|c| chunk_tuple(env, c, None)).collect();
            (atoms::ok(), terms).encode(env)
        }
        Err(e) => errors::cdc_error(env, &e),
    }
}

/// Benchmark aid (`bench/chunk.exs`): the number of chunks of `data`, cut by
/// the same core call as `chunk_dirty` with `hash: :none` but without building
/// any term, so the NIF's overhead can be measured against the core's.
#[rustler::nif(schedule = "DirtyCpu")]
fn chunk_count_dirty<'a>(env: Env<'a>, data: Binary<'a>, sizes: Term<'a>) -> Term<'a> {
    match decode_options(env, sizes, atoms::none().encode(env)) {
        Ok((config, _)) => {
            (atoms::ok(), cdc::chunk_all(&config, data.as_slice()).len()).encode(env)
        }
        Err(e) => e,
    }
}
