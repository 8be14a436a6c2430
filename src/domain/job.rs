//! Why a discovery job was queued (the job itself is the queue port's: `crate::queue::Job`).

use serde::{Deserialize, Serialize};

/// Why a job was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Consent was just granted: the first discovery.
    First,
    /// The partner pressed Refresh.
    Refresh,
    /// The schedule found the account due (discovery or auto-add).
    Scheduled,
    /// A run that stopped part-way (time budget, throttling) goes on.
    Continue,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::First => "first",
            JobKind::Refresh => "refresh",
            JobKind::Scheduled => "scheduled",
            JobKind::Continue => "continue",
        }
    }
}
