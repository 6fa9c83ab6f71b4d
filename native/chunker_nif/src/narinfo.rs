//! Narinfo NIFs: parse to / serialize from `%Chunker.Nix.Narinfo{}`,
//! fingerprint, verify.

use crate::key::PublicKeyRes;
use crate::nix::{hash_reason, store_path_reason};
use crate::timeslice;
use chunker_core::nix::narinfo::{self, FingerprintError, Narinfo, Reason};
use chunker_core::nix::{Encoding, Hash, PublicKey, StorePath};
use rustler::{Binary, Encoder, Env, NifStruct, ResourceArc, Term};

rustler::atoms! {
    ok,
    error,
    narinfo_ = "narinfo",
    not_utf8,
    missing_colon,
    empty_field,
    duplicate,
    missing,
    invalid_store_path,
    invalid_hash,
    invalid_integer,
    empty,
    newline,
    zero_nar_size,
    not_sha256,
}

/// The Elixir struct. Every field is optional here so that a missing one
/// is a clear error rather than a `badarg`.
#[derive(NifStruct)]
#[module = "Chunker.Nix.Narinfo"]
struct NarinfoTerm {
    store_path: Option<String>,
    url: Option<String>,
    compression: Option<String>,
    file_hash: Option<String>,
    file_size: Option<u64>,
    nar_hash: Option<String>,
    nar_size: Option<u64>,
    references: Vec<String>,
    deriver: Option<String>,
    system: Option<String>,
    sigs: Vec<String>,
    ca: Option<String>,
    extra: Vec<(String, String)>,
}

fn to_term(n: Narinfo) -> NarinfoTerm {
    let hash = |h: &Hash| h.to_string(Encoding::Base32, true);
    NarinfoTerm {
        store_path: Some(n.store_path.to_string()),
        url: Some(n.url),
        compression: Some(n.compression),
        file_hash: n.file_hash.as_ref().map(hash),
        file_size: n.file_size,
        nar_hash: Some(hash(&n.nar_hash)),
        nar_size: Some(n.nar_size),
        references: n
            .references
            .iter()
            .map(|r| r.base_name().to_string())
            .collect(),
        deriver: n.deriver.map(|d| d.base_name().to_string()),
        system: n.system,
        sigs: n.sigs,
        ca: n.ca,
        extra: n.extra,
    }
}

fn whole(reason: Reason) -> narinfo::Error {
    narinfo::Error { line: 0, reason }
}

/// Validates the struct's fields into a core narinfo (errors on line 0).
fn from_term(t: NarinfoTerm) -> Result<Narinfo, narinfo::Error> {
    let store_path = t
        .store_path
        .ok_or(whole(Reason::Missing("StorePath")))
        .and_then(|p| StorePath::parse(&p).map_err(|e| whole(Reason::StorePath("StorePath", e))))?;
    let hash =
        |f: &'static str, s: &str| Hash::parse(s, None).map_err(|e| whole(Reason::Hash(f, e)));
    let base = |f: &'static str, s: &str| {
        StorePath::from_base_name(s).map_err(|e| whole(Reason::StorePath(f, e)))
    };
    let nar_hash = hash(
        "NarHash",
        t.nar_hash
            .as_deref()
            .ok_or(whole(Reason::Missing("NarHash")))?,
    )?;
    let nar_size = t.nar_size.ok_or(whole(Reason::Missing("NarSize")))?;
    Ok(Narinfo {
        store_path,
        url: t.url.ok_or(whole(Reason::Missing("URL")))?,
        compression: t.compression.unwrap_or_else(|| "bzip2".into()),
        file_hash: t.file_hash.map(|h| hash("FileHash", &h)).transpose()?,
        file_size: t.file_size,
        nar_hash,
        nar_size,
        references: t
            .references
            .iter()
            .map(|r| base("References", r))
            .collect::<Result<_, _>>()?,
        deriver: t.deriver.map(|d| base("Deriver", &d)).transpose()?,
        system: t.system,
        sigs: t.sigs,
        ca: t.ca,
        extra: t.extra,
    })
}

