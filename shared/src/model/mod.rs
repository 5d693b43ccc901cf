//! Wire types: request decoding and the response shapes of the A-TRACK reference.

pub mod requests;
pub mod views;
