//! Shared by the benchmarks: percentiles and one report line.

use std::time::Duration;

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "{name:<34} n={:<5} p50 {:>8.2} ms   p99 {:>8.2} ms",
        samples.len(),
        ms(p50),
        ms(p99)
    );
    p50
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
