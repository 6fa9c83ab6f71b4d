//! NAR NIFs: dump, read (eager, streaming, file), unpack, chunk,
//! normalise references, rebuild.

use crate::errors::{cdc_error, posix_atom};
use crate::timeslice;
use chunker_core::cdc::ChunkerConfig;
use chunker_core::digest::HashAlgo;
use chunker_core::nar::refs::{self, RefsError};
use chunker_core::nar::{
    self, ChunkError, ChunkKind, Entry, Event, FormatError, Kind, NarChunking, NarReader,
    PathError, UnpackError,
};
use rustler::{Atom, ListIterator, NewBinary, ResourceArc};
use rustler::{Binary, Encoder, Env, OwnedBinary, Term};
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

/// A path from raw bytes (Elixir paths need not be UTF-8).
fn path<'a>(bin: &'a Binary) -> &'a Path {
    Path::new(OsStr::from_bytes(bin.as_slice()))
}

rustler::atoms! {
    ok,
    error,
    file,
    unsupported_file_type,
    enomem,
    eexist,
    enotempty,
    exdev,
    erofs,
    emlink,
    nar,
    regular,
    executable,
    symlink,
    directory,
    metadata,
    contents,
    mixed,
    nil,
    sha256,
    blake3,
    none,
    invalid_reference,
    invalid_patches,
    invalid_options,
    more,
}

/// POSIX atom, including the codes unpacking meets that the shared table lacks.
fn posix(env: Env, e: &io::Error) -> Atom {
    match e.raw_os_error() {
        Some(17) => eexist(),
        Some(39) => enotempty(),
        Some(18) => exdev(),
        Some(30) => erofs(),
        Some(31) => emlink(),
        _ => posix_atom(env, e),
    }
}

/// `{:error, reason}` for a dump error: `{:file, posix}` or
/// `{:unsupported_file_type, path}`.
fn dump_error<'a>(env: Env<'a>, e: &io::Error) -> Term<'a> {
    let reason = match PathError::of(e) {
        Some(PathError { path, source: None }) => {
            (unsupported_file_type(), path.to_string_lossy().as_ref()).encode(env)
        }
        Some(PathError {
            source: Some(inner),
            ..
        }) => (file(), posix(env, inner)).encode(env),
        None => (file(), posix(env, e)).encode(env),
    };
    (error(), reason).encode(env)
}

/// A growable Erlang binary as a `Write` sink (no second copy at the end).
struct BinaryWriter {
    bin: OwnedBinary,
    len: usize,
}

impl Write for BinaryWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let need = self.len + buf.len();
        if need > self.bin.len() {
            let cap = need.max(self.bin.len() * 2);
            if !self.bin.realloc(cap) {
                return Err(io::Error::from(io::ErrorKind::OutOfMemory));
            }
        }
        self.bin.as_mut_slice()[self.len..need].copy_from_slice(buf);
        self.len = need;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `{:ok, nar}`: the NAR of `path` as a binary.
#[rustler::nif(schedule = "DirtyIo")]
fn nar_dump<'a>(env: Env<'a>, src: Binary<'a>) -> Term<'a> {
    let mut sink = BinaryWriter {
        bin: OwnedBinary::new(64 * 1024),
        len: 0,
    };
    match nar::dump_path(path(&src), &mut sink) {
        Ok(_) => {
            let mut bin = sink.bin;
            if !bin.realloc(sink.len) {
                return (error(), enomem()).encode(env);
            }
            (ok(), bin.release(env)).encode(env)
        }
        Err(e) => dump_error(env, &e),
    }
}

/// `{:ok, size}`: writes the NAR of `path` to the new file `dest`.
#[rustler::nif(schedule = "DirtyIo")]
fn nar_dump_to_file<'a>(env: Env<'a>, src: Binary<'a>, dest: Binary<'a>) -> Term<'a> {
    let dest = path(&dest);
    let out = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
    {
        Ok(f) => f,
        Err(e) => return dump_error(env, &e),
    };
    match nar::dump_path(path(&src), out) {
        Ok(size) => (ok(), size).encode(env),
        Err(e) => {
            let _ = std::fs::remove_file(dest);
            dump_error(env, &e)
        }
    }
}

