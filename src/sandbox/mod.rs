//! Sandbox identity provider (being written).
