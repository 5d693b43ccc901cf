"""The analytics API's request models and routes as a FastAPI + pydantic v2 app.

A reference for the Rust side: the seed (an API reference page generated from the
service's OpenAPI document) describes the request bodies, their constraints and the
HTTPBearer authorization of `POST /api/v1/analytics` and `POST /api/v1/analytics/batch`,
but not what the service answers to a bad request. FastAPI decides that, from the
models below; this app lets the tests ask it instead of guessing.

Only the error answers (401, 422, ...) are meant to be compared. The handlers answer a
fixed, trivial body on success.

Run as a program it reads a JSON array of cases from stdin,

    [{"method": "POST", "path": "/api/v1/analytics",
      "headers": {"Authorization": "Bearer t", "Content-Type": "application/json"},
      "body": "{\\"event_name\\": \\"x\\"}"}, ...]

sends each through FastAPI's TestClient (in process, no network), and prints one JSON
array with `{"status": <int>, "body": <the parsed JSON body, or null when empty>}` per
case, in order. A case may leave out `method` (POST), `headers` ({}) and `body` (no
body); a body that is not valid JSON in the answer is given as a string.

Reading of the seed, where it leaves a choice:
- `category` and `priority` are str Enums, not Literals: a wrong value is then reported
  with type "enum" (a Literal would say "literal_error"), and the seed's document shows
  them as a string with a closed set of values, which both produce.
- `properties` is `dict[str, Any]` defaulting to {}, not nullable: the seed renders every
  nullable field (timestamp, session_id, page_url, referrer, user_agent, client_id) with
  a "|" (an anyOf with null) and `properties` without one, so `"properties": null` is
  a `dict_type` error, like any other non-object.
- no field has a length limit beyond those the seed lists; unknown fields are ignored
  (pydantic's default: the seed says nothing about them).
"""

from __future__ import annotations

import base64
import json
import sys
import warnings
from datetime import datetime
from enum import Enum
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field


class EventCategory(str, Enum):
    page_view = "page_view"
    user_action = "user_action"
    trading = "trading"
    auth = "auth"
    error = "error"
    performance = "performance"
    feature = "feature"
    system = "system"


class EventPriority(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class EventIn(BaseModel):
    event_name: str = Field(..., min_length=1, max_length=100, description="Event name")
    category: EventCategory = Field(EventCategory.user_action, description="Event category")
    priority: EventPriority = Field(EventPriority.medium, description="Event priority")
    properties: dict[str, Any] = Field(default_factory=dict, description="Event properties")
    timestamp: datetime | None = Field(
        None, description="Event timestamp (defaults to server time)"
    )
    session_id: str | None = Field(None, description="Session identifier")
    page_url: str | None = Field(None, description="Page URL where event occurred")
    referrer: str | None = Field(None, description="Referrer URL")
    user_agent: str | None = Field(None, description="User agent string")


class BatchIn(BaseModel):
    events: list[EventIn] = Field(
        ..., min_length=1, max_length=100, description="List of events (max 100)"
    )
    client_id: str | None = Field(None, description="Client identifier")


bearer = HTTPBearer()
app = FastAPI(title="analytics seed reference")


@app.post("/api/v1/analytics", tags=["Analytics"], summary="Track Event")
def track_event(
    event: EventIn, credentials: HTTPAuthorizationCredentials = Depends(bearer)
) -> dict[str, Any]:
    return {"success": True, "event_id": "ref", "message": "ok"}


@app.post("/api/v1/analytics/batch", tags=["Analytics"], summary="Track Batch")
def track_batch(
    batch: BatchIn, credentials: HTTPAuthorizationCredentials = Depends(bearer)
) -> dict[str, Any]:
    n = len(batch.events)
    return {
        "success": True,
        "events_received": n,
        "events_queued": n,
        "events_failed": 0,
        "message": "ok",
    }


def run_cases(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Newer Starlette prefers the httpx2 package for its TestClient and warns when it
    # runs on httpx; the warning is noise here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from fastapi.testclient import TestClient

    answers = []
    # raise_server_exceptions=False: an unexpected server error is an answer (500)
    # to record, not a crash of the reference.
    with TestClient(app, raise_server_exceptions=False) as client:
        for case in cases:
            if "body_base64" in case:
                content: bytes | None = base64.b64decode(case["body_base64"])
            elif case.get("body") is not None:
                content = case["body"].encode("utf-8")
            else:
                content = None
            response = client.request(
                case.get("method", "POST"),
                case["path"],
                headers=case.get("headers") or {},
                content=content,
                # A redirect (FastAPI's 307 for a trailing slash) is an answer too.
                follow_redirects=False,
            )
            text = response.text
            try:
                parsed: Any = json.loads(text) if text else None
            except ValueError:
                parsed = text
            answers.append({"status": response.status_code, "body": parsed})
    return answers


def main() -> int:
    cases = json.load(sys.stdin)
    if not isinstance(cases, list):
        print("analytics_seed.py: stdin must hold a JSON array of cases", file=sys.stderr)
        return 2
    json.dump(run_cases(cases), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
