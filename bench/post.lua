-- wrk script for the driftwatch benchmark: POST the body in $BENCH_BODY_FILE to /invocations
-- and, when the run is done, print one line "BENCH_JSON {...}" that bench/run.sh parses.
--
--   BENCH_BODY_FILE=bench/out/body-100.json wrk -t2 -c16 -d10s --latency -s bench/post.lua http://127.0.0.1:PORT/invocations
--
-- Latencies are reported in milliseconds. "non2xx" is wrk's status error count (HTTP status > 399;
-- none of the servers answers 1xx/3xx here). The per-request response() hook is deliberately not
-- defined: it would make wrk parse every body and cost client CPU on a 2-core machine.

local path = os.getenv("BENCH_BODY_FILE")
if path == nil or path == "" then
  io.stderr:write("post.lua: set BENCH_BODY_FILE to the JSON request body file\n")
  os.exit(2)
end
local f = io.open(path, "rb")
if f == nil then
  io.stderr:write("post.lua: cannot open " .. path .. "\n")
  os.exit(2)
end
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

local function ms(us) return us / 1000.0 end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local out = string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.2f,"bytes":%d,' ..
    '"latency_ms":{"mean":%.3f,"stdev":%.3f,"max":%.3f,"p50":%.3f,"p90":%.3f,"p99":%.3f,"p999":%.3f},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"non2xx":%d,"body_bytes":%d}',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    ms(latency.mean), ms(latency.stdev), ms(latency.max),
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)), ms(latency:percentile(99.9)),
    e.connect, e.read, e.write, e.timeout, e.status, #body)
  io.write("BENCH_JSON " .. out .. "\n")
end
