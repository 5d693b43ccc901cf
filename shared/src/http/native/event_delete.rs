//! `POST /event/delete` with `{"id": "<track_id>"}`: deletes one event (stage one: it leaves
//! every read and count now; the purge removes it later). 404 for an unknown or already
//! deleted id, 429 with `Retry-After` while the project's deletions waiting for the purge are
//! at the cap.

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::http::RequestCtx;
use crate::http::requests::Fields;
use crate::service::App;

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let mut f = Fields::new(body, "");
    let Some(id) = f.required_string("id") else {
        return Err(Error::Validation(f.errors));
    };
    app.delete_event(&ctx.project, id).await?;
    Ok(json!({"success": true, "data": {"id": id, "deleted": true}}))
}
