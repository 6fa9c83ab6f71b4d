//! Feeding a whole input on a thread of its own: the caller only consumes
//! deliveries. Backpressure makes the thread wait (not spin) for
//! acknowledgements; cancelling stops it within one slice.

use super::file::{FileError, FileSource, Step};
use super::{Pipeline, SharedInput};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the feeder thread reads.
pub enum Input {
    /// Bytes read in place.
    Shared(Arc<dyn SharedInput>),
    /// A file, read block by block.
    File(FileSource),
}

/// How a feeder thread ended.
#[derive(Debug)]
pub enum Outcome {
    /// Everything was fed: the total number of chunks.
    Total(u64),
    /// Reading failed (the ingest is cancelled).
    Failed(FileError),
    /// Cancelled from outside: nothing to report.
    Cancelled,
}

/// Feeds `input` to `pipeline` in slices of at most `slice` bytes on a new
/// thread (at the workers' lowered priority), waiting for room whenever the
/// pipeline is full, then finishes it (the workers deliver the rest) and
/// calls `done` with the outcome. Cancel through a [`super::Control`].
pub fn spawn(
    mut pipeline: Pipeline,
    input: Input,
    slice: usize,
    done: impl FnOnce(Outcome) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let slice = slice.max(1);
    std::thread::Builder::new()
        .name("chunker-feeder".into())
        .spawn(move || {
            crate::threads::lower_priority();
            let outcome = run(&mut pipeline, input, slice);
            match outcome {
                // The workers finish the queued chunks.
                Outcome::Total(_) => pipeline.detach(),
                Outcome::Failed(_) => pipeline.control().cancel(),
                Outcome::Cancelled => {}
            }
            done(outcome);
        })
}

fn run(pipeline: &mut Pipeline, mut input: Input, slice: usize) -> Outcome {
    let mut at = 0;
    loop {
        let shared = Arc::clone(&pipeline.control().shared);
        if !shared.wait_room(|| pipeline.room()) {
            return Outcome::Cancelled;
        }
        let fed = match &mut input {
            Input::Shared(bytes) => {
                let end = bytes.bytes().len().min(at + slice);
                if at == end {
                    Ok(false)
                } else {
                    let range = at..end;
                    at = end;
                    pipeline
                        .feed_shared(bytes, range)
                        .map(|_| true)
                        .map_err(FileError::Pipeline)
                }
            }
            Input::File(file) => file.feed_block(pipeline, slice).map(|s| s != Step::Eof),
        };
        match fed {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) if pipeline.control().is_cancelled() => return Outcome::Cancelled,
            Err(e) => return Outcome::Failed(e),
        }
    }
    match pipeline.finish() {
        Ok(total) => Outcome::Total(total),
        Err(_) => Outcome::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::HashAlgo;
    use crate::pipeline::test_support::{config, data, Channel};
    use crate::pipeline::{sequential, Options, Output};
    use std::sync::mpsc::{channel, Receiver};
    use std::sync::Mutex;
    use std::time::Duration;

    /// A pipeline with `max_in_flight`, fed by a feeder thread; returns the
    /// receivers of deliveries and of the outcome.
    fn start(
        input: Input,
        slice: usize,
        max_in_flight: u64,
    ) -> (
        super::super::Control,
        Receiver<Vec<Output>>,
        Receiver<Outcome>,
        JoinHandle<()>,
    ) {
        let (tx, rx) = channel();
        let mut options = Options::new(config());
        options.max_in_flight_bytes = max_in_flight;
        let p = Pipeline::new(options, Channel(Mutex::new(tx)));
        let control = p.control().clone();
        let (done_tx, done_rx) = channel();
        let handle = spawn(p, input, slice, move |o| done_tx.send(o).unwrap()).unwrap();
        (control, rx, done_rx, handle)
    }

    #[test]
    fn feeds_binaries_and_files_under_backpressure() {
        let input = data(200_000, 1);
        let expected = sequential(&input, &config(), Some(HashAlgo::Sha256), None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &input).unwrap();
        for (k, slice) in [(0, 4096), (1, 777), (0, 1 << 20)] {
            let source = if k == 0 {
                Input::Shared(Arc::new(input.clone()))
            } else {
                Input::File(FileSource::open(&path).unwrap())
            };
            let (control, rx, done, handle) = start(source, slice, 5000);
            let mut got = Vec::new();
            let mut total = None;
            while total != Some(got.len() as u64) {
                if let Ok(batch) = rx.recv_timeout(Duration::from_millis(5)) {
                    // Never more than the bound plus one slice and one chunk.
                    assert!(control.in_flight() <= 5000 + slice as u64 + 1024);
                    control.ack(batch.iter().map(|o| o.chunk.length as u64).sum());
                    got.extend(batch);
                }
                if let Ok(o) = done.try_recv() {
                    match o {
                        Outcome::Total(n) => total = Some(n),
                        other => panic!("{other:?}"),
                    }
                }
            }
            handle.join().unwrap();
            assert_eq!(got, expected, "source {k} slice {slice}");
        }
    }

    #[test]
    fn cancelling_stops_the_thread_and_read_errors_are_reported() {
        let input = data(400_000, 2);
        let (control, rx, done, handle) = start(Input::Shared(Arc::new(input)), 4096, 10_000);
        // Waits for room that never comes (nothing is acknowledged).
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        control.cancel();
        handle.join().unwrap();
        assert!(matches!(done.recv().unwrap(), Outcome::Cancelled));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, data(50_000, 3)).unwrap();
        let source = FileSource::open(&path).unwrap();
        std::fs::write(&path, data(10, 3)).unwrap();
        let (control, _rx, done, handle) = start(Input::File(source), 4096, u64::MAX);
        handle.join().unwrap();
        assert!(matches!(
            done.recv().unwrap(),
            Outcome::Failed(FileError::Changed {
                expected: 50_000,
                actual: 10
            })
        ));
        assert!(control.is_cancelled());
    }
}
