//! The DynamoDB table's change stream: `counts` keeps the index counts (event/show's totals)
//! exactly once per record; `poller` reads the stream locally for `atrack serve` and the tests,
//! as the `count` function does on AWS.

pub mod counts;
pub mod poller;
