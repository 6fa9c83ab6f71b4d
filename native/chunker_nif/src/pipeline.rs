//! Ingest pipeline, batch chunking, digest cache, metrics and pool NIFs.
//!
//! The pipeline's worker threads send results to the process that opened
//! it: `{:chunker_pipeline, tag, :chunks, [{offset, length, hash, known,
//! compressed, data}], bytes}`, `{:chunker_pipeline, tag, :ask, [{seq,
//! hash}]}` and `{:chunker_pipeline, tag, :error, reason}`; a feeder thread
//! (binaries and files) ends with `{:chunker_pipeline, tag, :total, n}`.
//! Every NIF here returns promptly: feeds are bounded by the caller's slice
//! size.

use crate::errors;
use chunker_core::cache::HashCache;
use chunker_core::cdc::Error;
use chunker_core::compress;
use chunker_core::digest::HashAlgo;
use chunker_core::metrics;
use chunker_core::pipeline::feeder::{self, Input, Outcome};
use chunker_core::pipeline::file::{FileError, FileSource};
use chunker_core::pipeline::{
    self, batch, pool, Compressor, Control, Known, Output, Pipeline, Room, SharedInput, Sink,
};
use rustler::env::OwnedEnv;
use rustler::{Binary, Encoder, Env, LocalPid, NewBinary, ResourceArc, Term};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

mod atoms {
    rustler::atoms! {
        ok,
        error,
        nil,
        full,
        chunker_pipeline,
        chunks,
        ask,
        invalid_options,
        finished,
        min_size,
        hash,
        compress,
        level,
        known,
        chunk,
        sha256,
        blake3,
        none,
        set,
        file,
        file_changed,
        total,
        thread,
    }
}

fn invalid<'a>(env: Env<'a>, field: rustler::Atom, reason: &str) -> Term<'a> {
    (
        atoms::error(),
        (atoms::invalid_options(), (field, reason.to_string())),
    )
        .encode(env)
}

/// The compression stage for `spec`: `:none` or `{algo_name, level | nil}`
/// (`chunker_core::compress`).
fn decode_compressor<'a>(
    env: Env<'a>,
    spec: Term<'a>,
) -> Result<Option<Arc<dyn Compressor>>, Term<'a>> {
    if spec == atoms::none().encode(env) {
        return Ok(None);
    }
    let (name, level): (String, Option<i32>) = spec
        .decode()
        .map_err(|_| invalid(env, atoms::compress(), "must be :none or {name, level}"))?;
    let algo = compress::Algo::from_name(&name)
        .ok_or_else(|| invalid(env, atoms::compress(), "unknown algorithm"))?;
    let level = algo
        .check_level(level.unwrap_or_else(|| algo.default_level()))
        .map_err(|e| invalid(env, atoms::level(), &e.to_string()))?;
    Ok(Some(Arc::new(move |data: &[u8], out: &mut Vec<u8>| {
        compress::compress_into(data, algo, level, out)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })))
}

/// `:none`, `:ask` or `{:set, [digest]}`.
fn decode_known<'a>(env: Env<'a>, spec: Term<'a>) -> Result<Known, Term<'a>> {
    if spec == atoms::none().encode(env) {
        return Ok(Known::Nothing);
    }
    if spec == atoms::ask().encode(env) {
        return Ok(Known::Ask);
    }
    let bad = || invalid(env, atoms::known(), "digests must be 32-byte binaries");
    let (tag, list): (rustler::Atom, Vec<Binary>) = spec.decode().map_err(|_| bad())?;
    if tag != atoms::set() {
        return Err(bad());
    }
    let mut set = HashSet::with_capacity(list.len());
    for b in list {
        set.insert(<[u8; 32]>::try_from(b.as_slice()).map_err(|_| bad())?);
    }
    Ok(Known::Set(set))
}

fn binary<'a>(env: Env<'a>, data: &[u8]) -> Term<'a> {
    let mut b = NewBinary::new(env, data.len());
    b.as_mut_slice().copy_from_slice(data);
    Term::from(b)
}

fn opt_binary<'a>(env: Env<'a>, data: Option<&[u8]>) -> Term<'a> {
    match data {
        Some(d) => binary(env, d),
        None => atoms::nil().encode(env),
    }
}

fn output_tuple<'a>(env: Env<'a>, o: &Output) -> Term<'a> {
    (
        o.chunk.offset,
        o.chunk.length,
        opt_binary(env, o.digest.as_ref().map(|d| &d[..])),
        o.known,
        opt_binary(env, o.compressed.as_deref()),
        opt_binary(env, o.data.as_deref()),
    )
        .encode(env)
}

