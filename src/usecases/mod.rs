//! The use cases: what a partner, a client admin or the schedule can do. Each is written
//! against the ports ([`crate::store`], [`crate::email`], [`crate::identity`], [`crate::clock`])
//! and the domain, never against AWS or HTTP, and never imports a sibling use case: what
//! combines two lives in [`crate::flows`].

pub mod accounts;
pub mod audit;
pub mod authorization;
pub mod consent;
pub mod discovery;
pub mod lifecycle;
pub mod members;
pub mod offers;
pub mod password_reset;
pub mod protection;
pub mod sessions;
pub mod signup;
