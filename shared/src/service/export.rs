//! Bulk export: a project's events in a time range, one JSON object per line, in time order,
//! a page at a time. It reads the time index (never a scan), so what a page costs follows the
//! events it holds, not the table's size; each session an event needs is read once per page.
//! A page is built in bounded memory: at most `limit` events and [`MAX_PAGE_BYTES`].

use std::collections::{HashMap, VecDeque};

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};

use super::App;
use crate::domain::event::EventType;
use crate::domain::project::Project;
use crate::domain::time::Timestamp;
use crate::error::Error;
use crate::store::cursor::{CursorError, CursorState};
use crate::store::item::{Attr, Item, get_s, parse_number};
use crate::store::keys::{self, GSI2_SK};
use crate::store::repo::{EventIndex, EventScan, session_attr};
use crate::store::table::{Key, Table};

/// The most bytes a page's lines take: under the 6 MB a Lambda response may carry once API
/// Gateway's encoding is added, with room for the headers.
pub const MAX_PAGE_BYTES: usize = 5_000_000;
/// Events a page holds unless asked otherwise, and the most it may be asked to hold.
pub const DEFAULT_LIMIT: usize = 1_000;
pub const MAX_LIMIT: usize = 10_000;

/// The cursor's `sort` for export pages (a cursor of another listing is foreign to it).
const EXPORT_CURSOR: &str = "export";

/// How each event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// The product-analytics export's structure, field for field.
    #[default]
    Userpilot,
    /// Our own event row, as event/show returns it.
    Atrack,
}

impl ExportFormat {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "userpilot" => Some(ExportFormat::Userpilot),
            "atrack" => Some(ExportFormat::Atrack),
            _ => None,
        }
    }
}

/// What to export: the events from `from` to `to` (both included), after `cursor`'s.
#[derive(Debug, Clone)]
pub struct ExportQuery {
    pub from: Timestamp,
    pub to: Timestamp,
    pub cursor: Option<String>,
    pub limit: usize,
    pub format: ExportFormat,
}

/// One page: its lines, how many, and the cursor of the next page when there is more.
#[derive(Debug, Clone)]
pub struct ExportPage {
    pub body: Vec<u8>,
    pub lines: usize,
    pub next_cursor: Option<String>,
}

impl App {
    /// One page of an export (see the module's documentation).
    pub async fn export_page(
        &self,
        project: &Project,
        query: &ExportQuery,
    ) -> Result<ExportPage, Error> {
        let codec = self.store.cursors();
        let range = format!("{}..{}", query.from, query.to);
        let (page, after) = match &query.cursor {
            None => (1, None),
            Some(text) => {
                let state = codec.decode(text, project.as_str(), &range, EXPORT_CURSOR)?;
                let after = get_s(&state.after, GSI2_SK)
                    .map(str::to_owned)
                    .ok_or(CursorError::Malformed)?;
                (state.page, Some(after))
            }
        };
        let mut reader = self.store.read_events(
            project,
            EventScan {
                index: EventIndex::Time,
                from: Some(query.from),
                to: Some(query.to),
                descending: false,
                expect: query.limit,
                after,
            },
        );
        let mut writer = PageWriter {
            project,
            format: query.format,
            body: Vec::new(),
            lines: 0,
            sessions: HashMap::new(),
        };
        let mut buffered: VecDeque<Item> = VecDeque::new();
        let mut last = None;
        let mut more = false;
        loop {
            if buffered.is_empty() {
                let chunk = reader.next_chunk().await?;
                if chunk.is_empty() {
                    break;
                }
                if query.format == ExportFormat::Userpilot {
                    self.read_sessions(project, &chunk, &mut writer.sessions)
                        .await?;
                }
                buffered.extend(chunk);
            }
            if writer.lines == query.limit {
                more = true;
                break;
            }
            let Some(event) = buffered.pop_front() else {
                continue;
            };
            let mark = writer.body.len();
            writer.write(&event)?;
            if writer.body.len() > MAX_PAGE_BYTES && writer.lines > 0 {
                // This line would take the page past its size: it opens the next page instead.
                writer.body.truncate(mark);
                more = true;
                break;
            }
            writer.lines += 1;
            last = get_s(&event, GSI2_SK).map(str::to_owned);
        }
        let next_cursor = match (more, last) {
            (true, Some(after)) => Some(codec.encode(&CursorState {
                project: project.as_str().to_owned(),
                name: range,
                sort: EXPORT_CURSOR.to_owned(),
                page: page + 1,
                after: Item::from([(GSI2_SK.to_owned(), Attr::S(after))]),
            })),
            _ => None,
        };
        Ok(ExportPage {
            body: writer.body,
            lines: writer.lines,
            next_cursor,
        })
    }

