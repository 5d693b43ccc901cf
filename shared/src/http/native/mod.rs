//! The A-TRACK endpoints and our native ones (`batch`), one module each (decode → service → encode), and `views`, the
//! reference's response shapes.

pub mod attributes;
pub mod batch;
pub mod company_show;
pub mod event;
pub mod event_delete;
pub mod event_query;
pub mod event_show;
pub mod export;
pub mod identify;
pub mod init;
pub mod session_delete;
pub mod session_show;
pub mod user_show;
pub mod views;