/// Sends results to the opening process from the worker threads.
struct ProcessSink {
    pid: LocalPid,
    tag: u64,
    env: Mutex<OwnedEnv>,
}

impl ProcessSink {
    fn send(&self, build: impl for<'a> FnOnce(Env<'a>) -> Term<'a>) -> bool {
        let mut env = self.env.lock().unwrap_or_else(|p| p.into_inner());
        env.send_and_clear(&self.pid, build).is_ok()
    }
}

impl Sink for ProcessSink {
    fn deliver(&self, batch: Vec<Output>) -> bool {
        let bytes: u64 = batch.iter().map(|o| o.chunk.length as u64).sum();
        self.send(|env| {
            let list: Vec<Term> = batch.iter().map(|o| output_tuple(env, o)).collect();
            (
                atoms::chunker_pipeline(),
                self.tag,
                atoms::chunks(),
                list,
                bytes,
            )
                .encode(env)
        })
    }

    fn ask(&self, batch: Vec<(u64, [u8; 32])>) -> bool {
        self.send(|env| {
            let list: Vec<Term> = batch
                .iter()
                .map(|(seq, d)| (*seq, binary(env, d)).encode(env))
                .collect();
            (atoms::chunker_pipeline(), self.tag, atoms::ask(), list).encode(env)
        })
    }

    fn fail(&self, reason: String) {
        self.send(|env| {
            (
                atoms::chunker_pipeline(),
                self.tag,
                atoms::error(),
                (atoms::compress(), reason),
            )
                .encode(env)
        });
    }
}

/// A binary the worker threads read in place: a copy of the term in an
/// environment of its own keeps the bytes alive (a refc binary is shared,
/// not copied).
struct HeldBinary {
    _env: OwnedEnv,
    data: *const u8,
    len: usize,
}

// SAFETY: the environment is only touched again when dropped (freeing a
// process-independent environment is allowed from any thread), and the
// bytes it keeps alive are immutable: `enif_inspect_binary` makes a
// writable binary read-only, refc binary data never moves, and terms of a
// process-independent environment are not garbage collected.
unsafe impl Send for HeldBinary {}
// SAFETY: shared access only reads the immutable bytes (see above).
unsafe impl Sync for HeldBinary {}

impl HeldBinary {
    fn new(data: Binary) -> Self {
        let env = OwnedEnv::new();
        let saved = env.save(data);
        let (ptr, len) = env.run(|env| {
            let held: Binary = saved
                .load(env)
                .decode()
                .expect("a copied binary is a binary");
            (held.as_slice().as_ptr(), held.len())
        });
        HeldBinary {
            _env: env,
            data: ptr,
            len,
        }
    }
}

impl SharedInput for HeldBinary {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `data` points to `len` immutable bytes kept alive by
        // `_env` for as long as `self` lives (see the Send impl).
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

struct Feeder {
    /// Fed by the caller (`pipeline_feed`) until a feeder thread takes it.
    pipeline: Option<Pipeline>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// An ingest: the feeding side (serialized) and its control handle. When
/// garbage collected unfinished (the caller died or dropped the stream),
/// the work is cancelled (a feeder thread stops within one slice).
pub struct IngestResource {
    feeder: Mutex<Feeder>,
    control: Control,
}

impl Drop for IngestResource {
    fn drop(&mut self) {
        // Dropping a caller-fed pipeline cancels too; this also reaches a
        // feeder thread's (and never blocks a scheduler).
        self.control.cancel_nonblocking();
    }
}

#[rustler::resource_impl]
impl rustler::Resource for IngestResource {}

/// A digest cache shared by reference.
pub struct CacheResource(Arc<HashCache>);

#[rustler::resource_impl]
impl rustler::Resource for CacheResource {}

fn room<'a>(env: Env<'a>, room: Room) -> Term<'a> {
    match room {
        Room::Free => atoms::ok().encode(env),
        Room::Full => atoms::full().encode(env),
    }
}

