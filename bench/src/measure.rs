//! The closed-loop driver and the statistics.
//!
//! Each of `concurrency` workers sends one request, waits for the answer,
//! and sends the next, for a warm-up period and then a measured window. A
//! request counts when it *started* inside the window; no new request starts
//! after the window ends (the last ones are awaited and counted). Latency is
//! the time from just before the client call to its return, as the bench
//! process sees it: client encoding, the loopback round trip, the server and
//! the database, and client decoding. Throughput is successful requests in
//! the window divided by its length.
//!
//! Not measured: opening sessions or pools (done before the warm-up),
//! coordinated omission (a closed loop never queues requests behind a slow
//! one, so tail latency under an open arrival rate would be worse).

use crate::targets::Worker;
use std::time::{Duration, Instant};

/// How long to run, warm-up first.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one worker saw in the measured window.
#[derive(Debug, Default)]
pub struct WorkerSamples {
    pub latencies: Vec<Duration>,
    pub bytes: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// All workers of one run, merged.
#[derive(Debug, Clone)]
pub struct Stats {
    pub concurrency: usize,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub throughput: f64,
    /// Mean size of an answer's payload in bytes (0 when the target has none).
    pub mean_bytes: u64,
    pub mean: Duration,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Runs every worker in a closed loop for the warm-up and the window, and
/// merges what they saw. A failed request is counted, not retried, and the
/// worker goes on. The workers come back so that their sessions can be
/// closed cleanly.
pub async fn drive(window: Window, workers: Vec<Worker>) -> (Stats, Vec<Worker>) {
    let concurrency = workers.len();
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let end = measure_from + window.duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for (index, mut worker) in workers.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut samples = WorkerSamples::default();
            // Spread the workers' parameter sequences apart.
            let mut n = index as u64 * 7_919;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let outcome = worker.call(n).await;
                let elapsed = t0.elapsed();
                n += 1;
                if t0 < measure_from {
                    continue;
                }
                match outcome {
                    Ok(bytes) => {
                        samples.latencies.push(elapsed);
                        samples.bytes += bytes;
                    }
                    Err(e) => {
                        samples.errors += 1;
                        if samples.first_error.is_none() {
                            samples.first_error = Some(format!("{e:#}"));
                        }
                    }
                }
            }
            (samples, worker)
        }));
    }
    let mut back = Vec::with_capacity(concurrency);
    let mut merged = WorkerSamples::default();
    for task in tasks {
        match task.await {
            Ok((s, worker)) => {
                back.push(worker);
                merged.latencies.extend(s.latencies);
                merged.bytes += s.bytes;
                merged.errors += s.errors;
                if merged.first_error.is_none() {
                    merged.first_error = s.first_error;
                }
            }
            Err(e) => {
                merged.errors += 1;
                merged
                    .first_error
                    .get_or_insert_with(|| format!("worker panicked: {e}"));
            }
        }
    }
    (summarize(concurrency, window.duration, merged), back)
}

fn summarize(concurrency: usize, window: Duration, mut s: WorkerSamples) -> Stats {
    s.latencies.sort_unstable();
    let ok = s.latencies.len() as u64;
    let total: Duration = s.latencies.iter().sum();
    let mean = u32::try_from(ok)
        .ok()
        .and_then(|n| total.checked_div(n))
        .unwrap_or_default();
    Stats {
        concurrency,
        ok,
        errors: s.errors,
        first_error: s.first_error,
        throughput: ok as f64 / window.as_secs_f64(),
        mean_bytes: s.bytes.checked_div(ok).unwrap_or(0),
        mean,
        p50: percentile(&s.latencies, 50.0),
        p95: percentile(&s.latencies, 95.0),
        p99: percentile(&s.latencies, 99.0),
        max: s.latencies.last().copied().unwrap_or_default(),
    }
}

/// Nearest-rank percentile of an ascending slice (zero when empty).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 95.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
