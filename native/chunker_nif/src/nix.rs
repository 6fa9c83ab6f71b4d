//! Nix encoding NIFs: base-32, hash strings, store paths.

use crate::errors::posix_atom;
use crate::timeslice;
use chunker_core::nar::{self, PathError};
use chunker_core::nix::base32;
use chunker_core::nix::hash::{self, Algo, Encoding, Hash};
use chunker_core::nix::store_path::{self, FixedOutputError, StorePath};
use rustler::{Atom, Binary, Encoder, Env, NewBinary, Term};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

rustler::atoms! {
    ok,
    error,
    nil,
    md5,
    sha1,
    sha256,
    sha512,
    base16,
    base32_ = "base32",
    base64,
    sri,
    invalid_base32,
    invalid_hash,
    invalid_store_path,
    invalid_length,
    invalid_char,
    non_zero_padding,
    unknown_algo,
    missing_algo,
    algo_mismatch,
    invalid_encoding,
    not_in_store,
    too_short,
    invalid_hash_char,
    missing_dash,
    empty_name,
    name_too_long,
    invalid_name_char,
    references_not_allowed,
    not_utf8,
    file,
    unsupported_file_type,
}

pub fn algo_atom(a: Algo) -> Atom {
    match a {
        Algo::Md5 => md5(),
        Algo::Sha1 => sha1(),
        Algo::Sha256 => sha256(),
        Algo::Sha512 => sha512(),
    }
}

pub fn atom_algo(a: Atom) -> rustler::NifResult<Algo> {
    Algo::ALL
        .into_iter()
        .find(|&x| algo_atom(x) == a)
        .ok_or(rustler::Error::BadArg)
}

fn encoding_atom(e: Encoding) -> Atom {
    match e {
        Encoding::Base16 => base16(),
        Encoding::Base32 => base32_(),
        Encoding::Base64 => base64(),
        Encoding::Sri => sri(),
    }
}

fn atom_encoding(a: Atom) -> rustler::NifResult<Encoding> {
    [
        Encoding::Base16,
        Encoding::Base32,
        Encoding::Base64,
        Encoding::Sri,
    ]
    .into_iter()
    .find(|&e| encoding_atom(e) == a)
    .ok_or(rustler::Error::BadArg)
}

fn char_string(c: char) -> String {
    c.to_string()
}

/// The reason term of a hash-string error (inside `{:invalid_hash, _}`).
pub fn hash_reason<'a>(env: Env<'a>, e: &hash::Error) -> Term<'a> {
    match e {
        hash::Error::UnknownAlgo(a) => (unknown_algo(), a.as_str()).encode(env),
        hash::Error::MissingAlgo => missing_algo().encode(env),
        hash::Error::AlgoMismatch { expected, found } => {
            (algo_mismatch(), (algo_atom(*expected), algo_atom(*found))).encode(env)
        }
        hash::Error::InvalidLength(n) => (invalid_length(), *n).encode(env),
        hash::Error::InvalidEncoding(enc) => (invalid_encoding(), encoding_atom(*enc)).encode(env),
    }
}

/// The reason term of a store-path error (inside `{:invalid_store_path, _}`).
pub fn store_path_reason<'a>(env: Env<'a>, e: &store_path::Error) -> Term<'a> {
    use store_path::Error as E;
    match e {
        E::NotInStore => not_in_store().encode(env),
        E::TooShort => too_short().encode(env),
        E::InvalidHashChar(c) => (invalid_hash_char(), char_string(*c)).encode(env),
        E::MissingDash => missing_dash().encode(env),
        E::EmptyName => empty_name().encode(env),
        E::NameTooLong(n) => (name_too_long(), *n).encode(env),
        E::InvalidNameChar(c) => (invalid_name_char(), char_string(*c)).encode(env),
    }
}

fn err<'a>(env: Env<'a>, kind: Atom, reason: Term<'a>) -> Term<'a> {
    (error(), (kind, reason)).encode(env)
}

fn base32_encode_impl<'a>(env: Env<'a>, data: Binary<'a>) -> Term<'a> {
    let mut out = NewBinary::new(env, base32::encoded_len(data.len()));
    base32::encode_into(data.as_slice(), out.as_mut_slice());
    out.into()
}

fn base32_decode_impl<'a>(env: Env<'a>, data: Binary<'a>) -> Term<'a> {
    match base32::decode(data.as_slice()) {
        Ok(bytes) => (ok(), Term::from(NewBinary::from_slice(env, &bytes))).encode(env),
        Err(e) => {
            let reason = match e {
                base32::Error::InvalidLength(n) => (invalid_length(), n).encode(env),
                base32::Error::InvalidChar { position, char } => {
                    (invalid_char(), (char_string(char), position)).encode(env)
                }
                base32::Error::NonZeroPadding => non_zero_padding().encode(env),
            };
            err(env, invalid_base32(), reason)
        }
    }
}

/// `{:ok, {algo, digest}}` from any hash string; `algo` is `nil` or the
/// expected algorithm (which also allows an unprefixed hash).
fn hash_parse_impl<'a>(
    env: Env<'a>,
    s: Binary<'a>,
    expected: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    let expected = if expected == nil().encode(env) {
        None
    } else {
        Some(atom_algo(expected.decode()?)?)
    };
    let Ok(s) = std::str::from_utf8(s.as_slice()) else {
        return Ok(err(env, invalid_hash(), not_utf8().encode(env)));
    };
    Ok(match Hash::parse(s, expected) {
        Ok(h) => (
            ok(),
            (
                algo_atom(h.algo()),
                Term::from(NewBinary::from_slice(env, h.digest())),
            ),
        )
            .encode(env),
        Err(e) => err(env, invalid_hash(), hash_reason(env, &e)),
    })
}

