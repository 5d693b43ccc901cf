//! Segment's HTTP tracking API (`/v1/batch`, its older name `/v1/import`, and one route per
//! message type), so that Segment's and RudderStack's libraries, and the many others that
//! speak the protocol, send here by changing their host. The write key is the project's public
//! key, as HTTP Basic's user name or the body's `writeKey`; bodies may be gzip-compressed.
//!
//! A translation only: `decode` reads each message into a call (`domain::calls`), the service
//! (`service::calls`) resolves ids and applies them. The answer is Segment's: `200
//! {"success": true}` once the body is taken, the messages refused listed under `failed`
//! (`index`, `messageId`, `error`); a single-message route refuses its message with a 400.
//!
//! On AWS the routes share one function (`functions/segment`), [`router`].

pub mod decode;

use axum::Router;
use serde_json::{Map, Value, json};

use crate::domain::project::Scope;
use crate::error::{Error, FieldError};
use crate::http::router::{
    BodyLimit, CredentialSource, Endpoint, ErrorShape, Method, Reply, RequestCtx, Route, RouteSpec,
    finish, with_endpoint,
};
use crate::service::calls::CallOutcome;
use crate::service::{App, SharedApp};
use decode::MessageType;

/// A batch's limit, decompressed (Segment's).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;

/// The most messages a batch may hold: far past what any library sends at once (they flush at
/// 15 to 100), and a bound on the work one request may ask for.
pub const MAX_BATCH_MESSAGES: usize = 2_500;

/// The routes of the family: Basic write keys (or `writeKey`), gzip bodies, Segment's errors,
/// the `segment` function.
pub const fn spec(path: &'static str, batch: bool) -> RouteSpec {
    RouteSpec {
        path,
        methods: Method::Post.only(),
        scope: Scope::Public,
        body_limit: BodyLimit::Bytes(if batch {
            MAX_BATCH_BYTES
        } else {
            decode::MAX_MESSAGE_BYTES
        }),
        credentials: &[
            CredentialSource::Basic,
            CredentialSource::BodyField("writeKey"),
        ],
        errors: ErrorShape::Segment,
        gzip: true,
        function: "segment",
    }
}

/// The family's router: what the `segment` function serves.
pub fn router(app: SharedApp) -> Router {
    let routes = Router::new();
    let routes = with_endpoint::<SegmentBatch>(routes);
    let routes = with_endpoint::<SegmentImport>(routes);
    let routes = with_endpoint::<SegmentIdentify>(routes);
    let routes = with_endpoint::<SegmentTrack>(routes);
    let routes = with_endpoint::<SegmentPage>(routes);
    let routes = with_endpoint::<SegmentScreen>(routes);
    let routes = with_endpoint::<SegmentGroup>(routes);
    let routes = with_endpoint::<SegmentAlias>(routes);
    finish(routes, app)
}

macro_rules! segment_endpoint {
    ($name:ident, $messages:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name;

        impl Endpoint for $name {
            const ROUTE: Route = Route::$name;

            async fn handle(
                app: &App,
                ctx: &RequestCtx,
                body: &Map<String, Value>,
            ) -> Result<Reply, Error> {
                handle(app, ctx, body, $messages).await
            }
        }
    };
}

/// Which messages a route's body holds.
#[derive(Clone, Copy)]
enum Messages {
    /// `{"batch": [...]}`, each message with its `type`.
    Batch,
    /// The body is one message of this type.
    One(MessageType),
}

segment_endpoint!(
    SegmentBatch,
    Messages::Batch,
    "`POST /v1/batch`: `{\"batch\": [messages], \"sentAt\", \"context\"}`."
);
segment_endpoint!(
    SegmentImport,
    Messages::Batch,
    "`POST /v1/import`: `/v1/batch`'s older name."
);
segment_endpoint!(
    SegmentIdentify,
    Messages::One(MessageType::Identify),
    "`POST /v1/identify`."
);
segment_endpoint!(
    SegmentTrack,
    Messages::One(MessageType::Track),
    "`POST /v1/track`."
);
segment_endpoint!(
    SegmentPage,
    Messages::One(MessageType::Page),
    "`POST /v1/page`."
);
segment_endpoint!(
    SegmentScreen,
    Messages::One(MessageType::Screen),
    "`POST /v1/screen`."
);
segment_endpoint!(
    SegmentGroup,
    Messages::One(MessageType::Group),
    "`POST /v1/group`."
);
segment_endpoint!(
    SegmentAlias,
    Messages::One(MessageType::Alias),
    "`POST /v1/alias`."
);

async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
    messages: Messages,
) -> Result<Reply, Error> {
    let batch_context = match body.get("context") {
        Some(Value::Object(context)) if matches!(messages, Messages::Batch) => Some(context),
        _ => None,
    };
    let request = decode::Request {
        project: &ctx.project,
        limits: &app.config.limits,
        received_at: app.now(),
        sent_at: match messages {
            Messages::Batch => body.get("sentAt"),
            Messages::One(_) => None,
        },
        context: batch_context,
    };
    let (calls, message_ids): (Vec<_>, Vec<Value>) = match messages {
        Messages::Batch => {
            let items = match body.get("batch") {
                Some(Value::Array(items)) if items.is_empty() => {
                    return Err(Error::field("batch", "holds no messages"));
                }
                Some(Value::Array(items)) if items.len() > MAX_BATCH_MESSAGES => {
                    return Err(Error::field(
                        "batch",
                        format!("may hold at most {MAX_BATCH_MESSAGES} messages"),
                    ));
                }
                Some(Value::Array(items)) => items,
                Some(_) => return Err(Error::field("batch", "must be an array of messages")),
                None => return Err(Error::field("batch", "is required")),
            };
            items
                .iter()
                .map(|item| {
                    let id = item.get("messageId").cloned().unwrap_or(Value::Null);
                    let call = match item {
                        Value::Object(message) => decode::message(message, None, &request),
                        _ => Err(vec![FieldError::new("", "a message must be a JSON object")]),
                    };
                    (call, id)
                })
                .unzip()
        }
        Messages::One(kind) => (
            vec![decode::message(body, Some(kind), &request)],
            vec![body.get("messageId").cloned().unwrap_or(Value::Null)],
        ),
    };
    let outcomes = app
        .record_calls(&ctx.project, &ctx.settings, &ctx.client, calls)
        .await?;
    let failed: Vec<(usize, Vec<FieldError>)> = outcomes
        .into_iter()
        .enumerate()
        .filter_map(|(index, outcome)| match outcome {
            CallOutcome::Accepted => None,
            CallOutcome::Failed(errors) => Some((index, errors)),
        })
        .collect();
    if let (Messages::One(_), Some((_, errors))) = (messages, failed.first()) {
        return Err(Error::Validation(errors.clone()));
    }
    let mut answer = json!({"success": true});
    if !failed.is_empty() {
        answer["failed"] = failed
            .into_iter()
            .map(|(index, errors)| {
                json!({
                    "index": index,
                    "messageId": message_ids[index],
                    "error": describe(&errors),
                })
            })
            .collect();
    }
    Ok(answer.into())
}

/// A refused message's errors in one line, as `failed` gives them.
fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| match e.field.as_str() {
            "" => e.message.clone(),
            field => format!("{field}: {}", e.message),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
