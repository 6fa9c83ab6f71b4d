//! Serialising a file-system path to NAR, byte-identical to `nix-store --dump`.

use super::{padding, MAGIC};
use crate::digest::{HashAlgo, Hasher};
use std::ffi::OsString;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Buffer size for token output and file copies.
const BUFFER: usize = 64 * 1024;

/// Low-level NAR token writer. It writes exactly what it is told, in order;
/// the caller is responsible for a well-formed structure (sorted, unique,
/// valid names). [`dump_path`] drives it from the file system.
///
/// ```
/// use chunker_core::nar::NarEncoder;
/// let mut out = Vec::new();
/// let mut nar = NarEncoder::new(&mut out).unwrap();
/// nar.symlink(b"target").unwrap();
/// nar.finish().unwrap();
/// assert_eq!(&out[8..21], b"nix-archive-1");
/// ```
pub struct NarEncoder<W: Write> {
    out: BufWriter<W>,
    written: u64,
}

impl<W: Write> NarEncoder<W> {
    /// Starts a NAR (writes the magic).
    pub fn new(out: W) -> io::Result<Self> {
        let mut enc = Self {
            out: BufWriter::with_capacity(BUFFER, out),
            written: 0,
        };
        enc.str(MAGIC)?;
        Ok(enc)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn u64(&mut self, n: u64) -> io::Result<()> {
        self.raw(&n.to_le_bytes())
    }

    fn pad(&mut self, len: u64) -> io::Result<()> {
        self.raw(&[0u8; 8][..padding(len)])
    }

    /// One NAR string: length, bytes, zero padding.
    fn str(&mut self, s: &[u8]) -> io::Result<()> {
        self.u64(s.len() as u64)?;
        self.raw(s)?;
        self.pad(s.len() as u64)
    }

    fn strs(&mut self, strs: &[&[u8]]) -> io::Result<()> {
        strs.iter().try_for_each(|s| self.str(s))
    }

    /// A regular file node of `size` bytes read from `contents`, which must
    /// yield at least `size` bytes (`UnexpectedEof` otherwise; extra bytes
    /// are not read).
    pub fn regular(&mut self, executable: bool, size: u64, contents: impl Read) -> io::Result<()> {
        self.regular_header(executable, size)?;
        let copied = io::copy(&mut contents.take(size), &mut self.out)?;
        self.written += copied;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("file contents ended after {copied} of {size} bytes"),
            ));
        }
        self.regular_trailer(size)
    }

    /// Everything of a regular file node before its contents.
    pub fn regular_header(&mut self, executable: bool, size: u64) -> io::Result<()> {
        self.strs(&[b"(", b"type", b"regular"])?;
        if executable {
            self.strs(&[b"executable", b""])?;
        }
        self.str(b"contents")?;
        self.u64(size)
    }

    /// Raw content bytes (between [`regular_header`](Self::regular_header)
    /// and [`regular_trailer`](Self::regular_trailer)).
    pub fn contents(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.raw(bytes)
    }

    /// Padding and close of a regular file node of `size` bytes.
    pub fn regular_trailer(&mut self, size: u64) -> io::Result<()> {
        self.pad(size)?;
        self.str(b")")
    }

    /// A symlink node.
    pub fn symlink(&mut self, target: &[u8]) -> io::Result<()> {
        self.strs(&[b"(", b"type", b"symlink", b"target", target, b")"])
    }

    /// Opens a directory node; follow with entries, then [`dir_end`](Self::dir_end).
    pub fn dir_start(&mut self) -> io::Result<()> {
        self.strs(&[b"(", b"type", b"directory"])
    }

    /// Opens a directory entry; follow with its node, then [`entry_end`](Self::entry_end).
    pub fn entry_start(&mut self, name: &[u8]) -> io::Result<()> {
        self.strs(&[b"entry", b"(", b"name", name, b"node"])
    }

    /// Closes a directory entry.
    pub fn entry_end(&mut self) -> io::Result<()> {
        self.str(b")")
    }

    /// Closes a directory node.
    pub fn dir_end(&mut self) -> io::Result<()> {
        self.str(b")")
    }

    /// Flushes and returns the sink.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// The path an error of [`dump_path`] happened at, carried inside the
/// returned [`io::Error`] (see [`PathError::of`]).
#[derive(Debug)]
pub struct PathError {
    /// The file-system path being serialised.
    pub path: PathBuf,
    /// The OS error, or `None` for an unsupported file type (socket, FIFO,
    /// device).
    pub source: Option<io::Error>,
}

