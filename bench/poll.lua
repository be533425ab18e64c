-- wrk script for bench/poll_load.py: browsers polling a request page's live fragments.
--   wrk ... -s bench/poll.lua URL -- FILE PAUSE_MS
-- FILE: one poll a line, "COOKIE PATH" (a session cookie and a fragment's URL with the version
-- that session's page shows). Each connection is one browser tab's poller: it sends the next
-- line's poll, waits about PAUSE_MS after the answer (wrk's delay()), and so on.
-- done() prints one line, "BENCH {json}", that the benchmark reads.

local polls, n, pause = {}, 0, 0
local counts = {}
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local cookie, path = line:match("^(%S+) (%S+)$")
    polls[#polls + 1] = {cookie = cookie, path = path}
  end
  pause = tonumber(args[2])
  n = offset * 7919  -- threads start at different places in the list
  math.randomseed(os.time() + offset)
  s200, s204, other = 0, 0, 0
end

function request()
  local poll = polls[(n % #polls) + 1]
  n = n + 1
  return wrk.format("GET", poll.path, {Cookie = poll.cookie, ["HX-Request"] = "true"})
end

-- Browsers opened their pages at different moments, so their polls do not arrive together:
-- each wait is 2 s +- 25 % (the mean stays PAUSE_MS); without it wrk's connections, all
-- started at once, would poll in lockstep bursts that no real audience sends.
function delay()
  return math.floor(pause * (0.75 + 0.5 * math.random()))
end

function response(status, headers, body)
  if status == 204 then s204 = s204 + 1
  elseif status == 200 then s200 = s200 + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, thread in ipairs(threads) do
    a, b, c = a + thread:get("s200"), b + thread:get("s204"), c + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.3f, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "s200": %d, "s204": %d, "other": %d, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, a, b, c,
    e.connect + e.read + e.write + e.timeout))
end