/// Opens an ingest sending to the calling process, tagged `tag`.
#[allow(clippy::too_many_arguments)]
#[rustler::nif]
fn pipeline_open<'a>(
    env: Env<'a>,
    tag: u64,
    sizes: Term<'a>,
    hash: Term<'a>,
    compress: Term<'a>,
    known: Term<'a>,
    payloads: bool,
    max_in_flight_bytes: u64,
    cache: Term<'a>,
) -> Term<'a> {
    let build = || -> Result<pipeline::Options, Term<'a>> {
        let (config, algo) = crate::chunk::decode_options(env, sizes, hash)?;
        let mut options = pipeline::Options::new(config);
        options.algo = algo;
        options.compressor = decode_compressor(env, compress)?;
        options.known = decode_known(env, known)?;
        options.payloads = payloads;
        options.max_in_flight_bytes = max_in_flight_bytes;
        options.cache = match cache.decode::<ResourceArc<CacheResource>>() {
            Ok(c) => Some(Arc::clone(&c.0)),
            Err(_) => None,
        };
        Ok(options)
    };
    let options = match build() {
        Ok(o) => o,
        Err(e) => return e,
    };
    let sink = ProcessSink {
        pid: env.pid(),
        tag,
        env: Mutex::new(OwnedEnv::new()),
    };
    let p = Pipeline::new(options, sink);
    let control = p.control().clone();
    let resource = IngestResource {
        feeder: Mutex::new(Feeder {
            pipeline: Some(p),
            thread: None,
        }),
        control,
    };
    (atoms::ok(), ResourceArc::new(resource)).encode(env)
}

/// Validates chunking and compression options: `:ok` or `{:error, reason}`.
#[rustler::nif]
fn pipeline_check<'a>(
    env: Env<'a>,
    sizes: Term<'a>,
    hash: Term<'a>,
    compress: Term<'a>,
) -> Term<'a> {
    let check = || -> Result<(), Term<'a>> {
        crate::chunk::decode_options(env, sizes, hash)?;
        decode_compressor(env, compress)?;
        Ok(())
    };
    match check() {
        Ok(()) => atoms::ok().encode(env),
        Err(e) => e,
    }
}

fn feed_error<'a>(env: Env<'a>, e: &Error) -> Term<'a> {
    errors::cdc_error(env, e)
}

/// Cuts the next piece and queues its chunks: `:ok`, `:full` (wait for a
/// delivery before feeding more) or `{:error, reason}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn pipeline_feed<'a>(
    env: Env<'a>,
    ingest: ResourceArc<IngestResource>,
    data: Binary<'a>,
) -> Term<'a> {
    let mut feeder = ingest.feeder.lock().unwrap_or_else(|p| p.into_inner());
    let Some(pipeline) = feeder.pipeline.as_mut() else {
        return feed_error(env, &Error::Finished);
    };
    match pipeline.feed(data.as_slice()) {
        Ok(r) => room(env, r),
        Err(e) => feed_error(env, &e),
    }
}

/// Feeds `data` (read in place) on a feeder thread in slices of `slice`
/// bytes: `:ok`. The thread sends `{:chunker_pipeline, tag, :total, n}`
/// once everything is fed (or `{..., :error, reason}`).
#[rustler::nif]
fn pipeline_start_binary<'a>(
    env: Env<'a>,
    ingest: ResourceArc<IngestResource>,
    tag: u64,
    data: Binary<'a>,
    slice: usize,
) -> Term<'a> {
    let input = Input::Shared(Arc::new(HeldBinary::new(data)));
    start(env, &ingest, tag, input, slice)
}

/// Like `pipeline_start_binary` for the file at `path` (opened here: `{:error,
/// {:file, posix}}` if it cannot be).
#[rustler::nif(schedule = "DirtyIo")]
fn pipeline_start_file<'a>(
    env: Env<'a>,
    ingest: ResourceArc<IngestResource>,
    tag: u64,
    path: Binary<'a>,
    slice: usize,
) -> Term<'a> {
    use std::os::unix::ffi::OsStrExt;
    match FileSource::open(std::ffi::OsStr::from_bytes(path.as_slice())) {
        Ok(file) => start(env, &ingest, tag, Input::File(file), slice),
        Err(e) => file_error(env, &e),
    }
}

fn start<'a>(
    env: Env<'a>,
    ingest: &IngestResource,
    tag: u64,
    input: Input,
    slice: usize,
) -> Term<'a> {
    let mut feeder = ingest.feeder.lock().unwrap_or_else(|p| p.into_inner());
    let Some(pipeline) = feeder.pipeline.take() else {
        return feed_error(env, &Error::Finished);
    };
    let pid = env.pid();
    let done = move |outcome: Outcome| {
        let reply = |build: &dyn Fn(Env) -> Term| {
            let _ = OwnedEnv::new().send_and_clear(&pid, build);
        };
        match outcome {
            Outcome::Total(n) => {
                reply(&|env| (atoms::chunker_pipeline(), tag, atoms::total(), n).encode(env))
            }
            Outcome::Failed(e) => reply(&|env| {
                let (_, reason): (rustler::Atom, Term) =
                    file_error(env, &e).decode().expect("an error tuple");
                (atoms::chunker_pipeline(), tag, atoms::error(), reason).encode(env)
            }),
            Outcome::Cancelled => {}
        }
    };
    match feeder::spawn(pipeline, input, slice, done) {
        Ok(handle) => {
            feeder.thread = Some(handle);
            atoms::ok().encode(env)
        }
        Err(e) => (atoms::error(), (atoms::thread(), e.to_string())).encode(env),
    }
}

