-- wrk script: exactly FILL_COUNT events of name FILL_NAME under session FILL_UUID. Each thread
-- numbers its events; once a thread's share is sent it repeats its last event, which the
-- server recognises by event_id and timestamp as a retry and does not store again.
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
  local n = first + math.min(sent, share - 1)
  sent = sent + 1
  local body = string.format(
    '{"uuid":"%s","event":"%s","event_id":"00000000-0000-4000-8000-%012x","timestamp":%d,' ..
    '"attributes":{"n":%d,"cart_value":129.99,"currency":"USD"}}', uuid, name, n, base + n, n)
  return wrk.format(nil, nil, nil, body)
end

-- Stop a thread once every one of its events has been answered (a retry answers too).
local answered = 0
function response(status, headers, body)
  answered = answered + 1
  if answered >= share + 32 then wrk.thread:stop() end
end
