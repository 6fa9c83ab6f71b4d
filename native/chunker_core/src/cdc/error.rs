use std::fmt;

/// Errors from chunking.
#[derive(Debug)]
pub enum Error {
    /// An option is out of bounds; names the field and why.
    InvalidOptions { field: &'static str, reason: String },
    /// The stream was already finished.
    Finished,
    /// A stream offset would overflow `u64`.
    Overflow,
    /// Reading the input failed.
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidOptions { field, reason } => {
                write!(f, "invalid option {field}: {reason}")
            }
            Error::Finished => f.write_str("the stream is already finished"),
            Error::Overflow => f.write_str("stream offset overflows u64"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}
