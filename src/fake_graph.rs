//! Fake Graph for tests and benchmarks: being written.