fn file_error<'a>(env: Env<'a>, e: &FileError) -> Term<'a> {
    match e {
        FileError::Io(e) => {
            (atoms::error(), (atoms::file(), errors::posix_atom(env, e))).encode(env)
        }
        FileError::Changed { expected, actual } => (
            atoms::error(),
            (atoms::file_changed(), (*expected, *actual)),
        )
            .encode(env),
        FileError::Pipeline(e) => feed_error(env, e),
    }
}

/// Ends the input: `{:ok, total_chunks}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn pipeline_finish(env: Env, ingest: ResourceArc<IngestResource>) -> Term {
    let mut feeder = ingest.feeder.lock().unwrap_or_else(|p| p.into_inner());
    let Some(pipeline) = feeder.pipeline.as_mut() else {
        return feed_error(env, &Error::Finished);
    };
    match pipeline.finish() {
        Ok(total) => (atoms::ok(), total).encode(env),
        Err(e) => feed_error(env, &e),
    }
}

/// The consumer is done with `bytes`: `:ok` or `:full`.
#[rustler::nif]
fn pipeline_ack(env: Env, ingest: ResourceArc<IngestResource>, bytes: u64) -> Term {
    room(env, ingest.control.ack(bytes))
}

/// Answers an `:ask`: `[{seq, known?}]`.
#[rustler::nif]
fn pipeline_decide(
    ingest: ResourceArc<IngestResource>,
    answers: Vec<(u64, bool)>,
) -> rustler::Atom {
    ingest.control.decide(&answers);
    atoms::ok()
}

/// Stops the work and closes the source; no message is sent after this
/// returns. Dirty: it waits for a delivery in progress.
#[rustler::nif(schedule = "DirtyCpu")]
fn pipeline_cancel(ingest: ResourceArc<IngestResource>) -> rustler::Atom {
    ingest.control.cancel();
    // A feeder thread stops within one slice: wait for it, so its file is
    // closed (and its binary let go) now.
    let thread = {
        let mut feeder = ingest.feeder.lock().unwrap_or_else(|p| p.into_inner());
        feeder.thread.take()
    };
    if let Some(thread) = thread {
        let _ = thread.join();
    }
    atoms::ok()
}

/// The same stages on this thread (the baseline): `{:ok, [{offset, length,
/// hash, false, compressed, nil}]}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn pipeline_sequential<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    sizes: Term<'a>,
    hash: Term<'a>,
    compress: Term<'a>,
) -> Term<'a> {
    let run = || -> Result<Term<'a>, Term<'a>> {
        let (config, algo) = crate::chunk::decode_options(env, sizes, hash)?;
        let compressor = decode_compressor(env, compress)?;
        let outputs = pipeline::sequential(data.as_slice(), &config, algo, compressor.as_deref())
            .map_err(|r| (atoms::error(), (atoms::compress(), r)).encode(env))?;
        let list: Vec<Term> = outputs.iter().map(|o| output_tuple(env, o)).collect();
        Ok((atoms::ok(), list).encode(env))
    };
    run().unwrap_or_else(|e| e)
}

fn chunk_tuple<'a>(env: Env<'a>, offset: u64, length: usize, digest: Option<[u8; 32]>) -> Term<'a> {
    (
        offset,
        length,
        opt_binary(env, digest.as_ref().map(|d| &d[..])),
        atoms::nil(),
    )
        .encode(env)
}

/// Chunks every binary: `{:ok, [[chunk_tuple]]}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn chunk_batch<'a>(
    env: Env<'a>,
    items: Vec<Binary<'a>>,
    sizes: Term<'a>,
    hash: Term<'a>,
    parallel: bool,
) -> Term<'a> {
    let (config, algo) = match crate::chunk::decode_options(env, sizes, hash) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let slices: Vec<&[u8]> = items.iter().map(|b| b.as_slice()).collect();
    let results = batch::chunk_batch(&slices, &config, algo, parallel);
    let lists: Vec<Term> = results
        .iter()
        .map(|chunks| {
            chunks
                .iter()
                .map(|(c, d)| chunk_tuple(env, c.offset, c.length, *d))
                .collect::<Vec<Term>>()
                .encode(env)
        })
        .collect();
    (atoms::ok(), lists).encode(env)
}

