//! Streaming NAR parser: fed in any pieces, bounded memory, strict.
//!
//! It accepts exactly the canonical encoding `nix-store --dump` writes (see
//! the [module docs](super)) and rejects everything else with the byte
//! offset and a [`Reason`]: wrong magic, tokens out of order or unknown,
//! non-zero padding, invalid names (empty, `.`, `..`, containing `/` or NUL,
//! longer than [`MAX_NAME`]), names not strictly increasing (unsorted or
//! duplicate), symlink targets empty, containing NUL or longer than
//! [`MAX_TARGET`], paths longer than [`MAX_PATH`], truncation and trailing
//! bytes. Memory is bounded by one token ([`MAX_PATH`] + 16 bytes), the
//! current path and one previous name per open directory level; file
//! contents pass through as slices of the fed data, never copied.

use super::{padding, MAGIC};
use std::fmt;
use std::io::{self, Read};

/// Longest entry name (Linux `NAME_MAX`).
pub const MAX_NAME: usize = 255;
/// Longest symlink target (Linux `PATH_MAX - 1`).
pub const MAX_TARGET: usize = 4095;
/// Longest path of an entry relative to the NAR root (Linux `PATH_MAX`).
pub const MAX_PATH: usize = 4096;

/// Why a NAR is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Does not start with the `nix-archive-1` string.
    BadMagic,
    /// A token other than the one the grammar requires here.
    UnexpectedToken,
    /// A padding byte is not zero.
    BadPadding,
    /// Empty, `.`, `..`, or contains `/` or NUL.
    InvalidName,
    /// A name longer than [`MAX_NAME`].
    NameTooLong,
    /// A name not greater than the previous one in its directory.
    UnsortedNames,
    /// The same name twice in a directory.
    DuplicateName,
    /// An empty symlink target, or one containing NUL.
    InvalidTarget,
    /// A symlink target longer than [`MAX_TARGET`].
    TargetTooLong,
    /// A path longer than [`MAX_PATH`].
    PathTooLong,
    /// A file size that runs past 2^64.
    SizeOverflow,
    /// The NAR ends before its root node is closed.
    Truncated,
    /// Bytes after the end of the root node.
    TrailingData,
}

impl Reason {
    /// The reason as a snake_case name (`"bad_padding"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadMagic => "bad_magic",
            Self::UnexpectedToken => "unexpected_token",
            Self::BadPadding => "bad_padding",
            Self::InvalidName => "invalid_name",
            Self::NameTooLong => "name_too_long",
            Self::UnsortedNames => "unsorted_names",
            Self::DuplicateName => "duplicate_name",
            Self::InvalidTarget => "invalid_target",
            Self::TargetTooLong => "target_too_long",
            Self::PathTooLong => "path_too_long",
            Self::SizeOverflow => "size_overflow",
            Self::Truncated => "truncated",
            Self::TrailingData => "trailing_data",
        }
    }
}

/// A malformed NAR: where and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FormatError {
    /// Byte offset in the NAR of the offending token or byte.
    pub offset: u64,
    pub reason: Reason,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed NAR at byte {}: {}",
            self.offset,
            self.reason.as_str()
        )
    }
}

impl std::error::Error for FormatError {}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A regular file whose `size` content bytes start at NAR offset `contents`.
    Regular {
        executable: bool,
        size: u64,
        contents: u64,
    },
    Symlink {
        target: Vec<u8>,
    },
    Directory,
}

/// One node of the tree, reported in NAR (pre-)order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Path relative to the root, components joined by `/`; empty for the root.
    pub path: Vec<u8>,
    pub kind: Kind,
    /// NAR offset where the entry's metadata starts: its `entry` token, or
    /// 0 for the root.
    pub start: u64,
}

/// What the parser reports while fed.
#[derive(Debug)]
pub enum Event<'a> {
    /// A node, as soon as its header is complete (for a regular file: before
    /// its contents).
    Entry(Entry),
    /// Content bytes of the last regular file, starting at NAR `offset`.
    Contents { offset: u64, data: &'a [u8] },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Magic,
    NodeOpen,
    TypeKey,
    TypeValue,
    RegularField,
    ExecutableValue,
    ContentsKey,
    Size { executable: bool },
    Data { remaining: u64 },
    Padding { remaining: u64 },
    NodeClose,
    TargetKey,
    TargetValue,
    DirField,
    EntryOpen,
    NameKey,
    NameValue,
    NodeKey,
    EntryClose,
    Done,
}

