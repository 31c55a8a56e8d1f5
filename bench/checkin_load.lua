-- wrk script for bench/checkin_load.py: POST /api/checkins, one line of the pairs file each.
--
-- Args: PAIRS_FILE DONE_MARKER [ACKS_FILE]. Each line of PAIRS_FILE is
-- "VISITOR_TOKEN POSTER_TOKEN", a distinct visitor at a venue. Requests go through the lines
-- in order; once all are sent, the connections carry on from the first line again (repeat
-- scans: the same visit, 200, no new row), so every first check-in is answered before the run
-- stops. The run stops (and writes DONE_MARKER, for the driver to interrupt wrk) when there
-- are as many 201s plus failures as lines. Timing uses CLOCK_MONOTONIC through LuaJIT's FFI
-- because wrk's own duration is the whole -d. With ACKS_FILE, the visit id of every 201 is
-- appended to it, a line each (flushed at once, so a count afterwards can check that every
-- acknowledged check-in was kept).
--
-- With BENCH_RATE (requests a second) in the environment, the requests are paced: the i-th is
-- due at start + i / BENCH_RATE whichever connection sends it (wrk's delay(), read when the
-- script loads, so an unpaced run has no delay() at all). A send later than its due time, all
-- connections being busy, is counted and its lateness kept (late, late_max_us): wrk times a
-- request from its send, so lateness is what that time leaves out.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")

local function monotonic()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local rate = tonumber(os.getenv("BENCH_RATE") or "")

local requests = {}
local marker
local acks
local next_line = 1

-- globals, read back by done() through thread:get
lines, created, repeated, failed, started, finished = 0, 0, 0, 0, 0, 0
late, late_max_us = 0, 0

function init(args)
  marker = args[2]
  if args[3] then
    acks = io.open(args[3], "a")
  end
  for line in io.lines(args[1]) do
    local visitor, poster = line:match("^(%S+) (%S+)$")
    lines = lines + 1
    requests[lines] = wrk.format("POST", "/api/checkins", {
      ["Authorization"] = "Bearer " .. visitor,
      ["Content-Type"] = "application/json",
    }, '{"token":"' .. poster .. '"}')
  end
end

if rate then
  local interval = 1 / rate
  local due

  function delay()
    local now = monotonic()
    due = due and due + interval or now
    local wait = due - now
    if wait >= 0 then
      return wait * 1000
    end
    late = late + 1
    late_max_us = math.max(late_max_us, math.floor(-wait * 1e6))
    return 0
  end
end

function request()
  if started == 0 then
    started = monotonic()
  end
  local request = requests[next_line]
  next_line = next_line % lines + 1
  return request
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    if acks then
      acks:write(body:match('"visit":{"id":(%d+)') or "?", "\n")
      acks:flush()
    end
  elseif status == 200 then
    repeated = repeated + 1
  else
    failed = failed + 1
  end
  if finished == 0 and created + failed >= lines then
    finished = monotonic()
    local file = io.open(marker, "w")
    file:write("done\n")
    file:close()
    wrk.thread:stop()
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, _)
  local totals = { created = 0, repeated = 0, failed = 0, seconds = 0, late = 0, late_max_us = 0 }
  for _, thread in ipairs(threads) do
    totals.created = totals.created + thread:get("created")
    totals.repeated = totals.repeated + thread:get("repeated")
    totals.failed = totals.failed + thread:get("failed")
    totals.late = totals.late + thread:get("late")
    totals.late_max_us = math.max(totals.late_max_us, thread:get("late_max_us"))
    local finished_at = thread:get("finished")
    if finished_at == 0 then -- stopped by -d before the end
      finished_at = monotonic()
    end
    totals.seconds = math.max(totals.seconds, finished_at - thread:get("started"))
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"created": %d, "repeated": %d, "failed": %d, "seconds": %.6f, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d, "socket_errors": %d, "late": %d, ' ..
    '"late_max_us": %d}\n',
    totals.created, totals.repeated, totals.failed, totals.seconds,
    latency:percentile(50), latency:percentile(99), latency.max,
    errors.connect + errors.read + errors.write + errors.timeout, totals.late,
    totals.late_max_us))
end
