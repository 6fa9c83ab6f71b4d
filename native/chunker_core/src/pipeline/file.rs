//! Reading a file for an ingest on the feeding thread: blocks go to
//! [`super::Pipeline::feed_shared`] as they are read, so no byte is copied
//! between the kernel and the workers.

use super::{Pipeline, Room, SharedInput};
use crate::cdc::Error;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

/// A file being ingested. Its size is taken when it is opened; a file that
/// ends before or grows past it fails with [`FileError::Changed`] (the
/// chunks would describe no version of the file).
pub struct FileSource {
    file: File,
    size: u64,
    read: u64,
}

/// Why a file cannot be ingested.
#[derive(Debug)]
pub enum FileError {
    /// Opening or reading failed.
    Io(io::Error),
    /// The file's size changed while it was read: `expected` at open,
    /// `actual` bytes (so far) read.
    Changed { expected: u64, actual: u64 },
    /// The pipeline refused the bytes (e.g. it was cancelled).
    Pipeline(Error),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Io(e) => write!(f, "I/O error: {e}"),
            FileError::Changed { expected, actual } => write!(
                f,
                "the file changed size while read: {expected} bytes at open, {actual} read"
            ),
            FileError::Pipeline(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FileError {}

/// What one [`FileSource::feed_block`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Fed a block; the pipeline's room afterwards.
    Fed(Room),
    /// The whole file was fed (nothing was read this time).
    Eof,
}

impl FileSource {
    /// Opens `path` (a regular file or anything readable) and notes its size.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, FileError> {
        let file = File::open(path).map_err(FileError::Io)?;
        let meta = file.metadata().map_err(FileError::Io)?;
        if meta.is_dir() {
            return Err(FileError::Io(io::Error::from_raw_os_error(libc::EISDIR)));
        }
        Ok(FileSource {
            file,
            size: meta.len(),
            read: 0,
        })
    }

    /// The size at open.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes read so far.
    pub fn read(&self) -> u64 {
        self.read
    }

    /// Reads up to `max` bytes (at least 1) into a fresh block and feeds it
    /// to `pipeline` without copying.
    pub fn feed_block(&mut self, pipeline: &mut Pipeline, max: usize) -> Result<Step, FileError> {
        let want = (self.size.saturating_sub(self.read)).min(max.max(1) as u64) as usize;
        // One byte past the expected end reveals a file that grew.
        let want = want.max(1);
        let mut block = Vec::with_capacity(want);
        let n = (&mut self.file)
            .take(want as u64)
            .read_to_end(&mut block)
            .map_err(FileError::Io)?;
        let changed = |actual| FileError::Changed {
            expected: self.size,
            actual,
        };
        if n == 0 {
            return if self.read == self.size {
                Ok(Step::Eof)
            } else {
                Err(changed(self.read))
            };
        }
        self.read += n as u64;
        if self.read > self.size {
            return Err(changed(self.read));
        }
        if n < want {
            // `read_to_end` stops early only at the end of the file.
            return Err(changed(self.read));
        }
        let input: Arc<dyn SharedInput> = Arc::new(block);
        pipeline
            .feed_shared(&input, 0..n)
            .map(Step::Fed)
            .map_err(FileError::Pipeline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::HashAlgo;
    use crate::pipeline::test_support::{config, data, Channel};
    use crate::pipeline::{sequential, Options, Output};
    use std::sync::mpsc::channel;
    use std::sync::Mutex;

    fn pipeline() -> (Pipeline, std::sync::mpsc::Receiver<Vec<Output>>) {
        let (tx, rx) = channel();
        let mut options = Options::new(config());
        options.max_in_flight_bytes = u64::MAX;
        (Pipeline::new(options, Channel(Mutex::new(tx))), rx)
    }

    #[test]
    fn blocks_of_a_file_give_the_sequential_chunks() {
        let dir = tempfile::tempdir().unwrap();
        for (len, block) in [
            (0, 7),
            (1, 1),
            (10_000, 333),
            (10_000, 1 << 20),
            (4096, 4096),
        ] {
            let path = dir.path().join(format!("f{len}"));
            let input = data(len, 0);
            std::fs::write(&path, &input).unwrap();
            let (mut p, rx) = pipeline();
            let mut source = FileSource::open(&path).unwrap();
            assert_eq!(source.size(), len as u64);
            while let Step::Fed(_) = source.feed_block(&mut p, block).unwrap() {}
            assert_eq!(source.read(), len as u64);
            let total = p.finish().unwrap();
            let mut got = Vec::new();
            while (got.len() as u64) < total {
                got.extend(rx.recv().unwrap());
            }
            let expected = sequential(&input, &config(), Some(HashAlgo::Sha256), None).unwrap();
            assert_eq!(got, expected, "len {len} block {block}");
        }
    }

    #[test]
    fn missing_directories_and_unreadable_files_fail_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let missing = FileSource::open(dir.path().join("missing")).err().unwrap();
        assert!(matches!(missing, FileError::Io(e) if e.kind() == io::ErrorKind::NotFound));
        let is_dir = FileSource::open(dir.path()).err().unwrap();
        assert!(matches!(is_dir, FileError::Io(e) if e.raw_os_error() == Some(libc::EISDIR)));
        let locked = dir.path().join("locked");
        std::fs::write(&locked, b"secret").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        match FileSource::open(&locked) {
            // Root reads anything: the permission bits do not apply.
            Ok(source) => assert!(root && source.size() == 6),
            Err(FileError::Io(e)) => {
                assert!(!root && e.kind() == io::ErrorKind::PermissionDenied)
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_file_that_shrinks_or_grows_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // The file is rewritten after the first block; growth shows as one
        // byte past the size at open.
        for (new_len, actual) in [(3000, 3000), (6000, 5001)] {
            std::fs::write(&path, data(5000, 0)).unwrap();
            let (mut p, _rx) = pipeline();
            let mut source = FileSource::open(&path).unwrap();
            assert!(matches!(source.feed_block(&mut p, 1000), Ok(Step::Fed(_))));
            std::fs::write(&path, data(new_len, 0)).unwrap();
            let mut result = Ok(Step::Fed(Room::Free));
            while let Ok(Step::Fed(_)) = result {
                result = source.feed_block(&mut p, 1000);
            }
            assert!(
                matches!(
                    result,
                    Err(FileError::Changed { expected: 5000, actual: a }) if a == actual
                ),
                "{new_len}: {result:?}"
            );
        }
    }

    #[test]
    fn a_cancelled_pipeline_refuses_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, data(100, 0)).unwrap();
        let (mut p, _rx) = pipeline();
        p.control().cancel();
        let mut source = FileSource::open(&path).unwrap();
        assert!(matches!(
            source.feed_block(&mut p, 10),
            Err(FileError::Pipeline(Error::Finished))
        ));
    }
}
