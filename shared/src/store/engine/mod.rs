//! The two `Table` engines: DynamoDB for AWS, redb for one machine.

pub mod capacity;
pub mod dynamo;
pub mod dynamo_counts;
pub mod dynamo_stream;
#[cfg(feature = "embedded")]
pub mod embedded;
