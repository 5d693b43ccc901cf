// Drives the live events page (GET /) in headless Chromium through playwright-core, against a
// running server, as a person would: a refused public key, an unknown key, the secret key,
// an event sent after the page opened showing up within five seconds, the filters, the
// details of an event and its session, hostile names rendered as text, pause and resume, an
// unreachable server, and both widths. tests/tests/live_page.rs runs it against `atrack
// serve` on each engine and fails with what this prints.
//
// Environment: ATRACK_URL (the server, http://127.0.0.1:PORT), ATRACK_PUBLIC_KEY,
// ATRACK_SECRET_KEY, ATRACK_SCREENSHOTS (a folder for the screenshots), ATRACK_CHROMIUM
// (default /usr/bin/chromium). Exit 0 when every step passed; else 1, naming the step.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
};
const BASE = env('ATRACK_URL').replace(/\/$/, '');
const PUBLIC_KEY = env('ATRACK_PUBLIC_KEY');
const SECRET_KEY = env('ATRACK_SECRET_KEY');
const SHOTS = env('ATRACK_SCREENSHOTS');
const CHROMIUM = env('ATRACK_CHROMIUM', '/usr/bin/chromium');

// The one timed promise: an event sent after the page opened is listed within 5 s.
const APPEAR_WITHIN_MS = 5000;
// Every other wait is a bound for a failure to be reported, not a promise about speed: two
// shared cores may also be compiling.
const WAIT_MS = 20_000;

const run = Math.random().toString(36).slice(2, 8);
const HOSTILE = '<img src=x onerror=alert(1)>';
const report = { run, steps: [] };

let phase = 'load';
// A console message may be delivered just after its step ended: the step before counts too.
let previousPhase = 'load';
const consoleErrors = [];
const pageErrors = [];
const dialogs = [];

// The browser itself logs every answer of 4xx and every refused connection as a console
// error ("Failed to load resource: …"). Those are expected only in the steps that provoke
// them, with the status each provokes; anything else logged as an error fails the run.
const EXPECTED_NETWORK_ERRORS = {
  'public-key': /status of 403/,
  'unknown-key': /status of 401/,
  'bad-filter': /status of 400/,
  outage: /net::ERR_/,
};

