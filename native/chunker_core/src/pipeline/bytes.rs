//! A chunk's bytes on their way through the workers: a buffer of its own,
//! or a range of a shared input read in place.

use std::sync::Arc;

/// An input the worker threads may read in place
/// ([`super::Pipeline::feed_shared`]): its bytes never change while any
/// reference to it is alive.
pub trait SharedInput: Send + Sync + 'static {
    fn bytes(&self) -> &[u8];
}

impl SharedInput for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// One chunk's bytes.
pub(crate) enum Bytes {
    Owned(Vec<u8>),
    /// `len` bytes of the input from index `at`.
    Shared(Arc<dyn SharedInput>, usize, usize),
}

impl Bytes {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Shared(input, at, len) => &input.bytes()[*at..*at + *len],
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Bytes::Owned(v) => v.len(),
            Bytes::Shared(_, _, len) => *len,
        }
    }

    /// The bytes as a vector (copied if shared).
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            Bytes::Owned(v) => v,
            shared => shared.as_slice().to_vec(),
        }
    }
}
