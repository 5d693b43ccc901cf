// The live events page: polls this server's POST /event/query every two seconds with a time
// bound, lists what it has not seen yet, and reads each new UUID's session once (session/show)
// for the one-line summary of what enrichment made of it. No framework and no build step:
// the DOM is built with createElement and textContent only, because event names, labels and
// attributes are whatever an SDK sent.
'use strict';

(() => {
  const POLL_MS = 2000;
  // Each poll reads back this far before the last one, so an event committed a little after a
  // later one (two requests in flight, an index that trails its table) is still caught; rows
  // already shown are recognised by their track_id.
  const LOOKBACK_MS = 30_000;
  // The list and the chart cover the last hour: every query is bounded in time, so its cost
  // never grows with the project's history.
  const WINDOW_MS = 60 * 60_000;
  const PAGE = 100;
  const MAX_ROWS = 500;
  const CHART_REFRESH_MS = 30_000;
  const CHART_PAGE = 1000;
  const CHART_CAP = 5000;
  const SESSION_CACHE = 300;
  const SESSION_CONCURRENCY = 2;
  // A session read before enrichment finished (a queued init) is read again a few times.
  const SESSION_RETRY_MS = 5000;
  const SESSION_TRIES = 3;
  const PENDING_CAP = 1000;
  const FILTER_DEBOUNCE_MS = 300;
  const KEY_STORAGE = 'atrack.live.secret-key';

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- DOM helpers --

  /** An element with text content and attributes; children may be nodes or strings. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = value;
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  const DASH = '—';
  const text = (value) =>
    value === undefined || value === null || value === '' ? DASH : String(value);

  const timeFormat = new Intl.DateTimeFormat(undefined, {
    hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  });
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
    hour12: false,
  });
  function localTime(iso) {
    const ms = Date.parse(iso);
    if (Number.isNaN(ms)) return text(iso);
    const sameDay = new Date(ms).toDateString() === new Date().toDateString();
    return (sameDay ? timeFormat : dateTimeFormat).format(ms);
  }

  // ---------------------------------------------------------------- state --

  const state = {
    key: null,
    // The filter as typed, and the composed filter the list and chart were loaded with.
    applied: null,
    generation: 0,
    rows: [], // newest first
    seen: new Map(), // row key -> row, for every row listed or pending
    pending: [], // received while paused, newest first
    paused: false,
    lastPollAt: null, // server time the last successful poll covered up to
    pollTimer: null,
    chartTimer: null,
    chart: { generation: 0, start: 0, times: new Map(), capped: false, loaded: false },
    sessions: new Map(), // uuid -> {status, data, at, tries}
    sessionQueue: [],
    sessionsInFlight: 0,
    selected: null, // row key of the open detail panel
    opener: null, // the row element that opened it, to return focus
    serverOffset: 0, // server clock minus ours, from the Date header
    rowElements: new Map(), // row key -> <tr>
  };

  const rowKey = (row) => row.track_id || `${row.uuid}#${row.id}#${row.occurred_at}`;
  const serverNow = () => Date.now() + state.serverOffset;
  const iso = (ms) => new Date(ms).toISOString();

  // ---------------------------------------------------------------- API --

  class ApiError extends Error {
    constructor(kind, status, code, message, details) {
      super(message);
      this.kind = kind; // 'network' | 'http'
      this.status = status;
      this.code = code;
      this.details = details || [];
    }
  }

  /** POSTs to one of this server's routes with the key; the answer's JSON, or an ApiError. */
  async function api(path, body, key) {
    let response;
    try {
      response = await fetch(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-a-track-key': key || state.key },
        body: JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (err) {
      throw new ApiError('network', 0, 'unreachable', 'Cannot reach the server');
    }
    noteServerTime(response.headers.get('date'));
    let json = null;
    try {
      json = await response.json();
    } catch (err) {
      json = null;
    }
    if (!response.ok || !json || json.success !== true) {
      const error = (json && json.error) || {};
      throw new ApiError(
        'http',
        response.status,
        error.code || `http_${response.status}`,
        error.message || `The server answered ${response.status}`,
        Array.isArray(error.details) ? error.details : [],
      );
    }
    return json;
  }

  // The list's time bounds are the server's: a browser whose clock is off would otherwise ask
  // for the wrong minutes.
  function noteServerTime(header) {
    const ms = header ? Date.parse(header) : NaN;
    if (Number.isNaN(ms)) return;
    // The header has whole seconds; half a second is its expected truncation.
    const offset = ms + 500 - Date.now();
    if (Math.abs(offset - state.serverOffset) > 1500) state.serverOffset = offset;
  }

  // ---------------------------------------------------------------- messages --

  // The status says Live, Paused or Reconnecting, and is announced only when that changes;
  // the time of the last check is beside it, not announced every two seconds.
  function setStatus(message) {
    const status = $('status');
    if (status.textContent !== message) status.textContent = message;
  }

  function setBanner(message) {
    const banner = $('banner');
    banner.textContent = message || '';
    show(banner, Boolean(message));
  }

  /** What to tell a person about a failed call, by what failed. */
  function describe(err) {
    if (!(err instanceof ApiError)) return `Something went wrong in this page: ${err && err.message}`;
    if (err.kind === 'network') {
      return 'Cannot reach the server. Retrying every 2 seconds…';
    }
    switch (err.code) {
      case 'unauthorized':
        return 'This key is not known to this server. Paste the secret key printed by atrack serve at start, or one from atrack keys create.';
      case 'forbidden':
        return "This is a public key: it can send events but not read them. Paste the project's secret key.";
      case 'query_too_expensive':
        return `This filter reads too many events to fill a page: narrow it (an event name, a UUID, a country). ${err.message}`;
      case 'unavailable':
        return 'The server is busy or its store is unreachable. Retrying…';
      default:
        return `The server answered ${err.status} (${err.code}): ${err.message}`;
    }
  }

  // ---------------------------------------------------------------- the key --

  async function submitKey(event) {
    event.preventDefault();
    const input = $('key');
    const key = input.value.trim();
    const error = $('key-error');
    error.textContent = '';
    if (!key) {
      error.textContent = 'Paste a secret key first.';
      input.focus();
      return;
    }
    $('open').disabled = true;
    try {
      await checkKey(key);
      sessionStorage.setItem(KEY_STORAGE, key);
      input.value = '';
      start(key);
    } catch (err) {
      error.textContent = describe(err);
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      $('open').disabled = false;
    }
  }

  // A query for no rows reads nothing on the server, and tells a secret key (200) from a
  // public one (403) and an unknown one (401).
  function checkKey(key) {
    return api('event/query', { top: 0 }, key);
  }

  function showKeyView(message) {
    stop();
    state.key = null;
    sessionStorage.removeItem(KEY_STORAGE);
    show($('liveview'), false);
    show($('actions'), false);
    show($('keyview'), true);
    setBanner('');
    setStatus('');
    $('checked').textContent = '';
    $('key-error').textContent = message || '';
    $('key').focus();
  }

  function start(key) {
    state.key = key;
    // Another key may be another project's: nothing read with the last one is reused.
    state.sessions.clear();
    state.sessionQueue = [];
    $('key').removeAttribute('aria-invalid');
    show($('keyview'), false);
    show($('liveview'), true);
    show($('actions'), true);
    setPaused(false);
    applyFilters(true);
  }

  function stop() {
    state.generation += 1;
    clearTimeout(state.pollTimer);
    clearTimeout(state.chartTimer);
    clearTimeout(filterTimer);
    closeDetail(false);
  }

  // ---------------------------------------------------------------- filters --

  /** A quoted OData string: single quotes doubled. */
  const quote = (value) => `'${value.replace(/'/g, "''")}'`;

  function typedFilters() {
    const name = $('f-name').value.trim();
    const uuid = $('f-uuid').value.trim();
    const country = $('f-country').value.trim().toUpperCase();
    const free = $('f-query').value.trim();
    const parts = [];
    if (name) parts.push(`startswith(EventType,${quote(name)})`);
    // UUIDs are stored lowercase; another DeviceId is kept as it was sent.
    if (uuid) parts.push(`DeviceId eq ${quote(/^[0-9a-f-]{36}$/i.test(uuid) ? uuid.toLowerCase() : uuid)}`);
    if (country) parts.push(`CountryCode eq ${quote(country)}`);
    return { parts, free };
  }

  let filterTimer = null;
  let filterCheck = 0;

  function filtersChanged() {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => applyFilters(false), FILTER_DEBOUNCE_MS);
  }

  // The free filter is checked on its own first (a query for no rows: parsed, nothing read),
  // so its error positions are the person's own text, and so a half-balanced text such as
  // `a eq 1) or (b eq 2` can never reach the composed filter, where it would escape its
  // parentheses. While it does not parse, the other filters apply without it.
  async function applyFilters(force) {
    const { parts, free } = typedFilters();
    const check = ++filterCheck;
    const input = $('f-query');
    const error = $('f-query-error');
    let freeApplies = Boolean(free);
    if (free) {
      try {
        await api('event/query', { filter: free, top: 0 });
      } catch (err) {
        if (check !== filterCheck) return;
        if (err.code === 'invalid_query' || err.code === 'validation_failed') {
          const detail = err.details.find((d) => d.field === 'filter') || err.details[0];
          error.textContent = `Not applied: ${detail ? detail.message : err.message}`;
          input.setAttribute('aria-invalid', 'true');
          freeApplies = false;
        } else {
          // Not an answer about the filter (the server is unreachable, the key was revoked):
          // said in the banner, and checked again shortly.
          handleFailure(err);
          if (state.key) filterTimer = setTimeout(() => applyFilters(force), POLL_MS);
          return;
        }
      }
    }
    if (check !== filterCheck) return;
    if (freeApplies || !free) {
      error.textContent = '';
      input.removeAttribute('aria-invalid');
    }
    const applied = freeApplies ? [...parts, free] : parts;
    const composed = applied.map((p) => `(${p})`).join(' and ');
    if (!force && composed === state.applied) return;
    state.applied = composed;
    reset();
  }

  function withTime(filter, bound) {
    const time = `EventTime ge ${iso(bound)}`;
    return filter ? `${filter} and ${time}` : time;
  }

  // ---------------------------------------------------------------- polling --

  function reset() {
    state.generation += 1;
    clearTimeout(state.pollTimer);
    clearTimeout(state.chartTimer);
    state.rows = [];
    state.seen.clear();
    state.pending = [];
    state.lastPollAt = null;
    state.rowElements.clear();
    $('rows').replaceChildren();
    renderPending();
    renderList();
    state.chart = { generation: state.generation, start: 0, times: new Map(), capped: false, loaded: false };
    renderChart();
    poll(state.generation);
    refreshChart(state.generation);
  }

  async function poll(generation) {
    if (generation !== state.generation || !state.key) return;
    const now = serverNow();
    const first = state.lastPollAt === null;
    // Back to the last poll's time less the lookback, never before the window.
    const bound = first ? now - WINDOW_MS : Math.max(now - WINDOW_MS, state.lastPollAt - LOOKBACK_MS);
    try {
      const answer = await api('event/query', {
        filter: withTime(state.applied, bound),
        sort: 'desc',
        top: PAGE,
      });
      if (generation !== state.generation) return;
      state.lastPollAt = now;
      setBanner('');
      receive(answer.data || [], first);
      setStatus(state.paused ? 'Paused' : 'Live');
      $('checked').textContent = `checked ${timeFormat.format(Date.now())}`;
    } catch (err) {
      if (generation !== state.generation) return;
      handleFailure(err);
      // Asking again would cost the server the same reads every two seconds: the list waits
      // for a narrower filter instead.
      if (err.code === 'query_too_expensive') return;
    }
    if (generation === state.generation) {
      state.pollTimer = setTimeout(() => poll(generation), POLL_MS);
    }
  }

  function handleFailure(err) {
    if (err instanceof ApiError && (err.code === 'unauthorized' || err.code === 'forbidden')) {
      showKeyView(describe(err));
      return;
    }
    setStatus(err instanceof ApiError && err.kind === 'network' ? 'Reconnecting…' : 'Error');
    setBanner(describe(err));
  }

  /** New rows from a poll (newest first): listed, or held while paused. */
  function receive(rows, first) {
    const fresh = [];
    for (const row of rows) {
      if (!row || typeof row !== 'object') continue;
      const key = rowKey(row);
      if (state.seen.has(key)) continue;
      state.seen.set(key, row);
      fresh.push(row);
    }
    if (fresh.length === 0) return;
    for (const row of fresh) {
      addToChart(row);
      wantSession(row.uuid);
    }
    if (state.paused && !first) {
      state.pending = merge(fresh, state.pending).slice(0, PENDING_CAP);
      renderPending();
    } else {
      state.rows = merge(fresh, state.rows);
      trimRows();
      renderList();
    }
    renderChart();
  }

  const timeOf = (row) => {
    const ms = Date.parse(row.occurred_at);
    return Number.isNaN(ms) ? 0 : ms;
  };

  /** Two lists newest first, as one. */
  function merge(a, b) {
    return [...a, ...b].sort((x, y) => timeOf(y) - timeOf(x));
  }

  function trimRows() {
    for (const row of state.rows.splice(MAX_ROWS)) {
      const key = rowKey(row);
      state.seen.delete(key);
      state.rowElements.delete(key);
    }
  }

  function setPaused(paused) {
    state.paused = paused;
    const button = $('pause');
    button.textContent = paused ? 'Resume' : 'Pause';
    button.setAttribute('aria-pressed', String(paused));
    if (!paused && state.pending.length > 0) {
      state.rows = merge(state.pending, state.rows);
      state.pending = [];
      trimRows();
      renderList();
    }
    renderPending();
    setStatus(paused ? 'Paused' : 'Live');
  }

  function renderPending() {
    const pending = $('pending');
    const n = state.pending.length;
    const capped = n >= PENDING_CAP ? '+' : '';
    pending.textContent = `${n}${capped} new ${n === 1 ? 'event' : 'events'} while paused`;
    show(pending, state.paused);
  }

  // ---------------------------------------------------------------- the list --

  function renderList() {
    const tbody = $('rows');
    // Existing rows keep their place (and a focused row its focus): new ones are inserted
    // before the rows they are newer than.
    let cursor = tbody.firstElementChild;
    const wanted = new Set();
    for (const row of state.rows) {
      const key = rowKey(row);
      wanted.add(key);
      let tr = state.rowElements.get(key);
      if (!tr) {
        tr = rowElement(row, key);
        state.rowElements.set(key, tr);
      }
      if (tr === cursor) {
        cursor = cursor.nextElementSibling;
      } else {
        tbody.insertBefore(tr, cursor);
      }
    }
    for (const tr of [...tbody.children]) {
      if (!wanted.has(tr.dataset.key)) tr.remove();
    }
    const n = state.rows.length;
    $('count').textContent = n === 0 ? '' : `${n.toLocaleString()} ${n === 1 ? 'event' : 'events'}, newest first${n >= MAX_ROWS ? ` (the newest ${MAX_ROWS})` : ''}`;
    const empty = $('empty');
    empty.textContent = state.applied
      ? 'No event matching these filters in the last hour yet. New ones appear here as they arrive.'
      : 'No event in the last hour yet. Send one (see the README’s walk through the API) and it appears here within seconds.';
    show(empty, n === 0);
  }

  function rowElement(row, key) {
    const tr = el('tr', { tabindex: 0 });
    tr.dataset.key = key;
    tr.dataset.uuid = row.uuid || '';
    // Empty cells are marked, so a phone's card can leave them out.
    const cell = (label, content, cls) => {
      const td = el('td', { class: content === DASH ? `${cls} none` : cls, 'data-label': label });
      td.append(content);
      return td;
    };
    const label = text(row.label);
    tr.append(
      cell('Time', el('time', { datetime: row.occurred_at, title: row.occurred_at, text: localTime(row.occurred_at) }), 'c-time'),
      cell('Name', el('span', { class: 'name', text: text(row.name) }), 'c-name'),
      cell('Label', label === DASH ? DASH : el('span', { class: 'clamp', title: label, text: label }), 'c-label'),
      cell('Type', text(row.type), 'c-type'),
      cell('Source', text(row.source), 'c-source'),
      cell('UUID', el('span', { class: 'mono', title: row.uuid, text: text(row.uuid) }), 'c-uuid'),
      cell('Context', contextSummary(row), 'c-context'),
    );
    tr.addEventListener('click', () => openDetail(key, tr));
    tr.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        openDetail(key, tr);
      }
    });
    if (state.selected === key) tr.setAttribute('aria-current', 'true');
    return tr;
  }

  /** The one-line summary of what enrichment made of the row's session. */
  function contextSummary(row) {
    const span = el('span', { class: 'context' });
    const entry = state.sessions.get(row.uuid);
    const session = entry && entry.data && entry.data.session;
    const country = row.country_code || (session && deepGet(session, ['ip_data', 'city', 'country', 'iso_code']));
    if (country) span.append(el('abbr', { class: 'badge', title: countryName(country), text: String(country) }));
    const parts = [];
    if (session) {
      const device = session.device_data || {};
      const client = device.client && device.client.name;
      const os = device.os && device.os.name;
      if (client) parts.push(String(client));
      if (os) parts.push(String(os));
      const kind = deviceClass(device);
      if (kind) parts.push(kind);
      if (session.source || session.medium) parts.push(`${text(session.source)} / ${text(session.medium)}`);
    } else if (entry && entry.status === 'loading') {
      parts.push('…');
    }
    if (parts.length) span.append(el('span', { text: parts.join(' · ') }));
    if (!country && !parts.length) span.append(DASH);
    return span;
  }

  function deviceClass(device) {
    if (device.is_bot) return 'bot';
    if (device.is_tablet) return 'tablet';
    if (device.is_mobile) return 'mobile';
    if (device.is_desktop) return 'desktop';
    return null;
  }

  let regionNames = null;
  function countryName(code) {
    try {
      regionNames = regionNames || new Intl.DisplayNames(undefined, { type: 'region' });
      return regionNames.of(String(code).toUpperCase()) || String(code);
    } catch (err) {
      return String(code);
    }
  }

  function deepGet(value, path) {
    let at = value;
    for (const step of path) {
      if (!at || typeof at !== 'object') return undefined;
      at = at[step];
    }
    return at;
  }

  function refreshContext(uuid) {
    for (const tr of $('rows').children) {
      if (tr.dataset.uuid !== uuid) continue;
      const row = state.seen.get(tr.dataset.key);
      const cell = tr.querySelector('.c-context');
      if (row && cell) cell.replaceChildren(contextSummary(row));
    }
  }

  // ---------------------------------------------------------------- sessions --

  // Each UUID's session is read once (then again only while enrichment may still be on its
  // way), a few at a time, and kept in a bounded cache: never a read per event per poll.
  function wantSession(uuid) {
    if (!uuid) return;
    const entry = state.sessions.get(uuid);
    if (entry) {
      state.sessions.delete(uuid);
      state.sessions.set(uuid, entry); // most recently used last
      const stale = entry.status === 'unenriched' && entry.tries < SESSION_TRIES &&
        Date.now() - entry.at > SESSION_RETRY_MS;
      if (!stale) return;
      entry.status = 'queued';
    } else {
      state.sessions.set(uuid, { status: 'loading', data: null, at: 0, tries: 0 });
      while (state.sessions.size > SESSION_CACHE) {
        state.sessions.delete(state.sessions.keys().next().value);
      }
    }
    if (!state.sessionQueue.includes(uuid)) state.sessionQueue.push(uuid);
    pumpSessions();
  }

  function pumpSessions() {
    while (state.sessionsInFlight < SESSION_CONCURRENCY && state.sessionQueue.length > 0) {
      const uuid = state.sessionQueue.shift();
      state.sessionsInFlight += 1;
      loadSession(uuid).finally(() => {
        state.sessionsInFlight -= 1;
        pumpSessions();
      });
    }
  }

  async function loadSession(uuid) {
    const entry = state.sessions.get(uuid) || { status: 'loading', data: null, at: 0, tries: 0 };
    entry.tries += 1;
    try {
      const answer = await api('session/show', { uuid });
      entry.data = answer.data;
      entry.status = enriched(answer.data && answer.data.session) ? 'done' : 'unenriched';
    } catch (err) {
      // A session may be gone (erased) or never have existed for a non-UUID device id: the
      // row then shows what it carries itself.
      entry.status = err.kind === 'network' ? 'unenriched' : 'failed';
      if (err.code === 'unauthorized' || err.code === 'forbidden') handleFailure(err);
    }
    entry.at = Date.now();
    if (state.sessions.has(uuid)) state.sessions.set(uuid, entry);
    refreshContext(uuid);
  }

  function enriched(session) {
    if (!session) return false;
    const filled = (v) => v && typeof v === 'object' && Object.keys(v).length > 0;
    return filled(session.device_data) || filled(session.ip_data) || Boolean(session.source);
  }

  // ---------------------------------------------------------------- the chart --

  // Events per minute over the last hour for the current filter: one bounded read on a
  // filter change and every 30 seconds (pages of 1,000 walking back in time, at most 5,000
  // events, "≥" beyond), plus the rows the polls bring in between.
  async function refreshChart(generation) {
    if (generation !== state.generation || !state.key) return;
    const start = serverNow() - WINDOW_MS;
    const times = new Map();
    let capped = false;
    let upper = null;
    try {
      for (;;) {
        let filter = withTime(state.applied, start);
        if (upper !== null) filter += ` and EventTime le ${upper}`;
        const answer = await api('event/query', { filter, sort: 'desc', top: CHART_PAGE });
        if (generation !== state.generation) return;
        const rows = answer.data || [];
        let added = 0;
        for (const row of rows) {
          const key = rowKey(row);
          if (!times.has(key)) {
            times.set(key, timeOf(row));
            added += 1;
          }
        }
        if (times.size >= CHART_CAP) {
          capped = true;
          break;
        }
        // A short page is the last; a page of one instant only (no progress) ends it too.
        if (rows.length < CHART_PAGE || added === 0) {
          capped = rows.length >= CHART_PAGE;
          break;
        }
        upper = rows[rows.length - 1].occurred_at;
      }
      // Rows the polls brought while this ran are kept.
      for (const [key, at] of state.chart.times) if (!times.has(key) && at >= start) times.set(key, at);
      state.chart = { generation, start, times, capped, loaded: true };
      renderChart();
    } catch (err) {
      if (generation !== state.generation) return;
      if (err.kind !== 'network') $('chart-caption').textContent = `Events per minute: ${describe(err)}`;
      if (err.code === 'query_too_expensive') return; // as the list: not again for this filter
    }
    if (generation === state.generation) {
      state.chartTimer = setTimeout(() => refreshChart(generation), CHART_REFRESH_MS);
    }
  }

  function addToChart(row) {
    const key = rowKey(row);
    if (!state.chart.times.has(key)) state.chart.times.set(key, timeOf(row));
  }

  function renderChart() {
    const box = $('chart');
    const caption = $('chart-caption');
    const end = serverNow();
    const start = end - WINDOW_MS;
    const minutes = 60;
    const counts = new Array(minutes).fill(0);
    let total = 0;
    for (const [key, at] of state.chart.times) {
      if (at < start) {
        state.chart.times.delete(key);
        continue;
      }
      const i = Math.min(minutes - 1, Math.floor((at - start) / 60_000));
      counts[i] += 1;
      total += 1;
    }
    const max = Math.max(1, ...counts);
    const width = 600;
    const height = 80;
    const gap = 2;
    const bar = width / minutes;
    const chart = svg('svg', {
      viewBox: `0 0 ${width} ${height + 1}`,
      role: 'img',
      'aria-label': 'Events per minute over the last hour',
      preserveAspectRatio: 'none',
    });
    chart.append(svg('line', { x1: 0, y1: height + 0.5, x2: width, y2: height + 0.5, class: 'axis' }));
    counts.forEach((n, i) => {
      if (n === 0) return;
      const h = Math.max(2, (n / max) * (height - 4));
      const rect = svg('rect', { x: i * bar + gap / 2, y: height - h, width: bar - gap, height: h, class: 'bar' });
      const title = svg('title');
      title.textContent = `${timeFormat.format(start + i * 60_000).slice(0, 5)}: ${n} ${n === 1 ? 'event' : 'events'}`;
      rect.append(title);
      chart.append(rect);
    });
    box.replaceChildren(chart);
    const count = `${state.chart.capped ? '≥ ' : ''}${total.toLocaleString()}`;
    caption.textContent = state.chart.loaded
      ? `Events per minute, last hour: ${count} ${total === 1 ? 'event' : 'events'}${state.chart.capped ? ` (counted up to ${CHART_CAP.toLocaleString()})` : ''}, busiest minute ${total ? max : 0}`
      : 'Events per minute, last hour: loading…';
  }

  // ---------------------------------------------------------------- details --

  async function openDetail(key, opener) {
    const row = state.seen.get(key);
    if (!row) return;
    for (const tr of $('rows').querySelectorAll('tr[aria-current]')) tr.removeAttribute('aria-current');
    if (opener) opener.setAttribute('aria-current', 'true');
    state.selected = key;
    state.opener = opener || null;
    const panel = $('detail');
    $('detail-title').textContent = text(row.name);
    const body = $('detail-body');
    const sessionBox = el('div', { class: 'session' }, el('p', { class: 'muted', text: 'Loading its session…' }));
    body.replaceChildren(
      el('section', { 'aria-labelledby': 'd-event' },
        el('h3', { id: 'd-event', text: 'Event' }),
        fields(row, ['attributes']),
        subsection('Attributes', row.attributes),
        raw('Raw JSON of the event', row)),
      el('section', { 'aria-labelledby': 'd-session' },
        el('h3', { id: 'd-session', text: 'Session' }),
        sessionBox),
    );
    show(panel, true);
    document.body.classList.add('detail-open');
    panel.focus();
    try {
      const answer = await api('session/show', { uuid: row.uuid });
      if (state.selected !== key) return;
      const entry = { status: enriched(answer.data.session) ? 'done' : 'unenriched', data: answer.data, at: Date.now(), tries: 1 };
      state.sessions.set(row.uuid, entry);
      refreshContext(row.uuid);
      sessionBox.replaceChildren(...sessionView(answer.data));
    } catch (err) {
      if (state.selected !== key) return;
      const message = err.code === 'not_found'
        ? 'No session is stored under this UUID (erased, or never started with /init).'
        : describe(err);
      sessionBox.replaceChildren(el('p', { class: 'error', text: message }));
    }
  }

  function closeDetail(returnFocus) {
    const panel = $('detail');
    if (panel.hidden) return;
    show(panel, false);
    document.body.classList.remove('detail-open');
    state.selected = null;
    for (const tr of $('rows').querySelectorAll('tr[aria-current]')) tr.removeAttribute('aria-current');
    const opener = state.opener;
    state.opener = null;
    if (returnFocus && opener && opener.isConnected) opener.focus();
  }

  /** A definition list of an object's scalar fields (objects shown as compact JSON). */
  function fields(object, skip) {
    const dl = el('dl', { class: 'fields' });
    for (const [name, value] of Object.entries(object || {})) {
      if (skip && skip.includes(name)) continue;
      dl.append(el('dt', { text: name }), el('dd', { text: scalar(value) }));
    }
    return dl;
  }

  function scalar(value) {
    if (value === null || value === undefined || value === '') return DASH;
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
  }

  /** Nested objects flattened to `a › b › c` paths (list items by their index); of a
   * localized name map (GeoIP's `names`), only English. */
  function flatten(value, prefix, out) {
    const nested = value && typeof value === 'object';
    const scalars = Array.isArray(value) && value.every((v) => !v || typeof v !== 'object');
    if (nested && !scalars) {
      const keys = Object.keys(value);
      if (keys.length === 0 && prefix) out.push([prefix, Array.isArray(value) ? '[]' : '{}']);
      for (const key of keys) {
        if (prefix.endsWith('names') && key !== 'en') continue;
        flatten(value[key], prefix ? `${prefix} › ${key}` : key, out);
      }
    } else if (scalars) {
      out.push([prefix, value.length ? value.map(scalar).join(', ') : '[]']);
    } else {
      out.push([prefix, scalar(value)]);
    }
    return out;
  }

  function subsection(title, value) {
    const entries = value && typeof value === 'object' ? flatten(value, '', []) : [];
    const section = el('div', { class: 'sub' }, el('h4', { text: title }));
    if (entries.length === 0) {
      section.append(el('p', { class: 'muted', text: 'none' }));
      return section;
    }
    const dl = el('dl', { class: 'fields' });
    for (const [name, v] of entries) dl.append(el('dt', { text: name }), el('dd', { text: v }));
    section.append(dl);
    return section;
  }

  function raw(summary, value) {
    return el('details', { class: 'raw' },
      el('summary', { text: summary }),
      el('pre', { text: JSON.stringify(value, null, 2) }));
  }

  function sessionView(data) {
    const session = (data && data.session) || {};
    const overview = {
      uuid: session.uuid,
      source: session.source,
      medium: session.medium,
      search_term: session.search_term,
      referer: session.referer,
      ip_address: session.ip_address,
      visits: session.visits,
      created_at: session.created_at,
      last_activity_at: session.last_activity_at,
    };
    const events = Array.isArray(data && data.events) ? data.events : [];
    const list = el('ol', { class: 'session-events' });
    for (const event of events.slice(0, 20)) {
      list.append(el('li', {},
        el('time', { datetime: event.occurred_at, text: localTime(event.occurred_at) }),
        ' ',
        el('span', { class: 'name', text: text(event.name) }),
        event.label ? el('span', { class: 'muted', text: ` ${event.label}` }) : null));
    }
    const meta = (data && data.meta) || {};
    return [
      fields(overview),
      subsection('url_data', session.url_data),
      subsection('utm_data', session.utm_data),
      subsection('click_ids', session.click_ids),
      subsection('ip_data', session.ip_data),
      subsection('device_data', session.device_data),
      subsection('attributes', data && data.attributes),
      subsection('user_attributes', session.user_attributes),
      el('div', { class: 'sub' },
        el('h4', { text: `Newest events (${text(meta.events_count ?? events.length)} shown by session/show)` }),
        events.length ? list : el('p', { class: 'muted', text: 'none' })),
      raw('Raw JSON of session/show', data),
    ];
  }

  // ---------------------------------------------------------------- wiring --

  function init() {
    $('keyform').addEventListener('submit', submitKey);
    $('filters').addEventListener('submit', (event) => event.preventDefault());
    for (const id of ['f-name', 'f-uuid', 'f-country', 'f-query']) {
      $(id).addEventListener('input', filtersChanged);
    }
    $('pause').addEventListener('click', () => setPaused(!state.paused));
    $('forget').addEventListener('click', () => showKeyView(''));
    $('close').addEventListener('click', () => closeDetail(true));
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') closeDetail(true);
    });
    // A bug of this page must not leave a blank or silent page behind.
    window.addEventListener('error', (event) => setBanner(`Something went wrong in this page: ${event.message}`));
    window.addEventListener('unhandledrejection', (event) =>
      setBanner(`Something went wrong in this page: ${event.reason && event.reason.message}`));

    let stored = null;
    try {
      stored = sessionStorage.getItem(KEY_STORAGE);
    } catch (err) {
      stored = null; // storage disabled: the key is asked for each time
    }
    if (stored) {
      start(stored);
    } else {
      show($('keyview'), true);
      $('key').focus();
    }
  }

  init();
})();
