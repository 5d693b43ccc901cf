//! Reads: a session with its newest events, and a project's events of one name by page.

use super::App;
use crate::domain::commands::EventShowRequest;
use crate::domain::project::Project;
use crate::domain::values::SessionUuid;
use crate::error::Error;
use crate::store::item::Item;
use crate::store::repo::{EventPage, ListError, SessionWithEvents, is_deleted};
use crate::store::track_id;

impl App {
    /// The session and its newest events, or `None` for an unknown (or expired) session.
    pub async fn session(
        &self,
        project: &Project,
        uuid: &SessionUuid,
    ) -> Result<Option<SessionWithEvents>, Error> {
        Ok(self.store.session_with_events(project, uuid).await?)
    }

    /// One page of a project's events of one name, by number or by cursor.
    pub async fn list_events(
        &self,
        project: &Project,
        req: &EventShowRequest,
    ) -> Result<EventPage, Error> {
        self.store
            .list_events(
                project,
                &req.name,
                req.sort,
                req.per_page,
                req.page,
                req.cursor.as_deref(),
            )
            .await
            .map_err(|e| match e {
                ListError::Cursor(c) => Error::InvalidCursor(c),
                ListError::Store(s) => Error::from(s),
            })
    }

    /// The event a track id names in this project, if it is stored (see `store::track_id`).
    pub async fn event_by_track_id(
        &self,
        project: &Project,
        track_id: &str,
    ) -> Result<Option<Item>, Error> {
        let Some((uuid, sk)) = track_id::decode(track_id) else {
            return Ok(None);
        };
        Ok(self
            .store
            .get_event(project, &uuid, &sk)
            .await?
            .filter(|event| !is_deleted(event)))
    }
}
