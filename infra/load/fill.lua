-- wrk script: exactly FILL_COUNT events of name FILL_NAME under session FILL_UUID. Each thread
-- numbers its events and cycles through its share; a repeat carries the same event_id and
-- timestamp, which the server recognises as a retry and does not store again. Run it long
-- enough for every thread to send its share once (infra/bench-scaling.sh checks the total).
--   FILL_UUID=... FILL_NAME=scale FILL_COUNT=200000 wrk -t2 -c32 -d60s -s infra/load/fill.lua URL
local key = os.getenv("ATRACK_PUBLIC_KEY") or "pk_load_test"
local uuid = os.getenv("FILL_UUID")
local name = os.getenv("FILL_NAME")
local count = tonumber(os.getenv("FILL_COUNT"))
local threads = 2
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-a-track-key"] = key

local id = 0
function setup(thread)
  thread:set("index", id)
  id = id + 1
end

local sent = 0
local share, first, base
function init(args)
  share = math.floor(count / threads)
  if index == threads - 1 then share = count - share * (threads - 1) end
  first = index * math.floor(count / threads)
  base = 1700000000000
end

function request()
  local n = first + sent % share
  sent = sent + 1
  local body = string.format(
    '{"uuid":"%s","event":"%s","event_id":"00000000-0000-4000-8000-%012x","timestamp":%d,' ..
    '"attributes":{"n":%d,"cart_value":129.99,"currency":"USD"}}', uuid, name, n, base + n, n)
  return wrk.format(nil, nil, nil, body)
end