impl PathError {
    /// The `PathError` inside an error returned by [`dump_path`], if any
    /// (errors of the output sink have none).
    pub fn of(error: &io::Error) -> Option<&PathError> {
        error.get_ref().and_then(|e| e.downcast_ref::<PathError>())
    }
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(e) => write!(f, "{}: {e}", self.path.display()),
            None => write!(f, "file '{}' has an unsupported type", self.path.display()),
        }
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Wraps an I/O error on `path` in a [`PathError`].
fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| {
        let kind = e.kind();
        let error = PathError {
            path: path.to_path_buf(),
            source: Some(e),
        };
        io::Error::new(kind, error)
    }
}

/// An open directory during the walk: its path, sorted entry names, next index.
struct Frame {
    path: PathBuf,
    names: Vec<OsString>,
    next: usize,
}

/// Writes one node; returns the directory frame to descend into, if any.
fn node<W: Write>(nar: &mut NarEncoder<W>, path: &Path) -> io::Result<Option<Frame>> {
    let meta = fs::symlink_metadata(path).map_err(at(path))?;
    let ft = meta.file_type();
    if ft.is_file() {
        let file = fs::File::open(path).map_err(at(path))?;
        let executable = meta.permissions().mode() & 0o100 != 0;
        nar.regular(executable, meta.len(), file)
            .map_err(at(path))?;
        Ok(None)
    } else if ft.is_symlink() {
        let target = fs::read_link(path).map_err(at(path))?;
        nar.symlink(target.as_os_str().as_bytes())?;
        Ok(None)
    } else if ft.is_dir() {
        nar.dir_start()?;
        let mut names = fs::read_dir(path)
            .and_then(|it| {
                it.map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<Vec<_>>>()
            })
            .map_err(at(path))?;
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Ok(Some(Frame {
            path: path.to_path_buf(),
            names,
            next: 0,
        }))
    } else {
        let error = PathError {
            path: path.to_path_buf(),
            source: None,
        };
        Err(io::Error::new(io::ErrorKind::Unsupported, error))
    }
}

/// Serialises `path` (a regular file, symlink or directory tree; symlinks
/// are never followed) to NAR into `out`, byte-identical to
/// `nix-store --dump`. Streaming: memory is bounded by a 64 KiB buffer plus
/// one sorted name list per open directory level. Returns the NAR size.
///
/// A file is executable in the NAR when its owner-execute bit is set.
/// Sockets, FIFOs and devices are an `Unsupported` error. File-system
/// errors carry a [`PathError`] naming the path.
pub fn dump_path(path: impl AsRef<Path>, out: impl Write) -> io::Result<u64> {
    let mut nar = NarEncoder::new(out)?;
    let mut stack: Vec<Frame> = Vec::new();
    if let Some(frame) = node(&mut nar, path.as_ref())? {
        stack.push(frame);
    }
    while let Some(top) = stack.last_mut() {
        if top.next < top.names.len() {
            let name = &top.names[top.next];
            top.next += 1;
            let child = top.path.join(name);
            nar.entry_start(name.as_bytes())?;
            match node(&mut nar, &child)? {
                Some(frame) => stack.push(frame),
                None => nar.entry_end()?,
            }
        } else {
            stack.pop();
            nar.dir_end()?;
            if !stack.is_empty() {
                nar.entry_end()?;
            }
        }
    }
    let written = nar.written();
    nar.finish()?.flush()?;
    Ok(written)
}

/// A [`Write`] sink that hashes and counts what it is given.
#[derive(Debug)]
pub struct HashingWriter {
    hasher: Hasher,
    bytes: u64,
}

impl HashingWriter {
    /// A fresh sink for `algo`.
    pub fn new(algo: HashAlgo) -> Self {
        Self {
            hasher: Hasher::new(algo),
            bytes: 0,
        }
    }

