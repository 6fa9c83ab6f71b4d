//! Compression NIFs over `chunker_core::compress`: one-shot, auto, batch,
//! streaming resources and zstd dictionaries. Every call that can take
//! more than a few microseconds runs on a DirtyCpu scheduler.

use crate::atoms::{error, finished, invalid_options, ok};
use chunker_core::compress::{self as core, auto, batch, dict::Dictionary, stream, Algo, Error};
use chunker_core::threads::offload;
use rustler::{Atom, Binary, Encoder, Env, Error as NifError, NewBinary, ResourceArc, Term};
use std::cell::RefCell;
use std::sync::Mutex;

rustler::atoms! {
    zstd,
    lz4,
    xz,
    bzip2,
    none,
    auto_ = "auto",
    size_exceeded,
    corrupt,
    unknown_format,
    dictionary,
    library,
    level,
    not_a_handle,
}

/// Decompression work is estimated at this many times the input size
/// (for [`offload`]).
const EXPANSION: usize = 8;

/// Output buffers above this capacity are freed after a call, not kept.
const KEEP_OUT_MAX: usize = 64 << 20;

thread_local! {
    static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's reusable output buffer.
fn with_out<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut out = OUT.with(|o| std::mem::take(&mut *o.borrow_mut()));
    out.clear();
    let r = f(&mut out);
    if out.capacity() <= KEEP_OUT_MAX {
        OUT.with(|o| *o.borrow_mut() = out);
    }
    r
}

fn algo_atom(algo: Algo) -> Atom {
    match algo {
        Algo::Zstd => zstd(),
        Algo::Lz4 => lz4(),
        Algo::Xz => xz(),
        Algo::Bzip2 => bzip2(),
        Algo::None => none(),
    }
}

/// Decodes an algorithm atom (the Elixir side validated it).
fn decode_algo(term: Term) -> Result<Algo, NifError> {
    let name = term.atom_to_string().map_err(|_| NifError::BadArg)?;
    Algo::from_name(&name).ok_or(NifError::BadArg)
}

/// `nil` for `:auto`, else the algorithm.
fn decode_format(term: Term) -> Result<Option<Algo>, NifError> {
    if term.decode::<Atom>().is_ok_and(|a| a == auto_()) {
        Ok(None)
    } else {
        decode_algo(term).map(Some)
    }
}

fn reason<'a>(env: Env<'a>, e: &Error) -> Term<'a> {
    match e {
        Error::InvalidLevel { .. } => (invalid_options(), (level(), e.to_string())).encode(env),
        Error::SizeExceeded(limit) => (size_exceeded(), *limit).encode(env),
        Error::Corrupt(a) => (corrupt(), algo_atom(*a)).encode(env),
        Error::UnknownFormat => unknown_format().encode(env),
        Error::Finished => finished().encode(env),
        Error::Dictionary(why) => (dictionary(), why.as_str()).encode(env),
        Error::Library(a, why) => (library(), (algo_atom(*a), why.as_str())).encode(env),
    }
}

fn bytes<'a>(env: Env<'a>, data: &[u8]) -> Term<'a> {
    NewBinary::from_slice(env, data).into()
}

/// `{:ok, binary}` or `{:error, reason}`.
fn result<'a>(env: Env<'a>, r: Result<&[u8], Error>) -> Term<'a> {
    match r {
        Ok(data) => (ok(), bytes(env, data)).encode(env),
        Err(e) => (error(), reason(env, &e)).encode(env),
    }
}

/// Outputs at least this big are handed to the VM without a copy.
const ZERO_COPY_MIN: usize = 1 << 20;

/// A big output buffer owned by the binary made from it.
pub struct OutputResource(Vec<u8>);

#[rustler::resource_impl]
impl rustler::Resource for OutputResource {}

/// A binary of `out`'s bytes: small ones copied (the buffer stays for
/// reuse), big ones moved into a resource binary (no copy).
fn out_binary<'a>(env: Env<'a>, out: &mut Vec<u8>) -> Term<'a> {
    if out.len() < ZERO_COPY_MIN {
        return bytes(env, out);
    }
    let mut owned = std::mem::take(out);
    if owned.capacity() - owned.len() > owned.len() / 4 {
        owned.shrink_to_fit();
    }
    ResourceArc::new(OutputResource(owned))
        .make_binary(env, |o| &o.0[..])
        .to_term(env)
}

/// `{:ok, binary of out}` or `{:error, reason}`.
fn out_result<'a, T>(env: Env<'a>, r: Result<T, Error>, out: &mut Vec<u8>) -> Term<'a> {
    match r {
        Ok(_) => (ok(), out_binary(env, out)).encode(env),
        Err(e) => (error(), reason(env, &e)).encode(env),
    }
}