/// `{:error, {:nar, offset, reason}}`.
fn format_error<'a>(env: Env<'a>, e: &FormatError) -> Term<'a> {
    let reason = Atom::from_str(env, e.reason.as_str()).unwrap_or(error());
    (error(), (nar(), e.offset, reason)).encode(env)
}

fn refs_error<'a>(env: Env<'a>, e: &RefsError) -> Term<'a> {
    match e {
        RefsError::InvalidReference(i) => (error(), (invalid_reference(), *i)).encode(env),
        RefsError::InvalidPatches => (error(), invalid_patches()).encode(env),
    }
}

fn unpack_error<'a>(env: Env<'a>, e: &UnpackError) -> Term<'a> {
    match e {
        UnpackError::Format(f) => format_error(env, f),
        UnpackError::Io { source, .. } | UnpackError::Read(source) => {
            (error(), (file(), posix(env, source))).encode(env)
        }
    }
}

/// `{path, type, size, contents_offset, target, start}` (nil where n/a).
fn entry_term<'a>(env: Env<'a>, e: &Entry) -> Term<'a> {
    let path: Term = NewBinary::from_slice(env, &e.path).into();
    let n = nil().encode(env);
    match &e.kind {
        Kind::Regular {
            executable: x,
            size,
            contents: c,
        } => {
            let t = if *x { executable() } else { regular() };
            (path, t, *size, *c, n, e.start).encode(env)
        }
        Kind::Symlink { target } => {
            let t: Term = NewBinary::from_slice(env, target).into();
            (path, symlink(), n, n, t, e.start).encode(env)
        }
        Kind::Directory => (path, directory(), n, n, n, e.start).encode(env),
    }
}

fn entries_ok<'a>(env: Env<'a>, entries: &[Entry]) -> Term<'a> {
    let list: Vec<Term> = entries.iter().map(|e| entry_term(env, e)).collect();
    (ok(), list).encode(env)
}

/// `{:ok, entries}` for a whole NAR binary.
#[rustler::nif(schedule = "DirtyCpu")]
fn nar_entries<'a>(env: Env<'a>, data: Binary<'a>) -> Term<'a> {
    match nar::entries(data.as_slice()) {
        Ok(list) => entries_ok(env, &list),
        Err(e) => format_error(env, &e),
    }
}

/// `{:ok, entries}` for a NAR file, read through a 1 MiB buffer.
#[rustler::nif(schedule = "DirtyIo")]
fn nar_read_file<'a>(env: Env<'a>, src: Binary<'a>) -> Term<'a> {
    let input = match std::fs::File::open(path(&src)) {
        Ok(f) => f,
        Err(e) => return (error(), (file(), posix(env, &e))).encode(env),
    };
    let mut list = Vec::new();
    let result = nar::read_nar(input, 1 << 20, |event| {
        if let Event::Entry(e) = event {
            list.push(e)
        }
    });
    match result {
        Ok(_) => entries_ok(env, &list),
        Err(nar::ReadError::Format(e)) => format_error(env, &e),
        Err(nar::ReadError::Io(e)) => (error(), (file(), posix(env, &e))).encode(env),
    }
}

/// A streaming reader shared by reference; calls are serialized.
pub struct NarReaderResource(Mutex<NarReader>);

#[rustler::resource_impl]
impl rustler::Resource for NarReaderResource {}

#[rustler::nif]
fn nar_reader_open() -> ResourceArc<NarReaderResource> {
    ResourceArc::new(NarReaderResource(Mutex::new(NarReader::new())))
}

/// Steps a feed may take on a normal scheduler: each is one token piece
/// (at most 4 KiB copied) or one run of content/padding, so well under 1 ms.
const NORMAL_STEPS: usize = 512;

fn feed_reader<'a>(
    env: Env<'a>,
    reader: &mut NarReader,
    data: &Binary<'a>,
    budget: usize,
) -> Term<'a> {
    let mut list = Vec::new();
    let result = reader.feed_some(data.as_slice(), budget, &mut |event| {
        if let Event::Entry(e) = event {
            list.push(e)
        }
    });
    match result {
        Ok(n) if n == data.len() => entries_ok(env, &list),
        Ok(n) => {
            let entries: Vec<Term> = list.iter().map(|e| entry_term(env, e)).collect();
            (more(), n, entries).encode(env)
        }
        Err(e) => format_error(env, &e),
    }
}

