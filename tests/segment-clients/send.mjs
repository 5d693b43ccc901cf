// Sends one of each Segment call through Segment's Node library, for
// tests/tests/segment_clients.rs.
//
//   node send.mjs BASE_URL WRITE_KEY RUN_ID [TIMESTAMP]
//
// @segment/analytics-node (pinned in package-lock.json) runs as an application runs it: calls
// batched to BASE_URL/v1/batch, then closeAndFlush(). For RUN_ID R (library tag "node") the
// calls and their order are those of send.py: identify, track "Signed Up node-R", page
// "Docs"/"Pricing", screen "Home", group acme-node-R, track "Browsed node-R" from anon2-node-R
// only, alias anon2-node-R -> u-node-R; messageIds msg-node-R-1..7; a context with an IP and a
// desktop Chrome user agent. With TIMESTAMP (ISO 8601), message n is stamped TIMESTAMP +
// n * 100 ms instead of the time of the call, so that a second run with the same R and
// TIMESTAMP re-sends exactly the messages of the first, as the library's own retries do.
//
// It exits 0 only when the library reported no error (its `error` event and each call's
// callback), every HTTP request was answered 200 and the messages went out in the order they
// were made. The last line of stdout is a JSON summary.

import { Analytics } from '@segment/analytics-node'

const USER_AGENT =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 ' +
  '(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
const IP = '8.8.8.8'
const PRICING_URL =
  'https://example.com/pricing?utm_source=news&utm_medium=email&utm_campaign=spring'

const [baseUrl, writeKey, run, timestamp] = process.argv.slice(2)
if (!baseUrl || !writeKey || !run) {
  console.error('usage: node send.mjs BASE_URL WRITE_KEY RUN_ID [TIMESTAMP]')
  process.exit(2)
}
const baseTime = timestamp === undefined ? undefined : new Date(timestamp)
if (baseTime !== undefined && Number.isNaN(baseTime.getTime())) {
  console.error(`not a timestamp: ${timestamp}`)
  process.exit(2)
}

const errors = []
const requests = []
const analytics = new Analytics({
  writeKey,
  host: baseUrl,
  // One batch for the seven calls, sent by closeAndFlush() (or this soon after the first).
  maxEventsInBatch: 15,
  flushInterval: 1000,
  // A server that keeps failing should fail the test in seconds.
  maxRetries: 3,
  httpRequestTimeout: 15000,
})
analytics.on('error', (error) => {
  errors.push({ error: `${error.code}: ${error.reason?.message ?? error.reason}` })
})
// Every request and its answer: the messages it carried and the status.
const pending = new Map()
analytics.on('http_request', (request) => {
  const ids = JSON.parse(request.body).batch.map((m) => m.messageId)
  pending.set(request.body, { path: new URL(request.url).pathname, messages: ids })
})
analytics.on('http_response', (response) => {
  const request = pending.get(response.body) ?? {
    path: new URL(response.url).pathname,
    messages: [],
  }
  requests.push({ ...request, status: response.status })
})

const tag = `node-${run}`
const user = `u-${tag}`
const anon = `anon-${tag}`
const anon2 = `anon2-${tag}`
const msg = (n) => `msg-${tag}-${n}`
// The message's fixed time, or undefined: the library stamps it.
const at = (n) => (baseTime === undefined ? undefined : new Date(baseTime.getTime() + 100 * n))
const context = () => ({ ip: IP, userAgent: USER_AGENT })
const delivered = (n) => (error) => {
  if (error) errors.push({ error: String(error?.message ?? error), message: msg(n) })
}

analytics.identify(
  {
    userId: user,
    anonymousId: anon,
    traits: { name: `Ada ${tag}`, email: `ada-${tag}@example.com`, plan: 'pro' },
    context: context(),
    messageId: msg(1),
    timestamp: at(1),
  },
  delivered(1),
)
analytics.track(
  {
    userId: user,
    anonymousId: anon,
    event: `Signed Up ${tag}`,
    properties: { plan: 'pro', seats: 3 },
    context: context(),
    messageId: msg(2),
    timestamp: at(2),
  },
  delivered(2),
)
analytics.page(
  {
    userId: user,
    category: 'Docs',
    name: 'Pricing',
    properties: { path: '/pricing', url: PRICING_URL },
    context: context(),
    messageId: msg(3),
    timestamp: at(3),
  },
  delivered(3),
)
analytics.screen(
  { userId: user, name: 'Home', context: context(), messageId: msg(4), timestamp: at(4) },
  delivered(4),
)
analytics.group(
  {
    userId: user,
    groupId: `acme-${tag}`,
    traits: { name: 'Acme', employees: 50 },
    context: context(),
    messageId: msg(5),
    timestamp: at(5),
  },
  delivered(5),
)
analytics.track(
  {
    anonymousId: anon2,
    event: `Browsed ${tag}`,
    properties: { step: 1 },
    context: context(),
    messageId: msg(6),
    timestamp: at(6),
  },
  delivered(6),
)
analytics.alias(
  { previousId: anon2, userId: user, context: context(), messageId: msg(7), timestamp: at(7) },
  delivered(7),
)

const started = Date.now()
await analytics.closeAndFlush({ timeout: 60000 })
const took = (Date.now() - started) / 1000

const sent = []
for (const request of requests) {
  for (const id of request.messages) if (!sent.includes(id)) sent.push(id)
}
const expected = [1, 2, 3, 4, 5, 6, 7].map(msg)
const problems = []
if (errors.length) problems.push('the library reported errors')
if (!requests.length) problems.push('no request was made')
if (requests.some((r) => r.status !== 200 || r.path !== '/v1/batch')) {
  problems.push('a request was not a POST /v1/batch answered 200')
}
if (JSON.stringify(sent) !== JSON.stringify(expected)) {
  problems.push(`messages went out as ${JSON.stringify(sent)}, not ${JSON.stringify(expected)}`)
}
const summary = {
  ok: problems.length === 0,
  library: 'node',
  problems,
  errors,
  requests,
  flush_seconds: took,
}
console.log(JSON.stringify(summary))
process.exit(summary.ok ? 0 : 1)
