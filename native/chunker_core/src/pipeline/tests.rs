use super::*;
use proptest::prelude::*;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

enum Msg {
    Batch(Vec<Output>),
    Ask(Vec<(u64, [u8; 32])>),
    Fail(String),
}

struct TestSink(Mutex<Sender<Msg>>);

impl Sink for TestSink {
    fn deliver(&self, batch: Vec<Output>) -> bool {
        lock(&self.0).send(Msg::Batch(batch)).is_ok()
    }
    fn ask(&self, batch: Vec<(u64, [u8; 32])>) -> bool {
        lock(&self.0).send(Msg::Ask(batch)).is_ok()
    }
    fn fail(&self, reason: String) {
        let _ = lock(&self.0).send(Msg::Fail(reason));
    }
}

fn sink() -> (TestSink, Receiver<Msg>) {
    let (tx, rx) = channel();
    (TestSink(Mutex::new(tx)), rx)
}

/// An invertible toy codec: XOR and a length prefix.
fn toy_compress(data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend(data.iter().map(|b| b ^ 0x5a));
    Ok(())
}

fn toy_decompress(data: &[u8]) -> Vec<u8> {
    let n = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
    assert_eq!(n, data.len() - 4);
    data[4..].iter().map(|b| b ^ 0x5a).collect()
}

fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Runs make some chunks repeat.
            if (i / 3000) % 3 == 0 {
                (i % 7) as u8
            } else {
                x as u8
            }
        })
        .collect()
}

fn small_config() -> ChunkerConfig {
    ChunkerConfig::new(64, 256, 1024, 1).unwrap()
}

/// Feeds `input` in `pieces`, honouring backpressure; returns the outputs
/// and the largest in-flight count seen.
fn drive(p: Pipeline, rx: &Receiver<Msg>, input: &[u8], pieces: &[usize]) -> (Vec<Output>, u64) {
    drive_with(p, rx, input, pieces, &[Feed::Copy])
}

/// How `drive_with` hands over a piece.
#[derive(Debug, Clone, Copy)]
enum Feed {
    Copy,
    /// A range of one shared buffer holding the whole input.
    SharedWhole,
    /// A shared buffer of its own.
    SharedPiece,
}

fn feed_mode() -> impl Strategy<Value = Feed> {
    prop_oneof![
        Just(Feed::Copy),
        Just(Feed::SharedWhole),
        Just(Feed::SharedPiece)
    ]
}

/// `drive` feeding piece `i` the way `modes[i % len]` says.
fn drive_with(
    mut p: Pipeline,
    rx: &Receiver<Msg>,
    input: &[u8],
    pieces: &[usize],
    modes: &[Feed],
) -> (Vec<Output>, u64) {
    let whole: Arc<dyn SharedInput> = Arc::new(input.to_vec());
    let control = p.control().clone();
    let mut outputs = Vec::new();
    let mut peak = 0;
    // Returns the room after an acknowledgement.
    let handle = |msg: Msg, outputs: &mut Vec<Output>| match msg {
        Msg::Batch(batch) => {
            let bytes = batch.iter().map(|o| o.chunk.length as u64).sum();
            outputs.extend(batch);
            Some(control.ack(bytes))
        }
        Msg::Ask(asks) => {
            let answers: Vec<(u64, bool)> = asks.iter().map(|&(s, d)| (s, d[0] % 2 == 0)).collect();
            control.decide(&answers);
            None
        }
        Msg::Fail(reason) => panic!("failed: {reason}"),
    };
    let mut at = 0;
    let mut i = 0;
    while at < input.len() {
        let n = pieces[i % pieces.len()].clamp(1, input.len() - at);
        let mut room = match modes[i % modes.len()] {
            Feed::Copy => p.feed(&input[at..at + n]),
            Feed::SharedWhole => p.feed_shared(&whole, at..at + n),
            Feed::SharedPiece => {
                // Padding on both sides: only the range counts.
                let mut own = vec![0xee; 3];
                own.extend_from_slice(&input[at..at + n]);
                own.push(0xee);
                p.feed_shared(&(Arc::new(own) as Arc<dyn SharedInput>), 3..3 + n)
            }
        }
        .unwrap();
        i += 1;
        at += n;
        peak = peak.max(control.in_flight());
        while room == Room::Full {
            let msg = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("a delivery");
            room = handle(msg, &mut outputs).unwrap_or(Room::Full);
        }
    }
    let total = p.finish().unwrap();
    while (outputs.len() as u64) < total {
        let msg = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a delivery");
        handle(msg, &mut outputs);
    }
    std::thread::sleep(Duration::from_millis(1));
    assert!(rx.try_recv().is_err(), "nothing after the last chunk");
    (outputs, peak)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn equals_the_sequential_stages(
        len in 0usize..40_000,
        seed in any::<u64>(),
        pieces in proptest::collection::vec(1usize..5000, 1..8),
        max_in_flight in 1u64..20_000,
        modes in proptest::collection::vec(feed_mode(), 1..4),
    ) {
        let input = data(len, seed);
        let (s, rx) = sink();
        let mut options = Options::new(small_config());
        options.compressor = Some(Arc::new(toy_compress));
        options.max_in_flight_bytes = max_in_flight;
        options.payloads = true;
        let (outputs, peak) = drive_with(Pipeline::new(options, s), &rx, &input, &pieces, &modes);
        let expected = sequential(&input, &small_config(), Some(HashAlgo::Sha256), Some(&toy_compress)).unwrap();
        prop_assert_eq!(outputs.len(), expected.len());
        for (o, e) in outputs.iter().zip(&expected) {
            prop_assert_eq!((o.seq, o.chunk, o.digest, o.known), (e.seq, e.chunk, e.digest, false));
            let raw = &input[o.chunk.offset as usize..o.chunk.end() as usize];
            prop_assert_eq!(toy_decompress(o.compressed.as_ref().unwrap()), raw.to_vec());
            prop_assert_eq!(o.data.as_deref(), Some(raw));
        }
        let biggest_piece = *pieces.iter().max().unwrap() as u64;
        prop_assert!(peak <= max_in_flight + biggest_piece + 1024, "peak {} > bound", peak);
    }
}