/// Parses on a normal scheduler within [`NORMAL_STEPS`]: `{:ok, entries}`
/// when all of `data` was consumed, else `{:more, consumed, entries}` (the
/// caller feeds the rest to `nar_reader_feed_dirty`).
#[rustler::nif]
fn nar_reader_feed<'a>(
    env: Env<'a>,
    handle: ResourceArc<NarReaderResource>,
    data: Binary<'a>,
) -> Term<'a> {
    match handle.0.try_lock() {
        Ok(mut reader) => {
            timeslice::charged(env, || feed_reader(env, &mut reader, &data, NORMAL_STEPS))
        }
        Err(_) => (more(), 0, Vec::<Term>::new()).encode(env),
    }
}

/// `{:ok, entries}` completed by this piece (any size).
#[rustler::nif(schedule = "DirtyCpu")]
fn nar_reader_feed_dirty<'a>(
    env: Env<'a>,
    handle: ResourceArc<NarReaderResource>,
    data: Binary<'a>,
) -> Term<'a> {
    let mut reader = handle.0.lock().unwrap_or_else(|p| p.into_inner());
    feed_reader(env, &mut reader, &data, usize::MAX)
}

/// `{:ok, nar_size}` when the NAR is complete.
#[rustler::nif]
fn nar_reader_finish(env: Env, handle: ResourceArc<NarReaderResource>) -> Term {
    let mut reader = handle.0.lock().unwrap_or_else(|p| p.into_inner());
    match reader.finish() {
        Ok(()) => (ok(), reader.offset()).encode(env),
        Err(e) => format_error(env, &e),
    }
}

/// Unpacks a NAR binary into the new path `dest`.
#[rustler::nif(schedule = "DirtyIo")]
fn nar_unpack<'a>(env: Env<'a>, data: Binary<'a>, dest: Binary<'a>) -> Term<'a> {
    match nar::unpack(data.as_slice(), path(&dest)) {
        Ok(()) => ok().encode(env),
        Err(e) => unpack_error(env, &e),
    }
}

/// Unpacks the NAR file `src` into the new path `dest` (streaming).
#[rustler::nif(schedule = "DirtyIo")]
fn nar_unpack_file<'a>(env: Env<'a>, src: Binary<'a>, dest: Binary<'a>) -> Term<'a> {
    let input = match std::fs::File::open(path(&src)) {
        Ok(f) => f,
        Err(e) => return (error(), (file(), posix(env, &e))).encode(env),
    };
    match nar::unpack(input, path(&dest)) {
        Ok(()) => ok().encode(env),
        Err(e) => unpack_error(env, &e),
    }
}

/// Reference hashes from a list of binaries.
fn decode_refs(list: ListIterator) -> Vec<Vec<u8>> {
    list.map(|t| {
        t.decode::<Binary>()
            .map(|b| b.as_slice().to_vec())
            .unwrap_or_default()
    })
    .collect()
}

/// `{config, algo}` from `{min, avg, max, level}` and the hash atom
/// (types already checked by Chunker.Options).
fn decode_config<'a>(
    env: Env<'a>,
    sizes: Term<'a>,
    hash: Atom,
) -> Result<(ChunkerConfig, Option<HashAlgo>), Term<'a>> {
    let invalid = |field: &str| {
        let reason = "must be a non-negative integer below 2^64";
        let field = Atom::from_str(env, field).unwrap_or(error());
        (error(), (invalid_options(), (field, reason))).encode(env)
    };
    let (min, avg, max, level): (Term, Term, Term, Term) =
        sizes.decode().map_err(|_| invalid("min_size"))?;
    let int = |t: Term<'a>, field| t.decode::<u64>().map_err(|_| invalid(field));
    let config = ChunkerConfig::new(
        int(min, "min_size")?,
        int(avg, "avg_size")?,
        int(max, "max_size")?,
        int(level, "normalization")?,
    )
    .map_err(|e| cdc_error(env, &e))?;
    let algo = if hash == sha256() {
        Some(HashAlgo::Sha256)
    } else if hash == blake3() {
        Some(HashAlgo::Blake3)
    } else {
        None
    };
    Ok((config, algo))
}

