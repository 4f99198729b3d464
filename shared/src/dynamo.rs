//! The DynamoDB plumbing every service's adapters share, so that the same request is written and
//! read the same way everywhere: attribute values and items ([`s`], [`n`], [`key`], [`to_item`]),
//! reads of one item ([`get_item`]) or of every page of a query ([`query_all`]), what a
//! conditional write came to ([`applied`]), conditions put on any write ([`Condition`]) and the
//! transaction runner ([`transact`]).
//!
//! Every table has string keys `pk` and `sk`.

mod condition;
mod item;
mod read;
mod transact;
mod write;

pub use condition::{Condition, Conditional};
pub use item::{Item, key, n, number, s, text, to_item};
pub use read::{get_item, query_all};
pub use transact::{TRANSACTION_ATTEMPTS, TransactFailure, transact, transact_applied};
pub use write::{ConditionalWrite, applied};