fn error_term<'a>(env: Env<'a>, e: &narinfo::Error) -> Term<'a> {
    let reason = match &e.reason {
        Reason::NotUtf8 => not_utf8().encode(env),
        Reason::MissingColon => missing_colon().encode(env),
        Reason::EmptyField => empty_field().encode(env),
        Reason::Duplicate(f) => (duplicate(), *f).encode(env),
        Reason::Missing(f) => (missing(), *f).encode(env),
        Reason::StorePath(f, e) => {
            (invalid_store_path(), (*f, store_path_reason(env, e))).encode(env)
        }
        Reason::Hash(f, e) => (invalid_hash(), (*f, hash_reason(env, e))).encode(env),
        Reason::Integer(f) => (invalid_integer(), *f).encode(env),
        Reason::Empty(f) => (empty(), *f).encode(env),
        Reason::Newline(f) => (newline(), f.as_str()).encode(env),
    };
    (error(), (narinfo_(), e.line, reason)).encode(env)
}

fn fingerprint_error<'a>(env: Env<'a>, e: FingerprintError) -> Term<'a> {
    let reason = match e {
        FingerprintError::ZeroNarSize => zero_nar_size(),
        FingerprintError::NotSha256 => not_sha256(),
    };
    (error(), reason).encode(env)
}

/// Parsing is linear and narinfos are small; the caller sends big inputs
/// to the dirty variant.
#[rustler::nif]
fn narinfo_parse<'a>(env: Env<'a>, text: Binary<'a>) -> Term<'a> {
    timeslice::charged(env, || match Narinfo::parse(text.as_slice()) {
        Ok(n) => (ok(), to_term(n)).encode(env),
        Err(e) => error_term(env, &e),
    })
}

#[rustler::nif(schedule = "DirtyCpu")]
fn narinfo_parse_dirty<'a>(env: Env<'a>, text: Binary<'a>) -> Term<'a> {
    match Narinfo::parse(text.as_slice()) {
        Ok(n) => (ok(), to_term(n)).encode(env),
        Err(e) => error_term(env, &e),
    }
}

/// `{:ok, text}` in Nix's field order, or `{:error, {:narinfo, 0, reason}}`.
#[rustler::nif]
fn narinfo_serialize<'a>(env: Env<'a>, t: NarinfoTerm) -> Term<'a> {
    match from_term(t).and_then(|n| n.serialize()) {
        Ok(s) => (ok(), s).encode(env),
        Err(e) => error_term(env, &e),
    }
}

#[rustler::nif]
fn narinfo_fingerprint<'a>(env: Env<'a>, t: NarinfoTerm) -> Term<'a> {
    match from_term(t) {
        Ok(n) => match n.fingerprint() {
            Ok(fp) => (ok(), fp).encode(env),
            Err(e) => fingerprint_error(env, e),
        },
        Err(e) => error_term(env, &e),
    }
}

fn verify(t: NarinfoTerm, trusted: Vec<ResourceArc<PublicKeyRes>>) -> bool {
    let keys: Vec<&PublicKey> = trusted.iter().map(|k| &k.0).collect();
    from_term(t)
        .ok()
        .and_then(|n| n.verify(&keys).ok())
        .unwrap_or(false)
}

/// Whether a `Sig` verifies with a trusted key of its name; `false` for a
/// narinfo that cannot be fingerprinted. One Ed25519 check is about 50 µs:
/// the caller uses the dirty variant when many checks are possible.
#[rustler::nif]
fn narinfo_verify(env: Env, t: NarinfoTerm, trusted: Vec<ResourceArc<PublicKeyRes>>) -> bool {
    timeslice::charged(env, || verify(t, trusted))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn narinfo_verify_dirty(t: NarinfoTerm, trusted: Vec<ResourceArc<PublicKeyRes>>) -> bool {
    verify(t, trusted)
}