#[test]
fn known_set_skips_compression_of_known_chunks() {
    let input = data(60_000, 3);
    let expected = sequential(&input, &small_config(), Some(HashAlgo::Blake3), None).unwrap();
    let known: HashSet<[u8; 32]> = expected
        .iter()
        .step_by(2)
        .map(|o| o.digest.unwrap())
        .collect();
    let (s, rx) = sink();
    let mut options = Options::new(small_config());
    options.algo = Some(HashAlgo::Blake3);
    options.compressor = Some(Arc::new(toy_compress));
    options.known = Known::Set(known.clone());
    let (outputs, _) = drive(Pipeline::new(options, s), &rx, &input, &[4096]);
    assert_eq!(outputs.len(), expected.len());
    let mut skipped = 0;
    for (o, e) in outputs.iter().zip(&expected) {
        assert_eq!((o.chunk, o.digest), (e.chunk, e.digest));
        let is_known = known.contains(&e.digest.unwrap());
        assert_eq!(o.known, is_known);
        assert_eq!(o.compressed.is_none(), is_known);
        skipped += is_known as usize;
    }
    assert!(skipped > 0 && skipped < outputs.len());
}

#[test]
fn ask_mode_follows_the_answers() {
    let input = data(50_000, 11);
    let (s, rx) = sink();
    let mut options = Options::new(small_config());
    options.compressor = Some(Arc::new(toy_compress));
    options.known = Known::Ask;
    options.max_in_flight_bytes = 5000;
    let (outputs, _) = drive(Pipeline::new(options, s), &rx, &input, &[777, 3000]);
    let expected = sequential(&input, &small_config(), Some(HashAlgo::Sha256), None).unwrap();
    assert_eq!(outputs.len(), expected.len());
    for (o, e) in outputs.iter().zip(&expected) {
        assert_eq!((o.chunk, o.digest), (e.chunk, e.digest));
        // `drive` answers "known" for digests with an even first byte.
        assert_eq!(o.known, e.digest.unwrap()[0] % 2 == 0);
        assert_eq!(o.compressed.is_some(), !o.known);
    }
}

#[test]
fn empty_input_has_no_chunks() {
    let (s, rx) = sink();
    let mut p = Pipeline::new(Options::new(small_config()), s);
    p.feed(&[]).unwrap();
    assert_eq!(p.finish().unwrap(), 0);
    drop(p);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn cancel_stops_deliveries_and_releases_bytes() {
    let big = data(4 << 20, 5);
    for _ in 0..5 {
        let (s, rx) = sink();
        let mut options = Options::new(ChunkerConfig::default());
        options.compressor = Some(Arc::new(|d: &[u8], out: &mut Vec<u8>| {
            std::thread::sleep(Duration::from_millis(2));
            out.extend_from_slice(d);
            Ok(())
        }));
        let mut p = Pipeline::new(options, s);
        p.feed(&big).unwrap();
        let shared = Arc::downgrade(&p.control().shared);
        drop(p);
        // Queued jobs see the flag and drop their bytes; then the state goes.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while shared.strong_count() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "jobs still hold the state"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // At most the batches sent before the cancel.
        let delivered: usize = rx
            .try_iter()
            .map(|m| match m {
                Msg::Batch(b) => b.len(),
                _ => panic!("unexpected message"),
            })
            .sum();
        assert!(delivered < 8, "cancel stopped the work");
    }
}

#[test]
fn a_gone_sink_cancels() {
    let (s, rx) = sink();
    drop(rx);
    let mut p = Pipeline::new(Options::new(small_config()), s);
    p.feed(&data(20_000, 1)).unwrap();
    let control = p.control().clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !control.is_cancelled() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(p.feed(b"more").is_err());
}

#[test]
fn a_compressor_error_fails_the_ingest() {
    let (s, rx) = sink();
    let mut options = Options::new(small_config());
    options.compressor = Some(Arc::new(
        |_: &[u8], _: &mut Vec<u8>| Err("boom".to_string()),
    ));
    let mut p = Pipeline::new(options, s);
    p.feed(&data(5_000, 1)).unwrap();
    let msg = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(msg, Msg::Fail(ref r) if r == "boom"));
    assert!(p.control().is_cancelled() || p.finish().is_err() || rx.try_recv().is_err());
}