/// Prints `{algo, digest}` in an encoding; `{:error, ...}` on a wrong digest size.
#[rustler::nif]
fn hash_format<'a>(
    env: Env<'a>,
    algo: Atom,
    digest: Binary<'a>,
    encoding: Atom,
    with_algo: bool,
) -> rustler::NifResult<Term<'a>> {
    let algo = atom_algo(algo)?;
    let encoding = atom_encoding(encoding)?;
    Ok(match Hash::from_bytes(algo, digest.as_slice()) {
        Some(h) => (ok(), h.to_string(encoding, with_algo)).encode(env),
        None => err(
            env,
            invalid_hash(),
            (invalid_length(), digest.len()).encode(env),
        ),
    })
}

/// `{:ok, {hash_part, name}}` for a valid full store path.
fn store_path_parse_impl<'a>(env: Env<'a>, path: Binary<'a>) -> Term<'a> {
    let Ok(path) = std::str::from_utf8(path.as_slice()) else {
        return err(env, invalid_store_path(), not_utf8().encode(env));
    };
    match StorePath::parse(path) {
        Ok(p) => (ok(), (p.hash_part(), p.name())).encode(env),
        Err(e) => err(env, invalid_store_path(), store_path_reason(env, &e)),
    }
}

/// Store path of a fixed-output path.
#[rustler::nif]
fn fixed_output_path<'a>(
    env: Env<'a>,
    name: Binary<'a>,
    algo: Atom,
    digest: Binary<'a>,
    recursive: bool,
    references: Vec<Binary<'a>>,
) -> rustler::NifResult<Term<'a>> {
    let utf8_error = || err(env, invalid_store_path(), not_utf8().encode(env));
    let Ok(name) = std::str::from_utf8(name.as_slice()) else {
        return Ok(utf8_error());
    };
    let Some(h) = Hash::from_bytes(atom_algo(algo)?, digest.as_slice()) else {
        return Ok(err(
            env,
            invalid_hash(),
            (invalid_length(), digest.len()).encode(env),
        ));
    };
    let mut refs = Vec::with_capacity(references.len());
    for r in references {
        let Ok(r) = std::str::from_utf8(r.as_slice()) else {
            return Ok(utf8_error());
        };
        match StorePath::parse(r) {
            Ok(p) => refs.push(p),
            Err(e) => return Ok(err(env, invalid_store_path(), store_path_reason(env, &e))),
        }
    }
    Ok(
        match store_path::fixed_output_path(name, &h, recursive, &refs) {
            Ok(p) => (ok(), p.to_string()).encode(env),
            Err(FixedOutputError::Name(e)) => {
                err(env, invalid_store_path(), store_path_reason(env, &e))
            }
            Err(FixedOutputError::References) => (error(), references_not_allowed()).encode(env),
        },
    )
}

/// `{:ok, {sha256_digest, nar_size}}` of the NAR serialisation of a path
/// (streamed through SHA-256, never held in memory).
#[rustler::nif(schedule = "DirtyIo")]
fn nar_sha256<'a>(env: Env<'a>, path: Binary<'a>) -> Term<'a> {
    match nar::dump_sha256(OsStr::from_bytes(path.as_slice())) {
        Ok((digest, size)) => (
            ok(),
            (Term::from(NewBinary::from_slice(env, &digest)), size),
        )
            .encode(env),
        Err(e) => {
            let reason = match PathError::of(&e) {
                Some(PathError { path, source: None }) => {
                    (unsupported_file_type(), path.to_string_lossy().as_ref()).encode(env)
                }
                Some(PathError {
                    source: Some(inner),
                    ..
                }) => (file(), posix_atom(env, inner)).encode(env),
                None => (file(), posix_atom(env, &e)).encode(env),
            };
            (error(), reason).encode(env)
        }
    }
}

// Normal and dirty entry points: the body's time grows with the input, so
// Chunker.Nix sends inputs over 64 KiB to the DirtyCpu twin.

#[rustler::nif]
fn base32_encode<'a>(env: Env<'a>, data: Binary<'a>) -> Term<'a> {
    timeslice::charged(env, || base32_encode_impl(env, data))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn base32_encode_dirty<'a>(env: Env<'a>, data: Binary<'a>) -> Term<'a> {
    base32_encode_impl(env, data)
}

#[rustler::nif]
fn base32_decode<'a>(env: Env<'a>, data: Binary<'a>) -> Term<'a> {
    timeslice::charged(env, || base32_decode_impl(env, data))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn base32_decode_dirty<'a>(env: Env<'a>, data: Binary<'a>) -> Term<'a> {
    base32_decode_impl(env, data)
}

#[rustler::nif]
fn hash_parse<'a>(env: Env<'a>, s: Binary<'a>, expected: Term<'a>) -> rustler::NifResult<Term<'a>> {
    hash_parse_impl(env, s, expected)
}

#[rustler::nif(schedule = "DirtyCpu")]
fn hash_parse_dirty<'a>(
    env: Env<'a>,
    s: Binary<'a>,
    expected: Term<'a>,
) -> rustler::NifResult<Term<'a>> {
    hash_parse_impl(env, s, expected)
}

#[rustler::nif]
fn store_path_parse<'a>(env: Env<'a>, path: Binary<'a>) -> Term<'a> {
    store_path_parse_impl(env, path)
}

#[rustler::nif(schedule = "DirtyCpu")]
fn store_path_parse_dirty<'a>(env: Env<'a>, path: Binary<'a>) -> Term<'a> {
    store_path_parse_impl(env, path)
}
