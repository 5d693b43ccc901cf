-- wrk script: POST /v1/batch with bodies made beforehand by infra/bench-segment.sh (Lua has
-- no gzip): ATRACK_SEGMENT_BODIES names a directory of 1.bin … N.bin, each a whole body,
-- plain or gzip-compressed as ATRACK_SEGMENT_GZIP says.
--   wrk -t2 -c16 -d20s --latency -s infra/load/segment.lua http://127.0.0.1:3000/v1/batch
local dir = assert(os.getenv("ATRACK_SEGMENT_BODIES"), "ATRACK_SEGMENT_BODIES is not set")
local key = os.getenv("ATRACK_PUBLIC_KEY") or "pk_load_test"
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
-- Basic's user name is the write key, the password empty: base64("<key>:"), made by the
-- shell script, since Lua has no base64 either.
wrk.headers["authorization"] = "Basic " .. assert(os.getenv("ATRACK_SEGMENT_BASIC"))
if os.getenv("ATRACK_SEGMENT_GZIP") == "1" then
  wrk.headers["content-encoding"] = "gzip"
end

local bodies = {}
local next_body = 1
function init(args)
  local i = 1
  while true do
    local file = io.open(dir .. "/" .. i .. ".bin", "rb")
    if not file then break end
    bodies[i] = wrk.format(nil, nil, nil, file:read("*a"))
    file:close()
    i = i + 1
  end
  assert(#bodies > 0, "no bodies in " .. dir)
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return body
end
