-- wrk script: POST /batch of 100 events (ATRACK_BATCH_EVENTS to change it), each batch from one
-- of 1,000 sessions (one device's queue, as a mobile SDK sends it).
--   wrk -t2 -c16 -d20s --latency -s infra/load/batch.lua http://127.0.0.1:3000/batch
-- The bodies are made once, in init: building 100 events per request in Lua would cost wrk
-- more CPU than the server spends storing them, on the cores they share. So the events carry
-- no event_id (the server makes one): every request stores 100 new events.
local key = os.getenv("ATRACK_PUBLIC_KEY") or "pk_load_test"
local per_batch = tonumber(os.getenv("ATRACK_BATCH_EVENTS") or "100")
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-a-track-key"] = key

local function hex(n) return string.format("%0" .. n .. "x", math.random(0, 16 ^ n - 1)) end
local function uuid()
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" ..
    string.format("%x", math.random(8, 11)) .. hex(3) .. "-" .. hex(6) .. hex(6)
end

local bodies = {}
local next_body = 1
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
  for b = 1, 1000 do
    local session = uuid()
    local events = {}
    for i = 1, per_batch do
      events[i] = '{"uuid":"' .. session .. '","event":"checkout_started","category":"user_action",' ..
        '"attributes":{"cart_value":129.99,"currency":"USD","step":"payment","n":' .. i .. '}}'
    end
    bodies[b] = wrk.format(nil, nil, nil, '{"events":[' .. table.concat(events, ",") .. ']}')
  end
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return body
end