impl State {
    /// Longest string this state accepts, and the reason when exceeded.
    fn max_len(self) -> (usize, Reason) {
        let literal = |s: &[u8]| (s.len(), Reason::UnexpectedToken);
        match self {
            State::Magic => (MAGIC.len(), Reason::BadMagic),
            State::NodeOpen | State::EntryOpen | State::NodeClose | State::EntryClose => {
                literal(b"(")
            }
            State::TypeKey | State::NameKey | State::NodeKey => literal(b"type"),
            State::TypeValue => literal(b"directory"),
            State::RegularField => literal(b"executable"),
            State::ExecutableValue => (0, Reason::UnexpectedToken),
            State::ContentsKey => literal(b"contents"),
            State::TargetKey => literal(b"target"),
            State::TargetValue => (MAX_TARGET, Reason::TargetTooLong),
            State::DirField => literal(b"entry"),
            State::NameValue => (MAX_NAME, Reason::NameTooLong),
            State::Size { .. } | State::Data { .. } | State::Padding { .. } | State::Done => {
                (0, Reason::UnexpectedToken)
            }
        }
    }
}

struct Dir {
    /// Length of `path` for this directory (children append `/name`).
    path_len: usize,
    prev: Option<Vec<u8>>,
}

/// The push parser. Feed it with [`feed`](Self::feed), end with
/// [`finish`](Self::finish). An error is final: later calls repeat it.
pub struct NarReader {
    state: State,
    /// Bytes consumed so far.
    offset: u64,
    /// The token being accumulated and its start offset.
    tok: Vec<u8>,
    tok_start: u64,
    /// Total token length once its length field is known (else 8).
    need: usize,
    path: Vec<u8>,
    dirs: Vec<Dir>,
    entry_start: u64,
    executable: bool,
    /// String length of the token being accumulated, once known.
    tok_len: usize,
    /// Padding due after the current file's contents.
    pad_due: u64,
    error: Option<FormatError>,
}

impl Default for NarReader {
    fn default() -> Self {
        Self::new()
    }
}

