"""Sends one of each Segment call through a real Python library, for tests/tests/segment_clients.rs.

    .tools/venv-segment/bin/python send.py segment|rudder BASE_URL WRITE_KEY RUN_ID [TIMESTAMP]

`segment` is segment-analytics-python, `rudder` is rudder-sdk-python (their versions are pinned
in requirements.txt). Both run as an application runs them: the default background consumer,
batching to BASE_URL/v1/batch, rudder gzipping its bodies. For RUN_ID R and library L the
calls are, in this order:

    1  identify  userId u-L-R, anonymousId anon-L-R, traits {name, email, plan}
    2  track     "Signed Up L-R" {plan: "pro", seats: 3}, userId and anonymousId
    3  page      category "Docs", name "Pricing", {path, url with utm tags}, userId only
    4  screen    name "Home", userId only
    5  group     groupId acme-L-R, traits {name: "Acme", employees: 50}, userId only
    6  track     "Browsed L-R" {step: 1}, anonymousId anon2-L-R only
    7  alias     previousId anon2-L-R, userId u-L-R

each with messageId msg-L-R-<n> and a context with an IP and a desktop Chrome user agent.
With TIMESTAMP (ISO 8601), message n is stamped TIMESTAMP + n * 100 ms instead of the time of
the call, so that a second run with the same R and TIMESTAMP re-sends exactly the messages of
the first, as the libraries' own retries do (same messageId, same timestamp).

It exits 0 only when the library reported no error (its on_error hook), every HTTP request
was answered 200 (rudder treats anything else as a failure and retries it) and the messages
went out in the order they were made. The last line of stdout is a JSON summary.
"""

import gzip
import json
import sys
import time
from datetime import datetime, timedelta

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
IP = "8.8.8.8"
PRICING_URL = "https://example.com/pricing?utm_source=news&utm_medium=email&utm_campaign=spring"


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[1] not in ("segment", "rudder"):
        sys.exit("usage: send.py segment|rudder BASE_URL WRITE_KEY RUN_ID [TIMESTAMP]")
    lib, base_url, write_key, run = sys.argv[1:5]
    base_time = datetime.fromisoformat(sys.argv[5]) if len(sys.argv) == 6 else None

    if lib == "segment":
        from segment.analytics import Client
        from segment.analytics import request as transport
    else:
        from rudderstack.analytics import Client
        from rudderstack.analytics import request as transport

    errors = []
    requests = []

    def on_error(error, batch):
        errors.append({"error": repr(error), "messages": [m.get("messageId") for m in batch]})

    # Every response of the library's HTTP session: its status and the messages it carried.
    def on_response(response, *args, **kwargs):
        body = response.request.body or b""
        if response.request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        try:
            ids = [m.get("messageId") for m in json.loads(body).get("batch", [])]
        except ValueError:
            ids = []
        requests.append(
            {"path": response.request.path_url, "status": response.status_code, "messages": ids}
        )

    transport._session.hooks["response"].append(on_response)

    client = Client(
        write_key,
        host=base_url,
        on_error=on_error,
        # A server that keeps failing should fail the test in seconds, not after the
        # default ten retries with exponential backoff.
        max_retries=3,
        timeout=15,
    )

    def context():
        # A fresh dict per call: rudder writes identify's traits into the one it is given.
        return {"ip": IP, "userAgent": USER_AGENT}

    tag = f"{lib}-{run}"
    user, anon, anon2 = f"u-{tag}", f"anon-{tag}", f"anon2-{tag}"

    def msg(n):
        return f"msg-{tag}-{n}"

    def at(n):
        return None if base_time is None else base_time + timedelta(milliseconds=100 * n)

    results = [
        client.identify(
            user,
            {"name": f"Ada {tag}", "email": f"ada-{tag}@example.com", "plan": "pro"},
            context=context(),
            anonymous_id=anon,
            message_id=msg(1),
            timestamp=at(1),
        ),
        client.track(
            user,
            f"Signed Up {tag}",
            {"plan": "pro", "seats": 3},
            context=context(),
            anonymous_id=anon,
            message_id=msg(2),
            timestamp=at(2),
        ),
        client.page(
            user,
            category="Docs",
            name="Pricing",
            properties={"path": "/pricing", "url": PRICING_URL},
            context=context(),
            message_id=msg(3),
            timestamp=at(3),
        ),
        client.screen(user, name="Home", context=context(), message_id=msg(4), timestamp=at(4)),
        client.group(
            user,
            f"acme-{tag}",
            {"name": "Acme", "employees": 50},
            context=context(),
            message_id=msg(5),
            timestamp=at(5),
        ),
        client.track(
            event=f"Browsed {tag}",
            properties={"step": 1},
            context=context(),
            anonymous_id=anon2,
            message_id=msg(6),
            timestamp=at(6),
        ),
        client.alias(
            anon2, user, context=context(), message_id=msg(7), timestamp=at(7)
        ),
    ]
    queued = [ok for ok, _ in results]

    started = time.monotonic()
    client.flush()
    client.join()
    took = time.monotonic() - started

    sent = []
    for request in requests:
        for message_id in request["messages"]:
            if message_id not in sent:
                sent.append(message_id)
    expected = [msg(n) for n in range(1, 8)]
    problems = []
    if not all(queued):
        problems.append(f"the library refused to queue some calls: {queued}")
    if errors:
        problems.append("the library reported errors")
    if not requests:
        problems.append("no request was made")
    if any(r["status"] != 200 or r["path"] != "/v1/batch" for r in requests):
        problems.append("a request was not a POST /v1/batch answered 200")
    if sent != expected:
        problems.append(f"messages went out as {sent}, not {expected}")

    summary = {
        "ok": not problems,
        "library": lib,
        "problems": problems,
        "errors": errors,
        "requests": requests,
        "flush_seconds": round(took, 2),
    }
    print(json.dumps(summary))
    sys.exit(0 if summary["ok"] else 1)


if __name__ == "__main__":
    main()
