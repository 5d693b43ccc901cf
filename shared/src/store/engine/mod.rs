//! The two `Table` engines: DynamoDB for AWS, redb for one machine.

pub mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;
