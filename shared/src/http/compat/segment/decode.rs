//! Segment's messages into our calls (`domain::calls`). The names map as the README's table
//! says: `anonymousId` → the session, `userId` → the user, `messageId` → `event_id`, `event` /
//! `name` → the event's name, `properties` → its attributes, `traits` (and `context.traits`)
//! → the user's or company's traits, `groupId` → the company, `previousId` → the aliased id,
//! `context.*` → the visit context an init would carry.

use serde_json::{Map, Value};

use crate::domain::calls::{Call, CallKind, Caller, call_time};
use crate::domain::commands::{ClientContext, EventRequest, InitRequest, UrlContext};
use crate::domain::event::{Category, EventType, Source};
use crate::domain::project::Project;
use crate::domain::time::Timestamp;
use crate::domain::user::{CompanyId, CompanyIdentify, MAX_ID_CHARS, UserId};
use crate::domain::values::{Attributes, EventId, EventName, Limits, SessionUuid};
use crate::error::FieldError;
use crate::http::requests::{Fields, cap};

/// The most a message may weigh, as JSON (Segment's limit).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;

/// The attribute an event keeps the sender's own `originalTimestamp` in.
pub const ORIGINAL_TIMESTAMP: &str = "_original_timestamp";

/// The six message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
}

impl MessageType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "identify" => MessageType::Identify,
            "track" => MessageType::Track,
            "page" => MessageType::Page,
            "screen" => MessageType::Screen,
            "group" => MessageType::Group,
            "alias" => MessageType::Alias,
            _ => return None,
        })
    }
}

/// What every message of one request shares: when it arrived, the batch's `sentAt`,
/// `context` and the project it is for.
pub struct Request<'a> {
    pub project: &'a Project,
    pub limits: &'a Limits,
    pub received_at: Timestamp,
    pub sent_at: Option<&'a Value>,
    pub context: Option<&'a Map<String, Value>>,
}

/// One message: its type from the route (`/v1/track`) or its own `type` (a batch).
pub fn message(
    body: &Map<String, Value>,
    route_type: Option<MessageType>,
    request: &Request<'_>,
) -> Result<Call, Vec<FieldError>> {
    if json_len(body) > MAX_MESSAGE_BYTES {
        return Err(vec![FieldError::new(
            "",
            format!("a message must be at most {MAX_MESSAGE_BYTES} bytes"),
        )]);
    }
    let limits = request.limits;
    let mut f = Fields::new(body, "");
    let kind = match route_type {
        Some(kind) => Some(kind),
        None => f.required_string("type").and_then(|text| {
            let kind = MessageType::parse(text);
            if kind.is_none() {
                f.error(
                    "type",
                    "must be one of identify, track, page, screen, group, alias",
                );
            }
            kind
        }),
    };
    let user_id = id_text(&mut f, "userId").and_then(|text| match UserId::parse(&text) {
        Ok(id) => Some(id),
        Err(message) => {
            f.error("userId", message);
            None
        }
    });
    let anonymous = id_text(&mut f, "anonymousId")
        .map(|text| SessionUuid::for_external_id(request.project, &text));
    let event_id = id_text(&mut f, "messageId").map(|text| EventId::for_external_id(&text));
    let context = Context {
        own: f.object("context"),
        batch: request.context,
    };
    let mut attributes = match kind {
        Some(MessageType::Track | MessageType::Page | MessageType::Screen) => {
            f.attributes("properties", limits).unwrap_or_default()
        }
        _ => Attributes::default(),
    };
    let (occurred_at, stamped_by_client) = time(&mut f, request);
    if let Some(original) = f.string("originalTimestamp") {
        let mut map: Map<String, Value> = attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        map.insert(ORIGINAL_TIMESTAMP.into(), Value::String(cap(original, 64)));
        // Kept where it fits: properties at the attribute limit already go without it.
        if let Ok(with) = Attributes::parse(&Value::Object(map), "properties", limits) {
            attributes = with;
        }
    }
    let source = source(context);
    let visit = visit(context, kind, body, limits);
    let traits = || {
        let mut merged = Map::new();
        if let Some(Value::Object(t)) = context.get("traits") {
            merged.extend(t.clone());
        }
        if let Some(Value::Object(t)) = body.get("traits") {
            merged.extend(t.clone());
        }
        merged
    };

    let call_kind = match kind {
        None => None,
        Some(MessageType::Identify) => {
            match Attributes::parse(&Value::Object(traits()), "traits", limits) {
                Ok(traits) => Some(CallKind::Identify { traits }),
                Err(errors) => {
                    f.errors.extend(errors);
                    None
                }
            }
        }
        Some(MessageType::Group) => {
            let company = id_text(&mut f, "groupId").and_then(|text| {
                CompanyId::parse(&text)
                    .map_err(|message| f.error("groupId", message))
                    .ok()
            });
            if company.is_none() && f.get("groupId").is_none() {
                f.error("groupId", "is required");
            }
            let traits = f.attributes("traits", limits).unwrap_or_default();
            company.map(|company_id| CallKind::Group {
                company: CompanyIdentify { company_id, traits },
            })
        }
        Some(MessageType::Alias) => {
            if user_id.is_none() && f.get("userId").is_none() {
                f.error("userId", "is required");
            }
            let previous = id_text(&mut f, "previousId");
            if previous.is_none() && f.get("previousId").is_none() {
                f.error("previousId", "is required");
            }
            previous.map(|previous| CallKind::Alias { previous })
        }
        Some(kind @ (MessageType::Track | MessageType::Page | MessageType::Screen)) => {
            let name = event_name(&mut f, kind, limits);
            name.map(|name| {
                let page = matches!(kind, MessageType::Page | MessageType::Screen);
                let at_page = |key: &str| page_field(context, Some(kind), body, key);
                CallKind::Event(Box::new(EventRequest {
                    // Provisional: the service resolves the caller.
                    uuid: anonymous.unwrap_or_else(SessionUuid::new_v4),
                    name,
                    attributes: attributes.clone(),
                    label: None,
                    category: if page {
                        Category::PageView
                    } else {
                        Category::default()
                    },
                    priority: Default::default(),
                    kind: if page {
                        EventType::PageView
                    } else {
                        EventType::Track
                    },
                    source: source.clone(),
                    occurred_at,
                    stamped_by_client,
                    event_id,
                    ip_address: None,
                    user_agent: None,
                    page_url: at_page("url").map(|s| cap(&s, limits.max_string_bytes)),
                    referrer: at_page("referrer").map(|s| cap(&s, limits.max_string_bytes)),
                    place: None,
                    device_id: None,
                }))
            })
        }
    };
    if kind != Some(MessageType::Alias) && user_id.is_none() && anonymous.is_none() {
        f.error("anonymousId", "a message needs an anonymousId or a userId");
    }
    match (call_kind, f.errors.is_empty()) {
        (Some(kind), true) => Ok(Call {
            caller: Caller { anonymous, user_id },
            kind,
            event_id,
            source,
            occurred_at,
            visit,
        }),
        _ => Err(f.errors),
    }
}

