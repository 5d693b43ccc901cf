-- wrk script: POST the JSON body in SHOW_BODY with the secret key, again and again
-- (session/show or event/show at a fixed depth).
--   SHOW_BODY='{"name":"scale","page":1}' wrk -t1 -c1 -d10s --latency -s infra/load/show.lua URL
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-a-track-key"] = os.getenv("ATRACK_SECRET_KEY") or "sk_load_test"
wrk.body = os.getenv("SHOW_BODY")
