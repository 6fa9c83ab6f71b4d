//! Unpacking a NAR to a directory, like `nix-store --restore`, safely.
//!
//! The target must not exist; it becomes the NAR's root (a file, symlink or
//! directory). Every node is created fresh (`mkdir`, `O_CREAT|O_EXCL`,
//! `symlink`), so nothing existing is overwritten and no symlink is ever
//! followed: names are validated by the [reader](super::reader) (no `/`,
//! `.`, `..` or NUL), and every parent directory is one this unpack created.
//! Modes are Nix's: files 0666 and directories 0777 minus the umask,
//! executables get `+x` for all. On any error the partially written target
//! is removed.

use super::reader::{Event, FormatError, Kind, NarReader, ReadError};
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why an unpack failed.
#[derive(Debug)]
pub enum UnpackError {
    /// The NAR is malformed.
    Format(FormatError),
    /// A file-system error at `path` (the target existing is `AlreadyExists`).
    Io { path: PathBuf, source: io::Error },
    /// Reading the NAR failed.
    Read(io::Error),
}

impl fmt::Display for UnpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(e) => e.fmt(f),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Read(e) => write!(f, "reading NAR: {e}"),
        }
    }
}

impl std::error::Error for UnpackError {}

/// A push-style unpacker: [`feed`](Self::feed) NAR bytes, then
/// [`finish`](Self::finish).
pub struct Unpacker {
    target: PathBuf,
    reader: NarReader,
    file: Option<(PathBuf, File)>,
    started: bool,
    failed: bool,
}

impl Unpacker {
    /// Prepares to unpack into `target`, which must not exist (not even as
    /// a dangling symlink); its parent must.
    pub fn new(target: impl AsRef<Path>) -> Result<Self, UnpackError> {
        let target = target.as_ref().to_path_buf();
        match fs::symlink_metadata(&target) {
            Ok(_) => {
                return Err(UnpackError::Io {
                    path: target,
                    source: io::Error::from_raw_os_error(17), // EEXIST
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(UnpackError::Io {
                    path: target,
                    source,
                })
            }
        }
        Ok(Self {
            target,
            reader: NarReader::new(),
            file: None,
            started: false,
            failed: false,
        })
    }

    /// Unpacks the next NAR bytes.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), UnpackError> {
        if self.failed {
            return Err(self.stale());
        }
        let mut fs_error: Option<UnpackError> = None;
        let (target, file, started) = (&self.target, &mut self.file, &mut self.started);
        let parsed = self.reader.feed(data, &mut |event| {
            if fs_error.is_none() {
                if let Err(e) = apply(target, file, started, event) {
                    fs_error = Some(e);
                }
            }
        });
        let result = match (fs_error, parsed) {
            (Some(e), _) => Err(e),
            (None, Err(e)) => Err(UnpackError::Format(e)),
            (None, Ok(())) => Ok(()),
        };
        result.inspect_err(|_| self.abort())
    }

    /// Checks the NAR is complete and closes the last file.
    pub fn finish(mut self) -> Result<(), UnpackError> {
        if self.failed {
            return Err(self.stale());
        }
        if let Err(e) = self.reader.finish() {
            self.abort();
            return Err(UnpackError::Format(e));
        }
        self.file = None;
        Ok(())
    }

    /// Removes what was created (the target did not exist before).
    fn abort(&mut self) {
        self.failed = true;
        self.file = None;
        if self.started {
            let _ = match fs::symlink_metadata(&self.target) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&self.target),
                Ok(_) => fs::remove_file(&self.target),
                Err(e) => Err(e),
            };
        }
    }

    fn stale(&self) -> UnpackError {
        UnpackError::Io {
            path: self.target.clone(),
            source: io::Error::other("unpack already failed"),
        }
    }
}

/// Applies one parser event to the file system.
fn apply(
    target: &Path,
    file: &mut Option<(PathBuf, File)>,
    started: &mut bool,
    event: Event<'_>,
) -> Result<(), UnpackError> {
    let io_at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| UnpackError::Io { path, source }
    };
    match event {
        Event::Contents { data, .. } => {
            let (path, f) = file.as_mut().expect("contents follow a regular entry");
            f.write_all(data).map_err(io_at(path))
        }
        Event::Entry(entry) => {
            *file = None;
            let path = if entry.path.is_empty() {
                target.to_path_buf()
            } else {
                target.join(OsStr::from_bytes(&entry.path))
            };
            let result = match &entry.kind {
                Kind::Directory => fs::create_dir(&path),
                Kind::Symlink { target } => {
                    std::os::unix::fs::symlink(OsStr::from_bytes(target), &path)
                }
                Kind::Regular { executable, .. } => {
                    let f = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path);
                    f.and_then(|f| {
                        if *executable {
                            let mode = f.metadata()?.permissions().mode();
                            f.set_permissions(fs::Permissions::from_mode(mode | 0o111))?;
                        }
                        *file = Some((path.clone(), f));
                        Ok(())
                    })
                }
            };
            if result.is_ok() {
                *started = true;
            }
            result.map_err(io_at(&path))
        }
    }
}

/// Unpacks the NAR read from `reader` into `target` (see the module docs).
pub fn unpack(mut reader: impl Read, target: impl AsRef<Path>) -> Result<(), UnpackError> {
    let mut unpacker = Unpacker::new(target)?;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                unpacker.abort();
                return Err(UnpackError::Read(e));
            }
        };
        unpacker.feed(&buffer[..n])?;
    }
    unpacker.finish()
}

impl From<ReadError> for UnpackError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => Self::Read(e),
            ReadError::Format(e) => Self::Format(e),
        }
    }
}
