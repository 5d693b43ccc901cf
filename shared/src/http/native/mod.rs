//! Today's A-TRACK endpoints, one module each (decode → service → encode), and `views`, the
//! reference's response shapes.

pub mod attributes;
pub mod event;
pub mod event_show;
pub mod init;
pub mod session_show;
pub mod views;
