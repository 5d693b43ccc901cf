//! `POST /init`: create or continue a session, store its raw context, and enrich it now
//! (`synchronous: true`, or no queue) or through the queue.

use serde_json::{Map, Value, json};

use crate::domain::values::SessionUuid;
use crate::enrich::GEO_KEY;
use crate::error::Error;
use crate::http::RequestCtx;
use crate::http::requests::{InitRequest, UrlContext};
use crate::queue::EnrichJob;
use crate::service::App;
use crate::store::item::get_i64;
use crate::store::repo::{InitWrite, session_attr};

/// The stored context: the URL parts and client fields as sent, with the request's own IP
/// and User-Agent standing in for absent ones.
/// The context as stored. When the project anonymizes addresses, the GeoIP lookup happens here,
/// on the full address, and only its result (under `geo`, a key no SDK sends at this level) and
/// the cut address are stored; enrichment, inline or queued, then uses that result.
fn stored_context(app: &App, req: &InitRequest, ctx: &RequestCtx) -> Value {
    let UrlContext {
        href,
        raw,
        path,
        query,
        hash,
        referer,
        source_url,
    } = &req.url;
    let mut url = Map::new();
    for (name, value) in [
        ("href", href),
        ("raw", raw),
        ("path", path),
        ("query", query),
        ("hash", hash),
        ("referer", referer),
        ("source_url", source_url),
    ] {
        if let Some(v) = value {
            url.insert(name.into(), Value::String(v.clone()));
        }
    }
    let mut client = req.client.other.clone();
    let ip = req
        .client
        .ip_address
        .clone()
        .or_else(|| ctx.client.ip.map(|ip| ip.to_string()));
    let user_agent = req
        .client
        .user_agent
        .clone()
        .or_else(|| ctx.client.user_agent.clone());
    let mut geo = None;
    if let Some(ip) = ip {
        let stored = ctx.settings.stored_ip_text(&ip);
        if stored.as_deref() != Some(ip.as_str()) {
            // Anonymized: look the full address up now, in memory, and keep only the result.
            let mut looked_up = app.enricher.geo().ip_data(Some(&ip)).data;
            match &stored {
                Some(cut) => looked_up["ip"] = Value::String(cut.clone()),
                None => {
                    if let Some(data) = looked_up.as_object_mut() {
                        data.remove("ip");
                    }
                }
            }
            geo = Some(looked_up);
        }
        if let Some(stored) = stored {
            client.insert("ipAddress".into(), Value::String(stored));
        }
    }
    if let Some(ua) = user_agent {
        client.insert("userAgent".into(), Value::String(ua));
    }
    let mut context = json!({"url": url, "client": client});
    if let Some(geo) = geo {
        context[GEO_KEY] = geo;
    }
    context
}

pub async fn handle(
    app: &App,
    ctx: &RequestCtx,
    body: &Map<String, Value>,
) -> Result<Value, Error> {
    let req = InitRequest::parse(body, &app.config.limits)?;
    let uuid = req.uuid.unwrap_or_else(SessionUuid::new_v4);
    let write = InitWrite {
        uuid,
        context: stored_context(app, &req, ctx),
        user_attributes: req.user_attributes.clone(),
        custom_data: req.custom_data.clone(),
        settings: ctx.settings,
    };
    let item = app.store.init_session(&ctx.project, &write).await?;

    let mut queued = false;
    if !req.synchronous
        && let Some(queue) = &app.queue
    {
        let job = EnrichJob {
            project: ctx.project.as_str().to_owned(),
            uuid: uuid.to_string(),
            init_seq: get_i64(&item, session_attr::INIT_SEQ).unwrap_or_default(),
        };
        match queue.send(&job).await {
            Ok(()) => queued = true,
            // An init is never lost to a queue outage: enrich now instead.
            Err(e) => tracing::warn!(
                error = &e as &dyn std::error::Error,
                "enqueue failed; enriching inline"
            ),
        }
    }
    if !queued {
        app.enrich_item(&ctx.project, &uuid, &item).await?;
    }
    Ok(json!({"success": true, "uuid": uuid.to_string(), "queued": queued}))
}