impl NarReader {
    pub fn new() -> Self {
        Self {
            state: State::Magic,
            offset: 0,
            tok: Vec::with_capacity(64),
            tok_start: 0,
            need: 8,
            path: Vec::new(),
            dirs: Vec::new(),
            entry_start: 0,
            executable: false,
            tok_len: 0,
            pad_due: 0,
            error: None,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether the root node is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn fail(&mut self, offset: u64, reason: Reason) -> FormatError {
        let e = FormatError { offset, reason };
        self.error = Some(e);
        e
    }

    /// Parses the next bytes, calling `f` for each event.
    pub fn feed(&mut self, data: &[u8], f: &mut impl FnMut(Event<'_>)) -> Result<(), FormatError> {
        self.feed_some(data, usize::MAX, f).map(|_| ())
    }

    /// Like [`feed`](Self::feed) but stops after about `budget` steps (a
    /// step is one token piece or one run of content/padding bytes), so a
    /// caller can bound the time spent; returns how many bytes of `data`
    /// were consumed (all of them unless the budget ran out). Feed the rest
    /// next.
    pub fn feed_some(
        &mut self,
        data: &[u8],
        budget: usize,
        f: &mut impl FnMut(Event<'_>),
    ) -> Result<usize, FormatError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let total = data.len();
        let mut data = data;
        let mut steps = 0usize;
        while !data.is_empty() {
            if steps >= budget {
                break;
            }
            steps += 1;
            match self.state {
                State::Done => return Err(self.fail(self.offset, Reason::TrailingData)),
                State::Data { remaining } => {
                    let n = remaining.min(data.len() as u64) as usize;
                    f(Event::Contents {
                        offset: self.offset,
                        data: &data[..n],
                    });
                    self.offset += n as u64;
                    data = &data[n..];
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::Padding {
                            remaining: self.pad_due,
                        }
                    } else {
                        State::Data { remaining }
                    };
                }
                State::Padding { remaining } => {
                    let n = remaining.min(data.len() as u64) as usize;
                    if let Some(i) = data[..n].iter().position(|&b| b != 0) {
                        return Err(self.fail(self.offset + i as u64, Reason::BadPadding));
                    }
                    self.offset += n as u64;
                    data = &data[n..];
                    self.state = if remaining == n as u64 {
                        State::NodeClose
                    } else {
                        State::Padding {
                            remaining: remaining - n as u64,
                        }
                    };
                }
                _ => {
                    if self.tok.is_empty() {
                        self.tok_start = self.offset;
                    }
                    let n = (self.need - self.tok.len()).min(data.len());
                    self.tok.extend_from_slice(&data[..n]);
                    self.offset += n as u64;
                    data = &data[n..];
                    if self.tok.len() == self.need {
                        self.token_progress(f)?;
                    }
                }
            }
        }
        Ok(total - data.len())
    }

    /// Ends the input: `Truncated` unless the root node is complete.
    pub fn finish(&mut self) -> Result<(), FormatError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.state == State::Done {
            Ok(())
        } else {
            Err(self.fail(self.offset, Reason::Truncated))
        }
    }

    /// The accumulated token reached `need` bytes: either its length field
    /// is complete (then size the body) or the whole token is.
    fn token_progress(&mut self, f: &mut impl FnMut(Event<'_>)) -> Result<(), FormatError> {
        let word = u64::from_le_bytes(self.tok[..8].try_into().expect("8 bytes"));
        if let State::Size { executable } = self.state {
            self.tok.clear();
            let contents = self.offset;
            if contents
                .checked_add(word)
                .and_then(|e| e.checked_add(16))
                .is_none()
            {
                return Err(self.fail(self.tok_start, Reason::SizeOverflow));
            }
            f(Event::Entry(Entry {
                path: self.path.clone(),
                kind: Kind::Regular {
                    executable,
                    size: word,
                    contents,
                },
                start: self.entry_start,
            }));
            self.pad_due = padding(word) as u64;
            self.state = if word == 0 {
                State::Padding {
                    remaining: self.pad_due,
                }
            } else {
                State::Data { remaining: word }
            };
            return Ok(());
        }
        if self.tok.len() == 8 {
            let (max, reason) = self.state.max_len();
            if word > max as u64 {
                return Err(self.fail(self.tok_start, reason));
            }
            self.tok_len = word as usize;
            self.need = 8 + self.tok_len + padding(word);
            if self.need > 8 {
                return Ok(());
            }
        }
        let len = self.tok_len;
        if let Some(i) = self.tok[8 + len..].iter().position(|&b| b != 0) {
            let at = self.tok_start + (8 + len + i) as u64;
            return Err(self.fail(at, Reason::BadPadding));
        }
        let tok = std::mem::take(&mut self.tok);
        let result = self.string(&tok[8..8 + len], f);
        self.tok = tok;
        self.tok.clear();
        self.need = 8;
        if let Err(e) = result {
            self.error = Some(e);
        }
        result
    }

    /// A complete string token `s` in the current state.
    fn string(&mut self, s: &[u8], f: &mut impl FnMut(Event<'_>)) -> Result<(), FormatError> {
        let at = self.tok_start;
        let unexpected = FormatError {
            offset: at,
            reason: Reason::UnexpectedToken,
        };
        let expect = |lit: &[u8], next: State| if s == lit { Ok(next) } else { Err(unexpected) };
        self.state = match self.state {
            State::Magic if s == MAGIC => State::NodeOpen,
            State::Magic => {
                return Err(FormatError {
                    offset: at,
                    reason: Reason::BadMagic,
                })
            }
            State::NodeOpen => expect(b"(", State::TypeKey)?,
            State::TypeKey => expect(b"type", State::TypeValue)?,
            State::TypeValue => match s {
                b"regular" => {
                    self.executable = false;
                    State::RegularField
                }
                b"symlink" => State::TargetKey,
                b"directory" => {
                    f(Event::Entry(Entry {
                        path: self.path.clone(),
                        kind: Kind::Directory,
                        start: self.entry_start,
                    }));
                    self.dirs.push(Dir {
                        path_len: self.path.len(),
                        prev: None,
                    });
                    State::DirField
                }
                _ => return Err(unexpected),
            },
            State::RegularField => match s {
                b"executable" => State::ExecutableValue,
                b"contents" => {
                    self.need = 8;
                    State::Size { executable: false }
                }
                _ => return Err(unexpected),
            },
            State::ExecutableValue => expect(b"", State::ContentsKey)?,
            State::ContentsKey => expect(b"contents", State::Size { executable: true })?,
            State::TargetKey => expect(b"target", State::TargetValue)?,
            State::TargetValue => {
                if s.is_empty() || s.contains(&0) {
                    return Err(FormatError {
                        offset: at,
                        reason: Reason::InvalidTarget,
                    });
                }
                f(Event::Entry(Entry {
                    path: self.path.clone(),
                    kind: Kind::Symlink { target: s.to_vec() },
                    start: self.entry_start,
                }));
                State::NodeClose
            }
            State::NodeClose => {
                expect(b")", State::NodeClose)?;
                self.after_node()
            }
            State::DirField => match s {
                b"entry" => {
                    self.entry_start = at;
                    State::EntryOpen
                }
                b")" => {
                    self.dirs.pop();
                    self.after_node()
                }
                _ => return Err(unexpected),
            },
            State::EntryOpen => expect(b"(", State::NameKey)?,
            State::NameKey => expect(b"name", State::NameValue)?,
            State::NameValue => {
                self.name(s, at)?;
                State::NodeKey
            }
            State::NodeKey => expect(b"node", State::NodeOpen)?,
            State::EntryClose => {
                expect(b")", State::DirField)?;
                let dir = self.dirs.last().expect("inside a directory");
                self.path.truncate(dir.path_len);
                State::DirField
            }
            State::Size { .. } | State::Data { .. } | State::Padding { .. } | State::Done => {
                unreachable!("not a string state")
            }
        };
        Ok(())
    }

    /// After a node's closing `)`: close its entry, or end the NAR.
    fn after_node(&self) -> State {
        if self.dirs.is_empty() {
            State::Done
        } else {
            State::EntryClose
        }
    }

    /// Validates an entry name and appends it to the path.
    fn name(&mut self, name: &[u8], at: u64) -> Result<(), FormatError> {
        let fail = |reason| Err(FormatError { offset: at, reason });
        if name.is_empty()
            || name == b"."
            || name == b".."
            || name.contains(&b'/')
            || name.contains(&0)
        {
            return fail(Reason::InvalidName);
        }
        let dir = self.dirs.last_mut().expect("inside a directory");
        match dir.prev.as_deref().map(|p| name.cmp(p)) {
            Some(std::cmp::Ordering::Less) => return fail(Reason::UnsortedNames),
            Some(std::cmp::Ordering::Equal) => return fail(Reason::DuplicateName),
            _ => {}
        }
        let prev = dir.prev.get_or_insert_with(Vec::new);
        prev.clear();
        prev.extend_from_slice(name);
        let base = dir.path_len;
        let len = base + usize::from(base > 0) + name.len();
        if len > MAX_PATH {
            return fail(Reason::PathTooLong);
        }
        self.path.truncate(base);
        if base > 0 {
            self.path.push(b'/');
        }
        self.path.extend_from_slice(name);
        Ok(())
    }
}

/// An error reading a NAR from an [`io::Read`].
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Format(FormatError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "reading NAR: {e}"),
            Self::Format(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<FormatError> for ReadError {
    fn from(e: FormatError) -> Self {
        Self::Format(e)
    }
}

/// Parses a whole NAR from `reader` through a `buffer_size` buffer, calling
/// `f` for each event; returns the NAR size.
pub fn read_nar(
    mut reader: impl Read,
    buffer_size: usize,
    mut f: impl FnMut(Event<'_>),
) -> Result<u64, ReadError> {
    let mut parser = NarReader::new();
    let mut buffer = vec![0u8; buffer_size.max(1)];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        parser.feed(&buffer[..n], &mut f)?;
    }
    parser.finish()?;
    Ok(parser.offset())
}

/// All entries of an in-memory NAR.
///
/// ```
/// use chunker_core::nar::{entries, Kind, NarEncoder};
/// let mut nar = NarEncoder::new(Vec::new()).unwrap();
/// nar.regular(true, 2, &b"hi"[..]).unwrap();
/// let nar = nar.finish().unwrap();
/// let all = entries(&nar).unwrap();
/// assert_eq!(all[0].kind, Kind::Regular { executable: true, size: 2, contents: 128 });
/// ```
pub fn entries(nar: &[u8]) -> Result<Vec<Entry>, FormatError> {
    let mut out = Vec::new();
    let mut parser = NarReader::new();
    parser.feed(nar, &mut |e| {
        if let Event::Entry(entry) = e {
            out.push(entry)
        }
    })?;
    parser.finish()?;
    Ok(out)
}
