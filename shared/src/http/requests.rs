//! Request decoding: a JSON body becomes a typed, validated request, or a list of field-level
//! errors. Unknown fields are ignored, so newer SDKs keep working.

use serde_json::{Map, Value};

use crate::domain::commands::{
    AttributesRequest, BatchRequest, ClientContext, EventRequest, EventShowRequest, InitRequest,
    SessionShowRequest, UrlContext,
};
use crate::domain::event::{Category, EventType, Label, Priority, Source};
use crate::domain::time::Timestamp;
use crate::domain::user::{CompanyId, CompanyIdentify, IdentifyRequest, UserId};
use crate::domain::values::{
    Attributes, EventId, EventName, Limits, SessionUuid, Sort, check_value, parse_timestamp,
};
use crate::error::{Error, FieldError};

/// Parses the body as a JSON object. Bodies are JSON whatever the Content-Type says
/// (`navigator.sendBeacon` sends text/plain).
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::MissingBody);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::MalformedBody(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(Error::MalformedBody(e.to_string())),
    }
}

/// Collects field errors while reading an object, so one response lists every problem.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
    pub errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>, prefix: &'a str) -> Self {
        Fields {
            map,
            prefix,
            errors: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// A present, non-null value.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        let path = self.path(name);
        self.errors.push(FieldError::new(path, message));
    }

    pub fn string(&mut self, name: &str) -> Option<&'a str> {
        match self.get(name) {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    pub fn required_string(&mut self, name: &str) -> Option<&'a str> {
        if self.get(name).is_none() {
            self.error(name, "is required");
            return None;
        }
        self.string(name)
    }

    pub fn object(&mut self, name: &str) -> Option<&'a Map<String, Value>> {
        match self.get(name) {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                self.error(name, "must be an object");
                None
            }
        }
    }

    pub fn bool(&mut self, name: &str) -> Option<bool> {
        match self.get(name) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(name, "must be a boolean");
                None
            }
        }
    }

    /// One of a closed vocabulary (`category`, `priority`), spelled exactly.
    pub fn one_of<T>(
        &mut self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: impl Fn() -> String,
    ) -> Option<T> {
        let text = self.string(name)?;
        let parsed = parse(text);
        if parsed.is_none() {
            self.error(name, format!("must be one of {}", expected()));
        }
        parsed
    }

    /// A positive integer; also accepts its decimal text, as form-minded SDKs send it.
    pub fn positive_int(&mut self, name: &str, max: Option<u64>) -> Option<u64> {
        let value = self.get(name)?;
        let parsed = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if n >= 1 && max.is_none_or(|m| n <= m) => Some(n),
            _ => {
                let message = match max {
                    Some(m) => format!("must be an integer from 1 to {m}"),
                    None => "must be an integer of at least 1".to_owned(),
                };
                self.error(name, message);
                None
            }
        }
    }

    pub fn uuid(&mut self, name: &str) -> Option<SessionUuid> {
        let text = self.string(name)?;
        match SessionUuid::parse(text) {
            Ok(u) => Some(u),
            Err(message) => {
                self.error(name, message);
                None
            }
        }
    }

    pub fn attributes(&mut self, name: &str, limits: &Limits) -> Option<Attributes> {
        let value = self.get(name)?;
        let path = self.path(name);
        match Attributes::parse(value, &path, limits) {
            Ok(a) => Some(a),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    /// Fails with every collected error, or hands back the value built from the fields.
    pub fn finish<T>(self, build: impl FnOnce() -> T) -> Result<T, Error> {
        if self.errors.is_empty() {
            Ok(build())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// Truncates to at most `max` bytes on a character boundary: URLs and user agents are capped,
/// never rejected.
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Expected JSON kinds of the documented client fields; others are kept if storable.
fn client_field_kind(name: &str) -> Option<&'static str> {
    Some(match name {
        "locale"
        | "language"
        | "timezone"
        | "platform"
        | "connectionType"
        | "connectionEffectiveType" => "string",
        "languages" => "array of strings",
        "timezoneOffsetMinutes"
        | "screenWidth"
        | "screenHeight"
        | "viewportWidth"
        | "viewportHeight"
        | "pixelRatio"
        | "colorDepth"
        | "touchPoints"
        | "deviceMemoryGb"
        | "hardwareConcurrency"
        | "connectionDownlinkMbps"
        | "connectionRttMs" => "number",
        "cookiesEnabled" => "boolean",
        _ => return None,
    })
}

fn kind_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array of strings" => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
        _ => false,
    }
}

impl InitRequest {
    pub fn parse(body: &Map<String, Value>, limits: &Limits) -> Result<Self, Error> {
        let mut f = Fields::new(body, "");
        let uuid = f.uuid("uuid");
        let synchronous = f.bool("synchronous").unwrap_or(false);
        let custom_data = f.attributes("custom_data", limits);
        let mut url = UrlContext::default();
        let mut client = ClientContext::default();
        let mut user_attributes = None;
        let context = f.object("context");
        if let Some(context) = context {
            let mut c = Fields::new(context, "context");
            if let Some(u) = c.object("url") {
                let mut uf = Fields::new(u, "context.url");
                let mut take =
                    |name: &str| uf.string(name).map(|s| cap(s, limits.max_string_bytes));
                url = UrlContext {
                    href: take("href"),
                    raw: take("raw"),
                    path: take("path"),
                    query: take("query"),
                    hash: take("hash"),
                    referer: take("referer"),
                    source_url: take("source_url"),
                    title: take("title"),
                };
                c.errors.extend(uf.errors);
            }
            if let Some(cl) = c.object("client") {
                let mut cf = Fields::new(cl, "context.client");
                client.ip_address = cf.string("ipAddress").map(|s| cap(s.trim(), 64));
                client.user_agent = cf
                    .string("userAgent")
                    .map(|s| cap(s, limits.max_string_bytes));
                for (name, value) in cl {
                    if matches!(name.as_str(), "ipAddress" | "userAgent") || value.is_null() {
                        continue;
                    }
                    if let Some(kind) = client_field_kind(name)
                        && !kind_matches(kind, value)
                    {
                        cf.error(name, format!("must be a {kind}"));
                        continue;
                    }
                    let path = format!("context.client.{name}");
                    let chars = name.chars().count();
                    if chars == 0 || chars > limits.max_key_chars {
                        cf.error(name, "field names must be 1 to 128 characters");
                        continue;
                    }
                    check_value(value, &path, 1, limits, &mut cf.errors);
                    client.other.insert(name.clone(), value.clone());
                }
                c.errors.extend(cf.errors);
            }
            if let Some(user) = c.object("user") {
                let mut uf = Fields::new(user, "context.user");
                user_attributes = uf.attributes("attributes", limits);
                c.errors.extend(uf.errors);
            }
            f.errors.extend(c.errors);
        }
        f.finish(|| InitRequest {
            uuid,
            url,
            client,
            user_attributes,
            custom_data,
            synchronous,
            records_page_visit: true,
        })
    }
}

impl AttributesRequest {
    pub fn parse(body: &Map<String, Value>, limits: &Limits) -> Result<Self, Error> {
        let mut f = Fields::new(body, "");
        let uuid = required_uuid(&mut f);
        let replace = f.bool("replace").unwrap_or(false);
        let attributes = if f.get("attributes").is_none() {
            f.error("attributes", "is required");
            None
        } else {
            f.attributes("attributes", limits)
        };
        match (uuid, attributes) {
            (Some(uuid), Some(attributes)) => f.finish(|| AttributesRequest {
                uuid,
                attributes,
                replace,
            }),
            _ => Err(Error::Validation(f.errors)),
        }
    }
}

fn required_uuid(f: &mut Fields<'_>) -> Option<SessionUuid> {
    if f.get("uuid").is_none() {
        f.error("uuid", "is required");
        return None;
    }
    f.uuid("uuid")
}

impl EventRequest {
    /// A `POST /event` body; `source` is where it comes from unless it says (by the key).
    pub fn parse(
        body: &Map<String, Value>,
        now: Timestamp,
        limits: &Limits,
        source: &Source,
    ) -> Result<Self, Error> {
        Self::parse_fields(body, now, limits, source).map_err(Error::Validation)
    }

    /// An event body, its problems as field errors relative to it (`event`, `attributes.x`):
    /// what `/event` answers with, and what `/batch` reports for one of its items.
    pub fn parse_fields(
        body: &Map<String, Value>,
        now: Timestamp,
        limits: &Limits,
        source: &Source,
    ) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new(body, "");
        let uuid = required_uuid(&mut f);
        let name = match f.required_string("event") {
            Some(text) => match EventName::parse(text, limits) {
                Ok(n) => Some(n),
                Err(message) => {
                    f.error("event", message);
                    None
                }
            },
            None => None,
        };
        let attributes = f.attributes("attributes", limits).unwrap_or_default();
        let label = f.string("label").and_then(|text| match Label::parse(text) {
            Ok(label) => Some(label),
            Err(message) => {
                f.error("label", message);
                None
            }
        });
        let category = f.one_of("category", Category::parse, Category::expected);
        let priority = f.one_of("priority", Priority::parse, Priority::expected);
        let kind = f
            .one_of("type", EventType::parse, EventType::expected)
            .unwrap_or_default();
        if let Some(Err(message)) = name.as_ref().map(|n| kind.check_name(n.as_str())) {
            f.error("event", message);
        }
        let source = match f.string("source") {
            None => source.clone(),
            Some(text) => Source::parse(text).unwrap_or_else(|message| {
                f.error("source", message);
                source.clone()
            }),
        };
        let stamped_by_client = f.get("timestamp").is_some();
        let occurred_at = match f.get("timestamp") {
            None => now,
            Some(v) => match parse_timestamp(v, now, limits) {
                Ok(t) => t,
                Err(message) => {
                    f.error("timestamp", message);
                    now
                }
            },
        };
        let event_id = optional_event_id(&mut f);
        let (mut ip_address, mut user_agent) = (None, None);
        if let Some(context) = f.object("context") {
            let mut c = Fields::new(context, "context");
            if let Some(client) = c.object("client") {
                let mut cf = Fields::new(client, "context.client");
                ip_address = cf.string("ipAddress").map(|s| cap(s.trim(), 64));
                user_agent = cf
                    .string("userAgent")
                    .map(|s| cap(s, limits.max_string_bytes));
                c.errors.extend(cf.errors);
            }
            f.errors.extend(c.errors);
        }
        match (uuid, name) {
            (Some(uuid), Some(name)) if f.errors.is_empty() => Ok(EventRequest {
                uuid,
                name,
                attributes,
                label,
                category: category.unwrap_or_default(),
                priority: priority.unwrap_or_default(),
                kind,
                source,
                occurred_at,
                stamped_by_client,
                event_id,
                ip_address,
                user_agent,
                page_url: None,
                referrer: None,
                place: None,
                device_id: None,
            }),
            _ => Err(f.errors),
        }
    }
}