    /// The digest and byte count of everything written.
    pub fn finish(mut self) -> ([u8; 32], u64) {
        (self.hasher.finalize_reset(), self.bytes)
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// SHA-256 and size of `path`'s NAR (what a narinfo's `NarHash` and
/// `NarSize` hold), without materialising the NAR.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("nar-doc-{}", std::process::id()));
/// std::fs::write(&dir, b"hello").unwrap();
/// let (digest, size) = chunker_core::nar::dump_sha256(&dir).unwrap();
/// std::fs::remove_file(&dir).unwrap();
/// assert_eq!(size, 120);
/// assert_eq!(digest.len(), 32);
/// ```
pub fn dump_sha256(path: impl AsRef<Path>) -> io::Result<([u8; 32], u64)> {
    let mut sink = HashingWriter::new(HashAlgo::Sha256);
    dump_path(path, &mut sink)?;
    Ok(sink.finish())
}

/// Writes a NAR from a flat entry list in the order [`entries`](super::entries)
/// gives it (pre-order, root first with an empty path), taking each regular
/// file's contents from `contents` (which may change them, e.g. to rewrite
/// references; the size written is the length returned). Fails with
/// `InvalidInput` when the list is not such a tree. Names are written as
/// given: keep them sorted and unique for a canonical NAR.
///
/// ```
/// use chunker_core::nar::{encode_entries, entries, Kind};
/// let mut nar = Vec::new();
/// let mut enc = chunker_core::nar::NarEncoder::new(&mut nar).unwrap();
/// enc.regular(false, 3, &b"abc"[..]).unwrap();
/// enc.finish().unwrap();
/// let list = entries(&nar).unwrap();
/// let upper = encode_entries(&list, Vec::new(), |_| b"ABC".to_vec()).unwrap();
/// assert_eq!(entries(&upper).unwrap()[0].kind, Kind::Regular { executable: false, size: 3, contents: 96 });
/// ```
pub fn encode_entries<W: Write, C: AsRef<[u8]>>(
    list: &[super::Entry],
    out: W,
    mut contents: impl FnMut(&super::Entry) -> C,
) -> io::Result<W> {
    use super::Kind;
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
    let mut enc = NarEncoder::new(out)?;
    // Paths of the open directories; every node but the root is in an entry.
    let mut open: Vec<&[u8]> = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let path = e.path.as_slice();
        let inside = |dir: &[u8]| {
            dir.is_empty() && !path.is_empty()
                || path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
        };
        while open.last().is_some_and(|dir| !inside(dir)) {
            open.pop();
            enc.dir_end()?;
            if !open.is_empty() {
                enc.entry_end()?;
            }
        }
        match open.last() {
            None if i > 0 || !path.is_empty() => return Err(invalid("not a single rooted tree")),
            None => {}
            Some(dir) => {
                let name = &path[if dir.is_empty() { 0 } else { dir.len() + 1 }..];
                if name.is_empty() || name.contains(&b'/') {
                    return Err(invalid("entry is not a direct child of its directory"));
                }
                enc.entry_start(name)?;
            }
        }
        match &e.kind {
            Kind::Directory => {
                enc.dir_start()?;
                open.push(path);
                continue;
            }
            Kind::Symlink { target } => enc.symlink(target)?,
            Kind::Regular { executable, .. } => {
                let bytes = contents(e);
                let bytes = bytes.as_ref();
                enc.regular(*executable, bytes.len() as u64, bytes)?;
            }
        }
        if !open.is_empty() {
            enc.entry_end()?;
        }
    }
    while open.pop().is_some() {
        enc.dir_end()?;
        if !open.is_empty() {
            enc.entry_end()?;
        }
    }
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nar::{entries, Entry, Kind};

    fn dir(path: &[u8]) -> Entry {
        Entry {
            path: path.to_vec(),
            kind: Kind::Directory,
            start: 0,
        }
    }

    #[test]
    fn encode_entries_round_trips_a_tree_and_rejects_other_lists() {
        let mut nar = Vec::new();
        let mut enc = NarEncoder::new(&mut nar).unwrap();
        enc.dir_start().unwrap();
        for (name, target) in [(&b"a"[..], &b"x"[..]), (b"b", b"y")] {
            enc.entry_start(name).unwrap();
            enc.symlink(target).unwrap();
            enc.entry_end().unwrap();
        }
        enc.dir_end().unwrap();
        enc.finish().unwrap();
        let list = entries(&nar).unwrap();
        let again = encode_entries(&list, Vec::new(), |_| Vec::new()).unwrap();
        assert_eq!(again, nar);

        let rejects = [
            vec![dir(b"a")],             // a root with a name
            vec![dir(b""), dir(b"a/b")], // a grandchild without its parent
            vec![dir(b""), dir(b"")],    // two roots
        ];
        for list in &rejects {
            let err = encode_entries(list, Vec::new(), |_| Vec::new()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{list:?}");
        }
    }
}
