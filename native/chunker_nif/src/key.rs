//! Signing-key NIFs. Secret keys live only in a resource (zeroized on drop);
//! no term built here carries secret bytes except `key_format_secret`.

use crate::timeslice;
use chunker_core::nix::key::{self, PublicKey, SecretKey, Signature};
use rustler::{Atom, Binary, Encoder, Env, NewBinary, ResourceArc, Term};

rustler::atoms! {
    ok,
    error,
    invalid_key,
    invalid_signature,
    missing_colon,
    empty_name,
    invalid_name,
    bad_base64,
    wrong_length,
    invalid_point,
    mismatched_public_key,
    no_randomness,
    not_utf8,
}

pub struct SecretKeyRes(pub SecretKey);
#[rustler::resource_impl]
impl rustler::Resource for SecretKeyRes {}

pub struct PublicKeyRes(pub PublicKey);
#[rustler::resource_impl]
impl rustler::Resource for PublicKeyRes {}

pub fn key_reason<'a>(env: Env<'a>, e: &key::Error) -> Term<'a> {
    match e {
        key::Error::MissingColon => missing_colon().encode(env),
        key::Error::EmptyName => empty_name().encode(env),
        key::Error::InvalidName => invalid_name().encode(env),
        key::Error::BadBase64 => bad_base64().encode(env),
        key::Error::WrongLength(n) => (wrong_length(), *n).encode(env),
        key::Error::InvalidPoint => invalid_point().encode(env),
        key::Error::MismatchedPublicKey => mismatched_public_key().encode(env),
        key::Error::Random => no_randomness().encode(env),
    }
}

fn fail<'a>(env: Env<'a>, kind: Atom, reason: Term<'a>) -> Term<'a> {
    (error(), (kind, reason)).encode(env)
}

fn utf8<'a>(b: &'a Binary) -> Option<&'a str> {
    std::str::from_utf8(b.as_slice()).ok()
}

/// `{ref, name, "name:base64"}` for a public key.
fn public_term<'a>(env: Env<'a>, k: PublicKey) -> Term<'a> {
    let name = k.name().to_string();
    let s = k.to_string();
    (ResourceArc::new(PublicKeyRes(k)), name, s).encode(env)
}

/// `{:ok, {secret_ref, name, public}}` where `public` is as in `public_term`.
fn secret_ok<'a>(env: Env<'a>, k: SecretKey) -> Term<'a> {
    let name = k.name().to_string();
    let public = public_term(env, k.public());
    (ok(), (ResourceArc::new(SecretKeyRes(k)), name, public)).encode(env)
}

#[rustler::nif]
fn key_generate<'a>(env: Env<'a>, name: Binary<'a>) -> Term<'a> {
    let Some(name) = utf8(&name) else {
        return fail(env, invalid_key(), invalid_name().encode(env));
    };
    match SecretKey::generate(name) {
        Ok(k) => secret_ok(env, k),
        Err(e) => fail(env, invalid_key(), key_reason(env, &e)),
    }
}

#[rustler::nif]
fn key_parse_secret<'a>(env: Env<'a>, s: Binary<'a>) -> Term<'a> {
    let Some(s) = utf8(&s) else {
        return fail(env, invalid_key(), not_utf8().encode(env));
    };
    match SecretKey::parse(s.trim_end_matches('\n')) {
        Ok(k) => secret_ok(env, k),
        Err(e) => fail(env, invalid_key(), key_reason(env, &e)),
    }
}

#[rustler::nif]
fn key_parse_public<'a>(env: Env<'a>, s: Binary<'a>) -> Term<'a> {
    let Some(s) = utf8(&s) else {
        return fail(env, invalid_key(), not_utf8().encode(env));
    };
    match PublicKey::parse(s.trim_end_matches('\n')) {
        Ok(k) => (ok(), public_term(env, k)).encode(env),
        Err(e) => fail(env, invalid_key(), key_reason(env, &e)),
    }
}

/// The secret key in Nix's format (an explicit export).
#[rustler::nif]
fn key_format_secret(env: Env, k: ResourceArc<SecretKeyRes>) -> Term {
    let s = k.0.to_nix_string();
    NewBinary::from_slice(env, s.as_bytes()).into()
}

/// `name:base64(signature)` of `message`.
#[rustler::nif]
fn key_sign<'a>(env: Env<'a>, k: ResourceArc<SecretKeyRes>, message: Binary<'a>) -> String {
    timeslice::charged(env, || k.0.sign(message.as_slice()))
}

/// `{:ok, {name, raw_signature}}` or `{:error, {:invalid_signature, reason}}`.
#[rustler::nif]
fn key_parse_signature<'a>(env: Env<'a>, s: Binary<'a>) -> Term<'a> {
    let Some(s) = utf8(&s) else {
        return fail(env, invalid_signature(), not_utf8().encode(env));
    };
    match Signature::parse(s) {
        Ok(sig) => (
            ok(),
            (
                sig.name(),
                Term::from(NewBinary::from_slice(env, &sig.to_bytes())),
            ),
        )
            .encode(env),
        Err(e) => fail(env, invalid_signature(), key_reason(env, &e)),
    }
}

fn verify(
    message: Binary,
    signatures: Vec<Binary>,
    trusted: Vec<ResourceArc<PublicKeyRes>>,
) -> bool {
    let sigs: Vec<&str> = signatures.iter().filter_map(utf8).collect();
    let keys: Vec<&PublicKey> = trusted.iter().map(|k| &k.0).collect();
    key::verify_any(message.as_slice(), &sigs, &keys)
}

/// Whether any signature (binaries; malformed ones never verify) is valid
/// for `message` under a trusted key of the same name. Small messages and
/// few checks only (the caller picks `key_verify_dirty` otherwise).
#[rustler::nif]
fn key_verify<'a>(
    env: Env<'a>,
    message: Binary<'a>,
    signatures: Vec<Binary<'a>>,
    trusted: Vec<ResourceArc<PublicKeyRes>>,
) -> bool {
    timeslice::charged(env, || verify(message, signatures, trusted))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn key_verify_dirty<'a>(
    message: Binary<'a>,
    signatures: Vec<Binary<'a>>,
    trusted: Vec<ResourceArc<PublicKeyRes>>,
) -> bool {
    verify(message, signatures, trusted)
}

/// Signs a big message.
#[rustler::nif(schedule = "DirtyCpu")]
fn key_sign_dirty<'a>(k: ResourceArc<SecretKeyRes>, message: Binary<'a>) -> String {
    k.0.sign(message.as_slice())
}