impl BatchRequest {
    /// A `POST /batch` body: `events`, a list of 1 to `max_events` event bodies. The list
    /// itself must be sound (a 422 otherwise); its items are validated one by one.
    pub fn parse(
        body: &Map<String, Value>,
        now: Timestamp,
        limits: &Limits,
        max_events: usize,
        source: &Source,
    ) -> Result<Self, Error> {
        let items = match body.get("events") {
            None | Some(Value::Null) => return Err(Error::field("events", "is required")),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(Error::field("events", "must be a list of events")),
        };
        if items.is_empty() || items.len() > max_events {
            return Err(Error::field(
                "events",
                format!("must hold 1 to {max_events} events (got {})", items.len()),
            ));
        }
        let events = items
            .iter()
            .map(|item| match item {
                Value::Object(event) => EventRequest::parse_fields(event, now, limits, source),
                _ => Err(vec![FieldError::new(
                    "",
                    "each event must be a JSON object",
                )]),
            })
            .collect();
        Ok(BatchRequest { events })
    }
}

impl SessionShowRequest {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, Error> {
        let mut f = Fields::new(body, "");
        match required_uuid(&mut f) {
            Some(uuid) => f.finish(|| SessionShowRequest { uuid }),
            None => Err(Error::Validation(f.errors)),
        }
    }
}

