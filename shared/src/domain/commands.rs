//! What a client asks for, validated: the commands and queries the services take, whichever
//! door they came through. The A-TRACK routes decode them from JSON (`http::requests`); other
//! vendors' routes will build the same values from their own shapes.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::event::{Category, EventType, Label, Priority, Source};
use super::time::Timestamp;
use super::values::{Attributes, EventId, EventName, SessionUuid, Sort};

/// Where a request came from, as the transport saw it: the client's address (socket peer,
/// API Gateway's source IP, or a trusted X-Forwarded-For entry) and its User-Agent header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// `context.url` as sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrlContext {
    pub href: Option<String>,
    pub raw: Option<String>,
    pub path: Option<String>,
    pub query: Option<String>,
    pub hash: Option<String>,
    pub referer: Option<String>,
    pub source_url: Option<String>,
    /// The page's title, where the SDK sends one (names its `page.visit`).
    pub title: Option<String>,
}

impl UrlContext {
    /// Whether the init says which page it was on.
    pub fn names_a_page(&self) -> bool {
        self.href.is_some() || self.raw.is_some() || self.path.is_some()
    }
}

/// `context.client` as sent: the IP and user agent pulled out, everything else kept as given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientContext {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub other: Map<String, Value>,
}

/// A visit: `POST /init` validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InitRequest {
    pub uuid: Option<SessionUuid>,
    pub url: UrlContext,
    pub client: ClientContext,
    pub user_attributes: Option<Attributes>,
    pub custom_data: Option<Attributes>,
    pub synchronous: bool,
    /// Whether a page it names is recorded as an automatic `page.visit` (with the project's
    /// automatic events on): an SDK's init is a page load; a visit context that arrives with
    /// another vendor's page call is not, as that call is its own page event.
    pub records_page_visit: bool,
}

/// A validated `POST /attributes`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributesRequest {
    pub uuid: SessionUuid,
    pub attributes: Attributes,
    pub replace: bool,
}

/// A validated event, from `POST /event`, an item of `POST /batch`, or another vendor's door.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRequest {
    pub uuid: SessionUuid,
    pub name: EventName,
    pub attributes: Attributes,
    pub label: Option<Label>,
    pub category: Category,
    pub priority: Priority,
    /// What it records (`track` unless said otherwise); an interaction's name is checked.
    pub kind: EventType,
    /// Where it was captured: as sent, else by the door and the key that brought it.
    pub source: Source,
    pub occurred_at: Timestamp,
    /// The client sent `timestamp`: with an `event_id`, the event's key is then fully the
    /// client's, and a retry is recognised by that key alone.
    pub stamped_by_client: bool,
    pub event_id: Option<EventId>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// The page the event happened on and the page before it, where the sender says (the
    /// analytics API's `page_url` and `referrer`); stored on the event row.
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    /// Where the event happened: what its sender declared (the profile store's `CountryCode`),
    /// completed by GeoIP of its own `ip_address` when it was received (before the address is
    /// anonymised). Whatever it still lacks, an event without an address of its own takes
    /// from its session's place.
    pub place: Option<Place>,
    /// The sender's own name for the device when it is not the UUID (the profile store's
    /// `DeviceId`, mapped to a UUID by `SessionUuid::for_external_id`): kept on the event so
    /// it reads back as sent.
    pub device_id: Option<String>,
}

/// A country and city, as GeoIP found them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2.
    pub country_code: Option<String>,
    pub city: Option<String>,
}

impl Place {
    /// This place, each part it lacks taken from `other`.
    pub fn or(self, other: Place) -> Place {
        Place {
            country_code: self.country_code.or(other.country_code),
            city: self.city.or(other.city),
        }
    }
}

/// A validated `POST /batch`: each item validated on its own, so one bad item never costs the
/// others. An invalid item keeps its position with its field errors.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    pub events: Vec<Result<EventRequest, Vec<crate::error::FieldError>>>,
}

/// A validated `POST /session/show`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionShowRequest {
    pub uuid: SessionUuid,
}

/// A validated `POST /event/show`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventShowRequest {
    pub name: EventName,
    pub page: u64,
    pub per_page: u32,
    pub sort: Sort,
    pub cursor: Option<String>,
}