async function step(name, body) {
  previousPhase = phase;
  phase = name;
  const started = Date.now();
  try {
    const detail = await body();
    report.steps.push({ name, ms: Date.now() - started, ...(detail || {}) });
  } catch (err) {
    err.message = `step '${name}': ${err.message}`;
    throw err;
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** POSTs JSON to the API with a key, as an SDK would; the answer's JSON. */
async function api(path, key, body) {
  const response = await fetch(`${BASE}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-a-track-key': key },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  assert(response.ok && json.success, `${path} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

/** A visitor landing from an ad on an iPhone: the README's /init, answered enriched. */
async function landing() {
  const answer = await api('/init', PUBLIC_KEY, {
    synchronous: true,
    context: {
      url: {
        href: `https://a-track.io/pricing?utm_source=google&utm_medium=cpc&utm_campaign=spring-launch-${run}&gclid=gclid_${run}`,
        referer: 'https://google.com/',
      },
      client: {
        ipAddress: '50.89.98.90',
        userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
        locale: 'en-US',
      },
      user: { attributes: { plan: 'pro' } },
    },
  });
  return answer.uuid;
}

const track = (uuid, event, extra) => api('/event', PUBLIC_KEY, { uuid, event, ...extra });

// This run's visitor: rows are looked up by name within its UUID, so a server used before
// (a developer's) may hold events of the same names.
let uuid = null;

/** The list's row for this run's event named exactly `name`. */
const row = (page, name) =>
  page.locator(`#rows tr[data-uuid="${uuid}"]`).filter({
    has: page.locator('td.c-name .name').getByText(name, { exact: true }),
  });

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  rmSync(join(SHOTS, 'failure.png'), { force: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', // root in a container: no user namespaces for the sandbox
      '--disable-gpu',
      '--disable-dev-shm-usage',
      // The network is closed here: without these Chromium keeps trying Google's services.
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    await drive(browser);
  } catch (err) {
    if (failurePage) {
      await failurePage.screenshot({ path: join(SHOTS, 'failure.png') }).catch(() => {});
      report.failureScreenshot = join(SHOTS, 'failure.png');
    }
    throw err;
  } finally {
    await browser.close();
  }
}

// The page, for a screenshot of how it looked when a step failed.
let failurePage = null;

async function drive(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    const expected = [EXPECTED_NETWORK_ERRORS[phase], EXPECTED_NETWORK_ERRORS[previousPhase]];
    if (text.startsWith('Failed to load resource') && expected.some((e) => e && e.test(text))) return;
    consoleErrors.push({ phase, text, url: message.location().url });
  });
  failurePage = page;
  page.on('pageerror', (error) => pageErrors.push({ phase, message: error.message }));
  page.on('dialog', async (dialog) => {
    dialogs.push({ phase, type: dialog.type(), message: dialog.message() });
    await dialog.dismiss();
  });

  await step('load', async () => {
    const response = await page.goto(`${BASE}/`);
    assert(response.status() === 200, `GET / answered ${response.status()}`);
    const csp = response.headers()['content-security-policy'] || '';
    assert(csp.includes("script-src 'self'") && !csp.includes('unsafe'), `CSP: ${csp}`);
    await page.getByLabel('Secret key').waitFor();
  });

  const openWith = async (key) => {
    await page.getByLabel('Secret key').fill(key);
    await page.getByRole('button', { name: 'Open' }).click();
  };

  await step('public-key', async () => {
    await openWith(PUBLIC_KEY);
    await page.locator('#key-error', { hasText: 'This is a public key' }).waitFor();
    assert(await page.locator('#liveview').isHidden(), 'the live view opened with a public key');
  });

  await step('unknown-key', async () => {
    await openWith(`sk_unknown_${run}`);
    await page.locator('#key-error', { hasText: 'not known to this server' }).waitFor();
  });

  await step('secret-key', async () => {
    await openWith(SECRET_KEY);
    await page.locator('#liveview').waitFor();
    await page.locator('#status', { hasText: 'Live' }).waitFor();
    const kept = await page.evaluate(() => ({
      storage: Object.values(sessionStorage),
      cookie: document.cookie,
      url: location.href,
      local: Object.values(localStorage),
    }));
    assert(kept.storage.includes(SECRET_KEY), 'the key is not in sessionStorage');
    assert(!kept.url.includes(SECRET_KEY) && !kept.cookie.includes(SECRET_KEY), 'the key leaked into the URL or a cookie');
    assert(!kept.local.includes(SECRET_KEY), 'the key is in localStorage');
  });

  // After the page is open: a visitor lands and acts.
  uuid = await landing();
  const first = `live_check_${run}`;
  const other = `other_${run}`;

  await step('appears', async () => {
    await track(uuid, first, { label: `First ${run}`, attributes: { cart_value: 129.99, currency: 'USD' } });
    const sent = Date.now();
    await row(page, first).waitFor({ timeout: APPEAR_WITHIN_MS });
    const appearedAfterMs = Date.now() - sent;
    // The context summary, from the session's enrichment.
    const context = row(page, first).locator('td.c-context');
    await context.filter({ hasText: 'Mobile Safari' }).waitFor();
    const summary = await context.innerText();
    for (const part of ['iOS', 'mobile', 'google / cpc']) {
      assert(summary.includes(part), `context summary lacks '${part}': ${summary}`);
    }
    return { appearedAfterMs, summary };
  });

  await step('name-filter', async () => {
    await track(uuid, other, {});
    await row(page, other).waitFor();
    await page.getByLabel('Event name starts with').fill('live_check');
    await row(page, other).waitFor({ state: 'detached' });
    await row(page, first).waitFor();
    // And it keeps filtering what arrives from now on.
    await track(uuid, `${other}_2`, {});
    await track(uuid, `live_check_${run}_2`, {});
    await row(page, `live_check_${run}_2`).waitFor();
    assert(await row(page, `${other}_2`).count() === 0, 'a filtered-out event arrived in the list');
  });

  await step('country-filter', async () => {
    // The visitor's address places it in the US (the suite's GeoIP databases).
    const country = page.getByLabel('Country');
    await country.fill('de');
    await row(page, first).waitFor({ state: 'detached' });
    await country.fill('us');
    await row(page, first).waitFor();
    const badge = await row(page, first).locator('td.c-context .badge').innerText();
    assert(badge === 'US', `the country badge reads '${badge}'`);
    await country.fill('');
    return { badge };
  });

  await step('bad-filter', async () => {
    const free = page.getByLabel('Filter', { exact: true });
    await free.fill("Foo eq 'x'");
    const error = page.locator('#f-query-error');
    await error.filter({ hasText: 'at position 0' }).waitFor();
    const message = await error.innerText();
    assert(message.includes("unknown field 'Foo'"), `inline error: ${message}`);
    assert(await free.getAttribute('aria-invalid') === 'true', 'the field is not marked invalid');
    // The list still shows what the other filters select.
    await row(page, first).waitFor();
    await free.fill(`EventType eq '${first}'`);
    await page.waitForFunction(() => document.getElementById('f-query-error').textContent === '');
    await row(page, `live_check_${run}_2`).waitFor({ state: 'detached' });
    await row(page, first).waitFor();
    return { message };
  });

  await step('details', async () => {
    // By keyboard: the row takes focus and Enter opens it.
    const target = row(page, first);
    await target.focus();
    await page.keyboard.press('Enter');
    const panel = page.locator('#detail');
    await panel.waitFor();
    const title = await page.locator('#detail-title').innerText();
    assert(title === first, `the panel's title is '${title}'`);
    await panel.locator('h4', { hasText: 'utm_data' }).waitFor();
    const text = await panel.innerText();
    for (const expected of [`spring-launch-${run}`, `gclid_${run}`, 'Mobile Safari', 'device_data', 'ip_data', 'click_ids', 'url_data', 'plan', 'cart_value']) {
      assert(text.includes(expected), `the details lack '${expected}'`);
    }
    // The raw JSON, one click away.
    await panel.getByText('Raw JSON of session/show').click();
    const raw = await panel.locator('details.raw[open] pre').last().innerText();
    const parsed = JSON.parse(raw);
    assert(parsed.session.uuid === uuid, 'the raw JSON is not the session');
    // Escape closes it and gives the focus back to the row.
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'hidden' });
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
    assert(focused === 'TR', `focus went to ${focused} after Escape`);
  });

  await step('clear-filters', async () => {
    await page.getByLabel('Filter', { exact: true }).fill('');
    await page.getByLabel('Event name starts with').fill('');
    await row(page, other).waitFor();
  });

  await step('hostile', async () => {
    const label = '<b>bold</b>';
    await track(uuid, HOSTILE, {
      label,
      attributes: { '<script>alert(3)</script>': '<svg onload=alert(2)>' },
    });
    const hostile = row(page, HOSTILE);
    await hostile.waitFor();
    const shown = await hostile.locator('td.c-name').innerText();
    assert(shown === HOSTILE, `the name renders as '${shown}'`);
    await hostile.click();
    await page.locator('#detail h4', { hasText: 'utm_data' }).waitFor();
    const title = await page.locator('#detail-title').innerText();
    assert(title === HOSTILE, `the panel's title renders as '${title}'`);
    const injected = await page.evaluate(() => ({
      img: document.querySelectorAll('img').length,
      b: document.querySelectorAll('main b').length,
      script: [...document.querySelectorAll('script')].filter((s) => !s.src.endsWith('/live.js')).length,
      onload: document.querySelectorAll('[onload], [onerror]').length,
    }));
    assert(Object.values(injected).every((n) => n === 0), `elements were injected: ${JSON.stringify(injected)}`);
    const details = await page.locator('#detail').innerText();
    assert(details.includes('<svg onload=alert(2)>'), 'the hostile attribute is not shown as text');
    await page.keyboard.press('Escape');
    return { injected };
  });

  await step('pause', async () => {
    const pause = page.getByRole('button', { name: 'Pause' });
    await pause.click();
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    const held = `paused_${run}`;
    await track(uuid, held, {});
    await page.locator('#pending', { hasText: '1 new event while paused' }).waitFor();
    assert(await row(page, held).count() === 0, 'an event was listed while paused');
    await page.getByRole('button', { name: 'Resume' }).click();
    await row(page, held).waitFor();
    await page.locator('#pending').waitFor({ state: 'hidden' });
  });

  await step('chart', async () => {
    // At least the events this run sent (the list's rows come into the chart as they arrive).
    const sent = 6;
    await page.waitForFunction((n) => {
      const match = /last hour: (?:≥ )?([\d,]+) events?/.exec(document.getElementById('chart-caption').textContent);
      return match && Number(match[1].replace(/,/g, '')) >= n;
    }, sent);
    const bars = await page.locator('#chart svg rect.bar').count();
    assert(bars >= 1, 'no bar in the chart');
    return { caption: await page.locator('#chart-caption').innerText() };
  });

  await step('outage', async () => {
    // The server goes away (every API call refused), then comes back.
    await page.route('**/event/query', (route) => route.abort('connectionrefused'));
    await page.locator('#banner', { hasText: 'Cannot reach the server' }).waitFor();
    assert(await page.locator('#rows tr').count() > 0, 'the list was emptied by the outage');
    await page.unroute('**/event/query');
    await page.locator('#banner').waitFor({ state: 'hidden' });
    await page.locator('#status', { hasText: 'Live' }).waitFor();
  });

  await step('screenshots', async () => {
    await page.screenshot({ path: join(SHOTS, 'desktop.png') });
    // The page from its top with an event's details beside the list (what the README shows).
    await row(page, first).click();
    await page.locator('#detail h4', { hasText: 'utm_data' }).waitFor();
    await page.evaluate(() => {
      window.scrollTo(0, 0);
      document.getElementById('detail').scrollTop = 0;
    });
    await page.screenshot({ path: join(SHOTS, 'desktop-details.png') });
    await page.keyboard.press('Escape');
    await page.locator('#detail').waitFor({ state: 'hidden' });
    await page.setViewportSize({ width: 390, height: 844 });
    await row(page, first).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(overflow <= 390, `the page is ${overflow}px wide at a phone's 390px`);
    await page.screenshot({ path: join(SHOTS, 'phone.png') });
    await row(page, first).click();
    await page.locator('#detail').waitFor();
    const box = await page.locator('#detail').boundingBox();
    assert(box && box.width <= 390, `the details are ${box && box.width}px wide on a phone`);
    await page.screenshot({ path: join(SHOTS, 'phone-details.png') });
    await page.getByRole('button', { name: 'Close details' }).click();
    await page.locator('#detail').waitFor({ state: 'hidden' });
  });

  await step('change-key', async () => {
    await page.getByRole('button', { name: 'Change key' }).click();
    await page.getByLabel('Secret key').waitFor();
    const left = await page.evaluate(() => Object.values(sessionStorage));
    assert(!left.includes(SECRET_KEY), 'the key stayed in sessionStorage');
  });

  assert(pageErrors.length === 0, `uncaught exceptions: ${JSON.stringify(pageErrors)}`);
  assert(consoleErrors.length === 0, `console errors: ${JSON.stringify(consoleErrors)}`);
  assert(dialogs.length === 0, `dialogs opened: ${JSON.stringify(dialogs)}`);
}

main().then(
  () => {
    console.log(JSON.stringify({ ok: true, ...report }));
  },
  (err) => {
    console.log(JSON.stringify({
      ok: false, error: err.message, phase, consoleErrors, pageErrors, dialogs, ...report,
    }, null, 2));
    console.error(err.stack);
    process.exitCode = 1;
  },
);
