-- wrk script for bench/poll_load.py: browsers polling a request page's live fragments.
--   wrk ... -s bench/poll.lua URL -- FILE PAUSE_MS WARMUP_S LATENCIES
-- FILE: one poll a line, "COOKIE PATH" (a session cookie and a fragment's URL with the version
-- that session's page shows). Each connection is one browser tab's poller: it sends the next
-- line's poll, waits about PAUSE_MS after the answer (wrk's delay()), and so on.
--
-- Latency is timed here, not by wrk: wrk opens every connection at once and, with delay(),
-- holds each one's first request back, so the server sees 200 connections that say nothing for
-- up to PAUSE_MS. No browser does that (it connects to send), and gunicorn >= 24 gives such a
-- connection a thread until its first bytes arrive: the run's first seconds would measure wrk.
-- So the first WARMUP_S seconds are not counted: each poll carries an X-Request-ID, the app
-- echoes it, and a poll sent after the warmup is timed from the moment it is written
-- (request()) to its answer (response()), on a monotonic clock.
-- done() writes the counted latencies (microseconds, one a line) to LATENCIES and prints
-- "BENCH {json}" with the counts, which the benchmark reads.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *now);
]]
local clock = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local polls, n, pause = {}, 0, 0
local sent = {}
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
  counted_from = now_us() + tonumber(args[3]) * 1000000
  latencies_file = args[4]
  n = offset * 7919  -- threads start at different places in the list
  math.randomseed(os.time() + offset)
  latencies, s200, s204, other, unmatched = {}, 0, 0, 0, 0
end

function request()
  local poll = polls[(n % #polls) + 1]
  n = n + 1
  local id = "bench-" .. offset .. "-" .. n
  sent[id] = now_us()
  return wrk.format(
    "GET", poll.path, {Cookie = poll.cookie, ["HX-Request"] = "true", ["X-Request-ID"] = id}
  )
end

-- Browsers opened their pages at different moments, so their polls do not arrive together:
-- each wait is 2 s +- 25 % (the mean stays PAUSE_MS); without it wrk's connections, all
-- started at once, would poll in lockstep bursts that no real audience sends.
function delay()
  return math.floor(pause * (0.75 + 0.5 * math.random()))
end

function response(status, headers, body)
  local id = headers["X-Request-ID"] or headers["x-request-id"]
  local at = id and sent[id]
  if at == nil then
    unmatched = unmatched + 1
    return
  end
  sent[id] = nil
  if at < counted_from then return end
  latencies[#latencies + 1] = math.floor(now_us() - at)
  if status == 204 then s204 = s204 + 1
  elseif status == 200 then s200 = s200 + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local a, b, c, u, path = 0, 0, 0, 0, nil
  local out = nil
  for _, thread in ipairs(threads) do
    a, b, c = a + thread:get("s200"), b + thread:get("s204"), c + thread:get("other")
    u = u + thread:get("unmatched")
    path = thread:get("latencies_file")
    out = out or io.open(path, "w")
    for _, us in ipairs(thread:get("latencies")) do out:write(us, "\n") end
  end
  out:close()
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.3f, "s200": %d, "s204": %d, "other": %d, ' ..
    '"unmatched": %d, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, a, b, c, u,
    e.connect + e.read + e.write + e.timeout))
end
