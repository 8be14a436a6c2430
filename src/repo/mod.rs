//! What several use cases share about the records they keep, below every use case: reading
//! and modifying an account ([`accounts`]), when it is due and its due index entry ([`due`]),
//! queueing its discovery jobs ([`jobs`]), and minting, opening and mailing authorization
//! links and OAuth states ([`links`]), issuing and ending sessions ([`sessions`]), and the
//! audit log's entries written with the actions they record ([`audit`]).

pub mod accounts;
pub mod audit;
pub mod clients;
pub mod due;
pub mod jobs;
pub mod links;
pub mod offers;
pub mod seats;
pub mod sessions;