#[rustler::nif(schedule = "DirtyCpu")]
fn compress<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    algo: Term<'a>,
    lvl: i32,
) -> Result<Term<'a>, NifError> {
    let algo = decode_algo(algo)?;
    Ok(with_out(|out| {
        let src = data.as_slice();
        let r = offload(src.len(), || core::compress_into(src, algo, lvl, out));
        out_result(env, r, out)
    }))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn decompress<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    format: Term<'a>,
    limit: u64,
) -> Result<Term<'a>, NifError> {
    let format = decode_format(format)?;
    Ok(with_out(|out| {
        let src = data.as_slice();
        let r = offload(src.len().saturating_mul(EXPANSION), || match format {
            Some(algo) => core::decompress_into(src, algo, limit, out),
            None => core::decompress_auto_into(src, limit, out).map(|(_, n)| n),
        });
        out_result(env, r, out)
    }))
}

/// The format from the magic bytes, or `nil`. Reads at most 6 bytes.
#[rustler::nif]
fn compress_detect(data: Binary) -> Option<Atom> {
    core::detect(data.as_slice()).map(algo_atom)
}

/// `{:ok, {algo, binary}}`: the input itself (no copy) when `:none` is chosen.
#[rustler::nif(schedule = "DirtyCpu")]
fn compress_auto<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    algo: Term<'a>,
    lvl: i32,
    min_savings: f64,
) -> Result<Term<'a>, NifError> {
    let algo = decode_algo(algo)?;
    Ok(with_out(|out| {
        let src = data.as_slice();
        let chosen = offload(src.len(), || {
            auto::compress_auto_into(src, algo, lvl, min_savings, out)
        });
        match chosen {
            Ok(Algo::None) => (ok(), (none(), data.to_term(env))).encode(env),
            Ok(chosen) => (ok(), (algo_atom(chosen), out_binary(env, out))).encode(env),
            Err(e) => (error(), reason(env, &e)).encode(env),
        }
    }))
}

fn batch_terms<'a>(env: Env<'a>, results: Vec<Result<Vec<u8>, Error>>) -> Term<'a> {
    let terms: Vec<Term> = results
        .into_iter()
        .map(|r| match r {
            Ok(mut v) => (ok(), out_binary(env, &mut v)).encode(env),
            Err(e) => (error(), reason(env, &e)).encode(env),
        })
        .collect();
    terms.encode(env)
}

#[rustler::nif(schedule = "DirtyCpu")]
fn compress_batch<'a>(
    env: Env<'a>,
    items: Vec<Binary<'a>>,
    algo: Term<'a>,
    lvl: i32,
) -> Result<Term<'a>, NifError> {
    let algo = decode_algo(algo)?;
    let slices: Vec<&[u8]> = items.iter().map(|b| b.as_slice()).collect();
    Ok(batch_terms(env, batch::compress_batch(&slices, algo, lvl)))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn decompress_batch<'a>(
    env: Env<'a>,
    items: Vec<Binary<'a>>,
    algo: Term<'a>,
    limit: u64,
) -> Result<Term<'a>, NifError> {
    let algo = decode_algo(algo)?;
    let slices: Vec<&[u8]> = items.iter().map(|b| b.as_slice()).collect();
    Ok(batch_terms(
        env,
        batch::decompress_batch(&slices, algo, limit),
    ))
}

/// A streaming encoder resource; calls are serialized.
pub struct EncoderResource(Mutex<stream::Encoder>);

#[rustler::resource_impl]
impl rustler::Resource for EncoderResource {}

/// A streaming decoder resource; calls are serialized.
pub struct DecoderResource(Mutex<stream::Decoder>);

#[rustler::resource_impl]
impl rustler::Resource for DecoderResource {}

#[rustler::nif]
fn compress_encoder_open<'a>(env: Env<'a>, algo: Term<'a>, lvl: i32) -> Result<Term<'a>, NifError> {
    let algo = decode_algo(algo)?;
    Ok(match stream::Encoder::new(algo, lvl) {
        Ok(enc) => (ok(), ResourceArc::new(EncoderResource(Mutex::new(enc)))).encode(env),
        Err(e) => (error(), reason(env, &e)).encode(env),
    })
}

#[rustler::nif]
fn compress_decoder_open<'a>(
    env: Env<'a>,
    format: Term<'a>,
    limit: u64,
) -> Result<Term<'a>, NifError> {
    let format = decode_format(format)?;
    Ok(match stream::Decoder::new(format, limit) {
        Ok(dec) => (ok(), ResourceArc::new(DecoderResource(Mutex::new(dec)))).encode(env),
        Err(e) => (error(), reason(env, &e)).encode(env),
    })
}