/// `{:ok, chunks, entries, patches}`; chunk tuples are
/// `{offset, length, hash, data, {first_entry, last_entry}, kind}`.
#[rustler::nif(schedule = "DirtyCpu")]
#[allow(clippy::too_many_arguments)]
fn nar_chunk<'a>(
    env: Env<'a>,
    data: Binary<'a>,
    sizes: Term<'a>,
    hash: Atom,
    payloads: bool,
    nar_aware: bool,
    metadata_chunks: bool,
    refs: ListIterator<'a>,
) -> Term<'a> {
    let (config, algo) = match decode_config(env, sizes, hash) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let refs = decode_refs(refs);
    let how = NarChunking {
        config,
        nar_aware,
        metadata_chunks,
    };
    let (chunked, normalized) = match nar::chunk_nar(data.as_slice(), &how, &refs, algo) {
        Ok(v) => v,
        Err(ChunkError::Format(e)) => return format_error(env, &e),
        Err(ChunkError::Refs(e)) => return refs_error(env, &e),
    };
    // Payloads are sub-binaries of the input, or of the normalised copy.
    let source: Binary = match (&normalized, payloads) {
        (Some(bytes), true) => {
            let mut owned = OwnedBinary::new(bytes.len());
            owned.as_mut_slice().copy_from_slice(bytes);
            Binary::from_owned(owned, env)
        }
        _ => data,
    };
    let n = nil().encode(env);
    let chunks: Vec<Term> = chunked
        .chunks
        .iter()
        .map(|c| {
            let digest = c
                .digest
                .map(|d| Term::from(NewBinary::from_slice(env, &d)))
                .unwrap_or(n);
            let bytes = if payloads {
                source
                    .make_subbinary(c.offset as usize, c.length)
                    .map(|b| b.to_term(env))
                    .unwrap_or(n)
            } else {
                n
            };
            let kind = match c.kind {
                ChunkKind::Metadata => metadata(),
                ChunkKind::Contents => contents(),
                ChunkKind::Mixed => mixed(),
            };
            (c.offset, c.length, digest, bytes, c.entries, kind).encode(env)
        })
        .collect();
    let entries: Vec<Term> = chunked.entries.iter().map(|e| entry_term(env, e)).collect();
    let patches: Term = NewBinary::from_slice(env, &refs::encode_patches(&chunked.patches)).into();
    (ok(), chunks, entries, patches).encode(env)
}

/// `{:ok, normalised, patches}`: the bytes with every reference replaced.
#[rustler::nif(schedule = "DirtyCpu")]
fn nar_normalize<'a>(env: Env<'a>, data: Binary<'a>, refs: ListIterator<'a>) -> Term<'a> {
    let refs = decode_refs(refs);
    let mut owned = OwnedBinary::new(data.len());
    owned.as_mut_slice().copy_from_slice(data.as_slice());
    match refs::normalize(owned.as_mut_slice(), &refs) {
        Ok(patches) => {
            let encoded: Term = NewBinary::from_slice(env, &refs::encode_patches(&patches)).into();
            (ok(), owned.release(env), encoded).encode(env)
        }
        Err(e) => refs_error(env, &e),
    }
}

/// `{:ok, nar}` from the normalised chunks (in order), patches and refs.
#[rustler::nif(schedule = "DirtyCpu")]
fn nar_rebuild<'a>(
    env: Env<'a>,
    chunks: ListIterator<'a>,
    patches: Binary<'a>,
    refs: ListIterator<'a>,
) -> Term<'a> {
    let refs = decode_refs(refs);
    if let Err(e) = refs::validate(&refs) {
        return refs_error(env, &e);
    }
    let pieces: Vec<Binary> = match chunks.map(|t| t.decode::<Binary>()).collect() {
        Ok(v) => v,
        Err(_) => return (error(), invalid_patches()).encode(env),
    };
    let patches = match refs::decode_patches(patches.as_slice()) {
        Ok(p) => p,
        Err(e) => return refs_error(env, &e),
    };
    match nar::rebuild(pieces.iter().map(|b| b.as_slice()), &patches, &refs) {
        Ok(bytes) => {
            let mut owned = OwnedBinary::new(bytes.len());
            owned.as_mut_slice().copy_from_slice(&bytes);
            (ok(), owned.release(env)).encode(env)
        }
        Err(e) => refs_error(env, &e),
    }
}