/// An id: a string, or a number as some libraries send user ids; 1–255 characters.
fn id_text(f: &mut Fields<'_>, name: &str) -> Option<String> {
    let text = match f.get(name)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            f.error(name, "must be a string");
            return None;
        }
    };
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_ID_CHARS || text.chars().any(char::is_control) {
        f.error(
            name,
            format!("must be 1 to {MAX_ID_CHARS} characters, no control characters"),
        );
        return None;
    }
    Some(text)
}

/// The message's `context` over the batch's, key by key (the message's own win), borrowed:
/// a batch's context is read by every message, never copied into each.
#[derive(Clone, Copy)]
struct Context<'a> {
    own: Option<&'a Map<String, Value>>,
    batch: Option<&'a Map<String, Value>>,
}

impl<'a> Context<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.own
            .and_then(|c| c.get(key))
            .or_else(|| self.batch.and_then(|c| c.get(key)))
            .filter(|v| !v.is_null())
    }
}

/// When it happened ([`call_time`]): `timestamp`, or `originalTimestamp` where a library
/// sends that instead, and `sentAt`, the message's or the batch's.
fn time(f: &mut Fields<'_>, request: &Request<'_>) -> (Timestamp, bool) {
    let now = request.received_at;
    let sent_at = f
        .get("sentAt")
        .or(request.sent_at)
        .filter(|v| !v.is_null())
        .and_then(|value| instant(f, "sentAt", value));
    let (field, value) = match f.get("timestamp") {
        Some(value) => ("timestamp", Some(value)),
        None => ("originalTimestamp", f.get("originalTimestamp")),
    };
    let timestamp = value.and_then(|v| instant(f, field, v));
    match call_time(timestamp, sent_at, now, request.limits) {
        Ok(time) => time,
        Err(message) => {
            f.error("timestamp", message);
            (now, false)
        }
    }
}

/// An ISO 8601 instant.
fn instant(f: &mut Fields<'_>, name: &str, value: &Value) -> Option<Timestamp> {
    let parsed = value.as_str().and_then(Timestamp::parse_rfc3339);
    if parsed.is_none() {
        f.error(name, "must be an ISO 8601 date-time");
    }
    parsed
}

