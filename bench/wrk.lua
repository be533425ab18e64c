-- wrk script for bench/api_load.py:
--   wrk ... -s bench/wrk.lua URL -- METHOD PATH TOKEN MODE [ID,ID,...]
-- PATH may hold one %s, filled with the ids in turn. MODE "vetolift" posts a veto to every id,
-- then a lift to every id, and so on: with many ids, a request's veto has been answered long
-- before its lift is sent, so every post really changes something.
-- done() prints one line, "BENCH {json}", that the benchmark reads.

local method, template, mode = "GET", "/", "plain"
-- wrk calls request() once before the first request it sends and does not send that one:
-- counting from -1 gives that call a lift of the last id, which is never sent, instead of
-- the first id's veto, whose lift a cycle later would find nothing to lift (409).
local ids, n = {}, -1
local VETO = '{"kind": "veto", "comment": "bench: identity path not verified"}'
local LIFT = '{"kind": "lift_veto", "comment": "bench: verified after all"}'

function init(args)
  method, template, mode = args[1], args[2], args[4]
  wrk.headers["Authorization"] = "Bearer " .. args[3]
  wrk.headers["Content-Type"] = "application/json"
  if args[6] == "close" then
    -- A new connection for every request, as a paging tool's call: the listening socket
    -- hands each to whichever worker is free, where a few kept-alive connections stay on
    -- the worker that accepted them first (often all on one, whose threads share one GIL).
    wrk.headers["Connection"] = "close"
  end
  for id in string.gmatch(args[5] or "", "%d+") do
    ids[#ids + 1] = id
  end
  if #ids == 0 then
    ids[1] = ""
  end
end

function request()
  local id = ids[(n % #ids) + 1]
  local body = nil
  if mode == "vetolift" then
    body = (math.floor(n / #ids) % 2 == 0) and VETO or LIFT
  elseif method == "POST" then
    body = "{}"
  end
  n = n + 1
  return wrk.format(method, string.format(template, id), nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.3f, "p50_us": %d, "p99_us": %d, "non2xx": %d, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