    /// Reads the sessions of `events` not read yet for this page, together.
    async fn read_sessions(
        &self,
        project: &Project,
        events: &[Item],
        sessions: &mut HashMap<String, Option<Item>>,
    ) -> Result<(), Error> {
        let mut wanted: Vec<&str> = events
            .iter()
            .filter_map(|e| get_s(e, "uuid"))
            .filter(|uuid| !sessions.contains_key(*uuid))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let keys: Vec<Key> = wanted
            .iter()
            .map(|uuid| Key::new(keys::session_pk(project.as_str(), uuid), keys::SESSION_SK))
            .collect();
        let found = self.store.table().read_many(&keys).await?;
        for (uuid, session) in wanted.into_iter().zip(found) {
            sessions.insert(uuid.to_owned(), session);
        }
        Ok(())
    }
}

/// A page under construction.
struct PageWriter<'a> {
    project: &'a Project,
    format: ExportFormat,
    body: Vec<u8>,
    lines: usize,
    /// The page's sessions by UUID (`None`: erased or never made).
    sessions: HashMap<String, Option<Item>>,
}

impl PageWriter<'_> {
    fn write(&mut self, event: &Item) -> Result<(), Error> {
        let written = match self.format {
            ExportFormat::Atrack => serde_json::to_writer(
                &mut self.body,
                &crate::http::native::views::event_row(event),
            ),
            ExportFormat::Userpilot => {
                let session = get_s(event, "uuid")
                    .and_then(|uuid| self.sessions.get(uuid))
                    .and_then(Option::as_ref);
                serde_json::to_writer(
                    &mut self.body,
                    &userpilot_line(self.project, event, session),
                )
            }
        };
        written.map_err(|e| Error::Internal(Box::new(e)))?;
        self.body.push(b'\n');
        Ok(())
    }
}

/// One event in the product-analytics export's structure. Absent values are `null`.
#[derive(Serialize)]
struct UserpilotLine<'a> {
    app_token: &'a str,
    event_type: &'a str,
    event_name: &'a str,
    user_id: Option<&'a str>,
    company_id: Option<&'a str>,
    source: Option<&'a str>,
    inserted_at: Option<&'a str>,
    hostname: Option<&'a str>,
    pathname: Option<&'a str>,
    screen_width: Option<Plain<'a>>,
    screen_height: Option<Plain<'a>>,
    device_type: Option<&'static str>,
    user_agent: Option<&'a str>,
    operating_system: Option<&'a str>,
    browser: Option<&'a str>,
    browser_language: Option<&'a str>,
    session: Option<String>,
    country_code: Option<&'a str>,
    metadata: Metadata<'a>,
}