/// A track's `event`; a page's or screen's `category name`, or `name`, or its type's name.
fn event_name(f: &mut Fields<'_>, kind: MessageType, limits: &Limits) -> Option<EventName> {
    let (field, text) = match kind {
        MessageType::Track => ("event", f.required_string("event")?.to_owned()),
        _ => {
            let name = f.string("name").filter(|s| !s.trim().is_empty());
            let category = f.string("category").filter(|s| !s.trim().is_empty());
            let text = match (category, name) {
                (Some(category), Some(name)) => format!("{category} {name}"),
                (None, Some(name)) => name.to_owned(),
                (Some(category), None) => category.to_owned(),
                (None, None) => EventType::PageView.as_str().to_owned(),
            };
            ("name", text)
        }
    };
    EventName::parse(&text, limits)
        .map_err(|message| f.error(field, message))
        .ok()
}

/// Where it was captured: on the person's device when its library runs there, else a server.
fn source(context: Context<'_>) -> Source {
    let library = context
        .get("library")
        .and_then(|l| l.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if DEVICE_LIBRARIES.iter().any(|name| library.contains(name)) {
        Source::web_client()
    } else {
        Source::backend_segment()
    }
}

/// Parts of the library names of Segment's and RudderStack's libraries that run in a browser
/// or an app (`analytics.js`, `analytics-next`, `analytics-ios`, `RudderLabs JavaScript SDK`,
/// …); every other library is a server's.
const DEVICE_LIBRARIES: &[&str] = &[
    "analytics.js",
    "analytics-next",
    "analytics-ios",
    "analytics-android",
    "analytics-react-native",
    "analytics-swift",
    "analytics-kotlin",
    "analytics-flutter",
    "javascript",
    "ios",
    "android",
    "react-native",
    "flutter",
];

/// A field of the page a message was on: a page or screen call's `properties` name the page
/// it records; else, and for what they leave out, `context.page` (where browser libraries
/// put the current page).
fn page_field(
    context: Context<'_>,
    kind: Option<MessageType>,
    body: &Map<String, Value>,
    key: &str,
) -> Option<String> {
    let is_page = matches!(kind, Some(MessageType::Page | MessageType::Screen));
    is_page
        .then(|| text_at(body.get("properties"), key))
        .flatten()
        .or_else(|| text_at(context.get("page"), key))
}

fn text_at(object: Option<&Value>, key: &str) -> Option<String> {
    object
        .and_then(|o| o.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The visit context a message carries, as an init would send it: `context.page` (or a page
/// call's properties) as the URL, `context.campaign` as the URL's `utm_` parameters when the
/// URL has none, `context.ip` and `userAgent` as the client's, `locale`, `timezone` and
/// `screen` as the client fields of the same meaning. `None` when it carries none of these.
fn visit(
    context: Context<'_>,
    kind: Option<MessageType>,
    body: &Map<String, Value>,
    limits: &Limits,
) -> Option<InitRequest> {
    let page =
        |key: &str| page_field(context, kind, body, key).map(|s| cap(&s, limits.max_string_bytes));
    let mut href = page("url");
    if let (Some(url), Some(Value::Object(campaign))) = (&mut href, context.get("campaign"))
        && !url.contains("utm_")
    {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (field, param) in [
            ("source", "utm_source"),
            ("medium", "utm_medium"),
            ("name", "utm_campaign"),
            ("term", "utm_term"),
            ("content", "utm_content"),
        ] {
            if let Some(value) = campaign.get(field).and_then(Value::as_str) {
                query.append_pair(param, value);
            }
        }
        let query = query.finish();
        if !query.is_empty() {
            let joiner = if url.contains('?') { '&' } else { '?' };
            *url = cap(&format!("{url}{joiner}{query}"), limits.max_string_bytes);
        }
    }
    let url = UrlContext {
        href,
        raw: None,
        path: page("path"),
        query: page("search"),
        hash: None,
        referer: page("referrer"),
        source_url: None,
        title: page("title"),
    };
    let text = |key: &str| context.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut other = Map::new();
    for (from, to) in [("locale", "locale"), ("timezone", "timezone")] {
        if let Some(value) = text(from) {
            other.insert(to.into(), Value::String(cap(&value, 128)));
        }
    }
    if let Some(Value::Object(screen)) = context.get("screen") {
        for (from, to) in [
            ("width", "screenWidth"),
            ("height", "screenHeight"),
            ("density", "pixelRatio"),
        ] {
            if let Some(n) = screen.get(from).filter(|v| v.is_number()) {
                other.insert(to.into(), n.clone());
            }
        }
    }
    let client = ClientContext {
        ip_address: text("ip").map(|s| cap(s.trim(), 64)),
        user_agent: text("userAgent").map(|s| cap(&s, limits.max_string_bytes)),
        other,
    };
    let empty_url = url == UrlContext::default();
    if empty_url && client == ClientContext::default() {
        return None;
    }
    Some(InitRequest {
        uuid: None,
        url,
        client,
        user_attributes: None,
        custom_data: None,
        synchronous: false,
        records_page_visit: false,
    })
}

/// The length of a value written as compact JSON, without writing it.
fn json_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a Value into a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
