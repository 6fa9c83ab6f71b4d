//! NAR NIFs: dump a path to a binary or a file.

use crate::errors::posix_atom;
use chunker_core::nar::{self, PathError};
use rustler::Atom;
use rustler::{Binary, Encoder, Env, OwnedBinary, Term};
use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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