fn userpilot_line<'a>(
    project: &'a Project,
    event: &'a Item,
    session: Option<&'a Item>,
) -> UserpilotLine<'a> {
    let kind = get_s(event, "type")
        .and_then(EventType::parse)
        .unwrap_or_default();
    let at = |item: Option<&'a Item>, path: &[&str]| -> Option<&'a Attr> {
        let (first, rest) = path.split_first()?;
        let mut value = item?.get(*first)?;
        for step in rest {
            value = value.as_m()?.get(*step)?;
        }
        Some(value)
    };
    let text = |item, path: &[&str]| at(item, path).and_then(Attr::as_s);
    let client = |name: &str| at(session, &["client_attributes", name]);
    // The page: the event's own when it names one, else the session's landing page.
    let page = get_s(event, "page_url")
        .or_else(|| text(session, &["url_data", "href"]))
        .and_then(split_url);
    let device = |flag: &str| matches!(at(session, &["device_data", flag]), Some(Attr::Bool(true)));
    let device_type = at(session, &["device_data"]).map(|_| match () {
        () if device("is_bot") => "bot",
        () if device("is_tablet") => "tablet",
        () if device("is_mobile") => "mobile",
        () => "desktop",
    });
    let visit = event
        .get("visit")
        .and_then(Attr::as_i64)
        .filter(|n| *n > 0)
        .map(|n| n.to_string());
    UserpilotLine {
        app_token: project.as_str(),
        event_type: kind.as_str(),
        event_name: match kind.exports_name() {
            true => get_s(event, "name").unwrap_or_default(),
            false => "",
        },
        user_id: get_s(event, session_attr::USER_ID),
        company_id: get_s(event, session_attr::COMPANY_ID),
        source: get_s(event, "source"),
        inserted_at: get_s(event, "occurred_at"),
        hostname: page.map(|(host, _)| host),
        pathname: page
            .map(|(_, path)| path)
            .or_else(|| text(session, &["url_data", "path"])),
        screen_width: client("screenWidth").map(Plain),
        screen_height: client("screenHeight").map(Plain),
        device_type,
        user_agent: get_s(event, "user_agent"),
        operating_system: text(session, &["device_data", "os", "name"]),
        browser: text(session, &["device_data", "client", "name"]),
        browser_language: client("language")
            .or_else(|| client("locale"))
            .and_then(Attr::as_s),
        session: visit.or_else(|| {
            event
                .get("session_id")
                .and_then(Attr::as_i64)
                .map(|n| n.to_string())
        }),
        country_code: get_s(event, "country_code"),
        metadata: Metadata(
            kind.exports_metadata()
                .then(|| event.get("attributes").and_then(Attr::as_m))
                .flatten(),
        ),
    }
}

/// The host and path of an absolute URL (`https://shop.example/cart?x=1` → `shop.example`,
/// `/cart`), without allocating: the export writes millions of them.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // `user:pass@host:port` → `host`.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => host_port,
    };
    let path_and_more = &rest[end..];
    let path_end = path_and_more
        .find(['?', '#'])
        .unwrap_or(path_and_more.len());
    let path = match &path_and_more[..path_end] {
        "" => "/",
        path => path,
    };
    Some((host, path))
}

/// An attribute as plain JSON (a number as a number), written without building a JSON value.
struct Plain<'a>(&'a Attr);

impl Serialize for Plain<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Attr::S(text) => s.serialize_str(text),
            Attr::N(text) => match parse_number(text) {
                Some(number) => number.serialize(s),
                None => s.serialize_str(text),
            },
            Attr::Bool(b) => s.serialize_bool(*b),
            Attr::Null => s.serialize_unit(),
            Attr::L(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Plain(item))?;
                }
                seq.end()
            }
            Attr::M(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k, &Plain(v))?;
                }
                out.end()
            }
        }
    }
}

/// An event's attributes as the export's `metadata`, `{}` when it carries none.
struct Metadata<'a>(Option<&'a std::collections::BTreeMap<String, Attr>>);

impl Serialize for Metadata<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(Some(self.0.map_or(0, |m| m.len())))?;
        for (k, v) in self.0.into_iter().flatten() {
            out.serialize_entry(k, &Plain(v))?;
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(
            split_url("https://shop.example/cart?x=1#top"),
            Some(("shop.example", "/cart"))
        );
        assert_eq!(
            split_url("http://user:pw@shop.example:8080"),
            Some(("shop.example", "/"))
        );
        assert_eq!(split_url("https://[::1]:3000/a/b"), Some(("[::1]", "/a/b")));
        assert_eq!(split_url("/relative/path"), None);
    }
}
