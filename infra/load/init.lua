-- wrk script: POST /init with the reference's landing context and no UUID (a new session
-- each time), enrichment queued to the in-process worker.
--   wrk -t2 -c64 -d20s --latency -s infra/load/init.lua http://127.0.0.1:3000/init
local key = os.getenv("ATRACK_PUBLIC_KEY") or "pk_load_test"
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-a-track-key"] = key
wrk.body = '{"context":{"url":{"href":"https://a-track.io/pricing?utm_source=google' ..
  '&utm_campaign=spring-launch&campaign_id=cmp_123&gclid=gclid_123&fbclid=fbclid_123",' ..
  '"referer":"https://google.com/"},"client":{"ipAddress":"50.89.98.90","userAgent":' ..
  '"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X)","locale":"en-US"}}}'
