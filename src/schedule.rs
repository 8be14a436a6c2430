//! Auto-add schedule: being written.