impl EventShowRequest {
    pub fn parse(body: &Map<String, Value>, limits: &Limits) -> Result<Self, Error> {
        let mut f = Fields::new(body, "");
        let name = match f.required_string("name") {
            Some(text) => match EventName::parse(text, limits) {
                Ok(n) => Some(n),
                Err(message) => {
                    f.error("name", message);
                    None
                }
            },
            None => None,
        };
        let page = f.positive_int("page", Some(1_000_000_000)).unwrap_or(1);
        let per_page = f
            .positive_int("per_page", Some(u64::from(limits.max_per_page)))
            .map_or(25, |n| n as u32);
        let sort = match f.string("sort") {
            None => Sort::Desc,
            Some(s) if s.eq_ignore_ascii_case("desc") => Sort::Desc,
            Some(s) if s.eq_ignore_ascii_case("asc") => Sort::Asc,
            Some(_) => {
                f.error("sort", "must be \"asc\" or \"desc\"");
                Sort::Desc
            }
        };
        let cursor = f
            .string("cursor")
            .or_else(|| f.string("next_cursor"))
            .map(str::to_owned);
        match name {
            Some(name) => f.finish(|| EventShowRequest {
                name,
                page,
                per_page,
                sort,
                cursor,
            }),
            None => Err(Error::Validation(f.errors)),
        }
    }
}