/// Chunks every file: `{:ok, [{:ok, [chunk_tuple]} | {:error, reason}]}`.
#[rustler::nif(schedule = "DirtyIo")]
fn chunk_files_batch<'a>(
    env: Env<'a>,
    paths: Vec<String>,
    sizes: Term<'a>,
    hash: Term<'a>,
    parallel: bool,
) -> Term<'a> {
    let (config, algo) = match crate::chunk::decode_options(env, sizes, hash) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let results = batch::chunk_files(&paths, &config, algo, parallel);
    let items: Vec<Term> = results
        .iter()
        .map(|r| match r {
            Ok(chunks) => {
                let list: Vec<Term> = chunks
                    .iter()
                    .map(|c| chunk_tuple(env, c.chunk.offset, c.chunk.length, c.digest))
                    .collect();
                (atoms::ok(), list).encode(env)
            }
            Err(e) => errors::cdc_error(env, e),
        })
        .collect();
    (atoms::ok(), items).encode(env)
}

#[rustler::nif]
fn cache_new(max_entries: usize, max_memory_bytes: usize) -> ResourceArc<CacheResource> {
    ResourceArc::new(CacheResource(Arc::new(HashCache::new(
        max_entries,
        max_memory_bytes,
    ))))
}

/// `{hits, misses, evictions, entries, memory_bytes}`.
#[rustler::nif]
fn cache_stats(cache: ResourceArc<CacheResource>) -> (u64, u64, u64, usize, usize) {
    let s = cache.0.stats();
    (s.hits, s.misses, s.evictions, s.entries, s.memory_bytes)
}

/// Digest of `data` through the cache (small binaries; larger ones dirty).
#[rustler::nif(schedule = "DirtyCpu")]
fn cache_digest<'a>(
    env: Env<'a>,
    cache: ResourceArc<CacheResource>,
    data: Binary<'a>,
    hash: Term<'a>,
) -> Term<'a> {
    let algo = if hash == atoms::blake3().encode(env) {
        HashAlgo::Blake3
    } else {
        HashAlgo::Sha256
    };
    binary(env, &cache.0.digest(algo, data.as_slice()))
}

#[rustler::nif]
fn metrics_configure(env: Env, rate: f64) -> Term {
    match metrics::configure(rate) {
        Ok(()) => atoms::ok().encode(env),
        Err(reason) => (atoms::error(), reason).encode(env),
    }
}

#[rustler::nif]
fn metrics_reset() -> rustler::Atom {
    metrics::reset();
    atoms::ok()
}

/// `{{enabled, sample_every, chunks, chunk_bytes}, {known_chunks,
/// known_bytes, compress_in, compress_out}, [{stage, {ops, bytes, total_ns,
/// samples}, {p50, p99, p999}}]}`.
#[rustler::nif]
fn metrics_snapshot(env: Env) -> Term {
    let s = metrics::snapshot();
    let stages: Vec<Term> = s
        .stages
        .iter()
        .map(|(stage, st)| {
            let name = rustler::Atom::from_str(env, stage.name()).unwrap_or(atoms::chunk());
            (
                name,
                (st.ops, st.bytes, st.total_ns, st.samples),
                (st.p50_ns, st.p99_ns, st.p999_ns),
            )
                .encode(env)
        })
        .collect();
    (
        (s.enabled, s.sample_every, s.chunks, s.chunk_bytes),
        (s.known_chunks, s.known_bytes, s.compress_in, s.compress_out),
        stages,
    )
        .encode(env)
}

/// Sets the size from which one input is chunked in parallel (the
/// application's `:parallel_threshold`).
#[rustler::nif]
fn cdc_set_parallel_threshold(bytes: u64) -> rustler::Atom {
    chunker_core::cdc::set_parallel_threshold(usize::try_from(bytes).unwrap_or(usize::MAX));
    atoms::ok()
}

/// The size from which one input is chunked in parallel.
#[rustler::nif]
fn cdc_parallel_threshold() -> u64 {
    chunker_core::cdc::parallel_threshold() as u64
}

/// Sets the worker-pool size before first use (`false` if already running).
#[rustler::nif]
fn pool_configure(threads: usize) -> bool {
    pool::configure(threads)
}

#[rustler::nif]
fn pool_threads() -> usize {
    pool::threads()
}
