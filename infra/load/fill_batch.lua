-- wrk script: exactly FILL_COUNT events (a multiple of 100) through POST /batch, 100 a request,
-- spread over FILL_SESSIONS sessions (1,000 by default) and 10 ms apart from FILL_START_MS (an
-- epoch in milliseconds). Every event has a fixed event_id and timestamp, so a batch sent
-- again is recognised as a retry and stores nothing: run it long enough for each thread to
-- send its share once (infra/bench-export.sh checks the total it exports).
--   FILL_COUNT=1000000 FILL_START_MS=1775952000000 wrk -t2 -c16 -d120s -s infra/load/fill_batch.lua URL/batch
local key = os.getenv("ATRACK_PUBLIC_KEY") or "pk_load_test"
local count = tonumber(os.getenv("FILL_COUNT"))
local sessions = tonumber(os.getenv("FILL_SESSIONS") or "1000")
local start_ms = tonumber(os.getenv("FILL_START_MS"))
local threads = 2
local names = {"checkout_started", "page_scrolled", "signup_completed", "search"}
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-a-track-key"] = key

local id = 0
function setup(thread)
  thread:set("index", id)
  id = id + 1
end

local sent = 0
local share, first
function init(args)
  local batches = math.floor(count / 100)
  share = math.floor(batches / threads)
  first = index * share
  if index == threads - 1 then share = batches - share * (threads - 1) end
end

function request()
  local b = first + sent % share
  sent = sent + 1
  local events = {}
  for i = 0, 99 do
    local n = b * 100 + i
    events[i + 1] = string.format(
      '{"uuid":"00000000-0000-4000-8000-%012x","event":"%s","event_id":"00000000-0000-4000-9000-%012x",' ..
      '"timestamp":%d,"attributes":{"n":%d,"cart_value":129.99,"currency":"USD","plan":"pro"}}',
      n % sessions, names[n % 4 + 1], n, start_ms + n * 10, n)
  end
  return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(events, ",") .. ']}')
end
