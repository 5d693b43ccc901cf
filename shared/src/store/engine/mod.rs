//! The two `Table` engines: DynamoDB for AWS, redb for one machine.

pub mod dynamo;
pub mod embedded;
