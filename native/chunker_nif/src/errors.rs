//! Maps core errors to the `{:error, reason}` terms the Elixir API documents.

use crate::atoms;
use chunker_core::cdc;
use rustler::{Atom, Encoder, Env, Term};

/// `{:error, reason}` for a chunking error.
pub fn cdc_error<'a>(env: Env<'a>, error: &cdc::Error) -> Term<'a> {
    let reason = match error {
        cdc::Error::InvalidOptions { field, reason } => (
            atoms::invalid_options(),
            (
                Atom::from_str(env, field).unwrap_or(atoms::error()),
                reason.as_str(),
            ),
        )
            .encode(env),
        cdc::Error::Finished => atoms::finished().encode(env),
        cdc::Error::Overflow => atoms::overflow().encode(env),
        cdc::Error::Io(e) => (atoms::file(), posix_atom(env, e)).encode(env),
    };
    (atoms::error(), reason).encode(env)
}

/// The POSIX error atom Erlang's `:file` module would use (`:enoent`, ...).
pub fn posix_atom(env: Env, error: &std::io::Error) -> Atom {
    let name = match error.raw_os_error() {
        Some(1) => "eperm",
        Some(2) => "enoent",
        Some(5) => "eio",
        Some(9) => "ebadf",
        Some(12) => "enomem",
        Some(13) => "eacces",
        Some(20) => "enotdir",
        Some(21) => "eisdir",
        Some(22) => "einval",
        Some(23) => "enfile",
        Some(24) => "emfile",
        Some(27) => "efbig",
        Some(28) => "enospc",
        Some(36) => "enametoolong",
        Some(40) => "eloop",
        _ => match error.kind() {
            std::io::ErrorKind::NotFound => "enoent",
            std::io::ErrorKind::PermissionDenied => "eacces",
            std::io::ErrorKind::UnexpectedEof => "eof",
            _ => "eio",
        },
    };
    Atom::from_str(env, name).unwrap_or(atoms::error())
}