/// Feeds `data` to an encoder or decoder handle (`finish` when `data` is
/// `None`); returns the output ready so far.
fn stream_call<'a>(
    env: Env<'a>,
    handle: Term<'a>,
    data: Option<Binary<'a>>,
) -> Result<Term<'a>, NifError> {
    let input = data.as_ref().map(|b| b.as_slice());
    with_out(|out| {
        let r = if let Ok(enc) = handle.decode::<ResourceArc<EncoderResource>>() {
            let mut guard = enc.0.lock().unwrap_or_else(|p| p.into_inner());
            let enc = &mut *guard;
            match input {
                Some(src) => offload(src.len(), || enc.update(src, out)),
                None => enc.finish(out),
            }
        } else if let Ok(dec) = handle.decode::<ResourceArc<DecoderResource>>() {
            let mut guard = dec.0.lock().unwrap_or_else(|p| p.into_inner());
            let dec = &mut *guard;
            match input {
                Some(src) => offload(src.len().saturating_mul(EXPANSION), || dec.update(src, out)),
                None => dec.finish(out),
            }
        } else {
            return Ok(not_a_handle().encode(env));
        };
        Ok(out_result(env, r, out))
    })
}

#[rustler::nif(schedule = "DirtyCpu")]
fn compress_stream_update<'a>(
    env: Env<'a>,
    handle: Term<'a>,
    data: Binary<'a>,
) -> Result<Term<'a>, NifError> {
    stream_call(env, handle, Some(data))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn compress_stream_finish<'a>(env: Env<'a>, handle: Term<'a>) -> Result<Term<'a>, NifError> {
    stream_call(env, handle, None)
}

/// A prepared zstd dictionary, shared by reference between processes.
pub struct DictionaryResource(Dictionary);

#[rustler::resource_impl]
impl rustler::Resource for DictionaryResource {}

#[rustler::nif(schedule = "DirtyCpu")]
fn zstd_dict_train<'a>(env: Env<'a>, samples: Vec<Binary<'a>>, max_size: usize) -> Term<'a> {
    let slices: Vec<&[u8]> = samples.iter().map(|b| b.as_slice()).collect();
    let r = core::dict::train(&slices, max_size);
    result(env, r.as_deref().map_err(Clone::clone))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn zstd_dict_load<'a>(env: Env<'a>, raw: Binary<'a>, lvl: i32) -> Term<'a> {
    match Dictionary::new(raw.as_slice(), lvl) {
        Ok(d) => (ok(), ResourceArc::new(DictionaryResource(d))).encode(env),
        Err(e) => (error(), reason(env, &e)).encode(env),
    }
}

/// `{id, level, size}` of a dictionary.
#[rustler::nif]
fn zstd_dict_info(d: ResourceArc<DictionaryResource>) -> (u32, i32, usize) {
    (d.0.id(), d.0.level(), d.0.size())
}

#[rustler::nif(schedule = "DirtyCpu")]
fn zstd_dict_compress<'a>(
    env: Env<'a>,
    d: ResourceArc<DictionaryResource>,
    data: Binary<'a>,
) -> Term<'a> {
    with_out(|out| {
        let src = data.as_slice();
        let r = offload(src.len(), || d.0.compress_into(src, out));
        out_result(env, r, out)
    })
}

#[rustler::nif(schedule = "DirtyCpu")]
fn zstd_dict_decompress<'a>(
    env: Env<'a>,
    d: ResourceArc<DictionaryResource>,
    data: Binary<'a>,
    limit: u64,
) -> Term<'a> {
    with_out(|out| {
        let src = data.as_slice();
        let r = offload(src.len().saturating_mul(EXPANSION), || {
            d.0.decompress_into(src, limit, out)
        });
        out_result(env, r, out)
    })
}

/// Bench aid: the core's `compress_into` alone on `data` (no term
/// conversion, no copy), fastest of `runs` calls in seconds, so the NIF's
/// overhead can be measured in the same process (bench/compress.exs).
#[rustler::nif(schedule = "DirtyCpu")]
fn compress_core_seconds(data: Binary, algo: Term, lvl: i32, runs: u32) -> Result<f64, NifError> {
    let algo = decode_algo(algo)?;
    let mut out = Vec::new();
    let mut best = f64::INFINITY;
    for _ in 0..runs.max(1) {
        let t = std::time::Instant::now();
        core::compress_into(data.as_slice(), algo, lvl, &mut out).map_err(|_| NifError::BadArg)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}
