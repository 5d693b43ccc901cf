-- wrk script: POST /event with a fresh event_id each time, spread over 1,000 sessions.
--   wrk -t2 -c64 -d20s --latency -s infra/load/event.lua http://127.0.0.1:3000/event
local key = os.getenv("ATRACK_PUBLIC_KEY") or "pk_load_test"
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-a-track-key"] = key

local function hex(n) return string.format("%0" .. n .. "x", math.random(0, 16 ^ n - 1)) end
local function uuid()
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" ..
    string.format("%x", math.random(8, 11)) .. hex(3) .. "-" .. hex(6) .. hex(6)
end

local sessions = {}
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
  for i = 1, 1000 do sessions[i] = uuid() end
end

function request()
  local body = '{"uuid":"' .. sessions[math.random(1, #sessions)] ..
    '","event":"checkout_started","event_id":"' .. uuid() ..
    '","attributes":{"cart_value":129.99,"currency":"USD","step":"payment"}}'
  return wrk.format(nil, nil, nil, body)
end
