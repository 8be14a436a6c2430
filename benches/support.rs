//! Shared by the benchmarks: percentiles, one report line, services on the system clock.

use std::time::Duration;

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[allow(dead_code)] // not every bench reports this way
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

/// Services on `store` and the system clock, a memory mailer, fixed keys and example links
/// (the in-process job queue on the store unless replaced).
#[allow(dead_code)] // not every bench builds services
pub fn services(store: std::sync::Arc<dyn onboarding::store::Store>) -> onboarding::services::Services {
    onboarding::services::Services::new(
        store,
        std::sync::Arc::new(onboarding::email::memory::MemoryMailer::default()),
        std::sync::Arc::new(onboarding::clock::SystemClock),
        secrecy::SecretSlice::from(vec![9u8; 32]),
        onboarding::services::Links {
            public_base_url: "https://api.example".into(),
            console_url: "https://console.example".into(),
        },
    )
}