/// A user or company id field: required or optional, checked by `parse`.
fn external_id<T>(
    f: &mut Fields<'_>,
    name: &str,
    required: bool,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    if f.get(name).is_none() {
        if required {
            f.error(name, "is required");
        }
        return None;
    }
    let text = f.string(name)?;
    match parse(text) {
        Ok(id) => Some(id),
        Err(message) => {
            f.error(name, message);
            None
        }
    }
}

impl IdentifyRequest {
    /// A `POST /identify` body: `uuid`, `user_id`, and optionally `traits`, `company_id` and
    /// `company_traits` (which needs `company_id`).
    pub fn parse(body: &Map<String, Value>, limits: &Limits) -> Result<Self, Error> {
        let mut f = Fields::new(body, "");
        let uuid = required_uuid(&mut f);
        let user_id = external_id(&mut f, "user_id", true, UserId::parse);
        let traits = f.attributes("traits", limits).unwrap_or_default();
        let company_id = external_id(&mut f, "company_id", false, CompanyId::parse);
        let company_traits = f.attributes("company_traits", limits);
        if company_traits.is_some() && f.get("company_id").is_none() {
            f.error("company_traits", "needs company_id");
        }
        let event_id = optional_event_id(&mut f);
        match (uuid, user_id) {
            (Some(uuid), Some(user_id)) => f.finish(|| IdentifyRequest {
                uuid,
                user_id,
                traits,
                company: company_id.map(|company_id| CompanyIdentify {
                    company_id,
                    traits: company_traits.unwrap_or_default(),
                }),
                event_id,
                latest: true,
            }),
            _ => Err(Error::Validation(f.errors)),
        }
    }
}

/// An optional client `event_id`: a canonical UUID.
fn optional_event_id(f: &mut Fields<'_>) -> Option<EventId> {
    let text = f.string("event_id")?;
    match EventId::parse(text) {
        Ok(id) => Some(id),
        Err(message) => {
            f.error("event_id", message);
            None
        }
    }
}

/// `POST /user/show`'s `user_id`.
pub fn parse_user_show(body: &Map<String, Value>) -> Result<UserId, Error> {
    let mut f = Fields::new(body, "");
    match external_id(&mut f, "user_id", true, UserId::parse) {
        Some(id) => f.finish(|| id),
        None => Err(Error::Validation(f.errors)),
    }
}

/// `POST /company/show`'s `company_id` and optional `cursor`.
pub fn parse_company_show(body: &Map<String, Value>) -> Result<(CompanyId, Option<String>), Error> {
    let mut f = Fields::new(body, "");
    let id = external_id(&mut f, "company_id", true, CompanyId::parse);
    let cursor = f.string("cursor").map(str::to_owned);
    match id {
        Some(id) => f.finish(|| (id, cursor)),
        None => Err(Error::Validation(f.errors)),
    }
}
