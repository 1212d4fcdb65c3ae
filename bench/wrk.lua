-- wrk script for bench/run: one request shape per scenario, and a JSON
-- summary line (prefixed "BENCHJSON ") that bench/report.py reads.
--
-- Arguments (after wrk's `--`):
--   path PATH          request path (default "/app/page")
--   gen N PREFIX       rotate over N cookies sessiongate=PREFIX..%08x(i)
--   file PATH          rotate over the cookie values listed in PATH, one a line
--   header NAME VALUE  one more request header (forward-auth's X-Original-URI)
--   (none)             no cookie at all
--
-- Each thread starts at a different offset so threads do not walk the
-- key space in lock step.

local path = "/app/page"
local extra = {}
local cookies = nil
local count = 0
local idx = 0
local prepare -- defined below init, which calls it

local function parse(args)
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "path" then
      path = args[i + 1]; i = i + 2
    elseif a == "gen" then
      local n, prefix = tonumber(args[i + 1]), args[i + 2]
      count = n
      cookies = function(k) return string.format("sessiongate=%s%08x", prefix, k) end
      i = i + 3
    elseif a == "header" then
      extra[args[i + 1]] = args[i + 2]
      i = i + 3
    elseif a == "file" then
      local list = {}
      for line in io.lines(args[i + 1]) do
        if #line > 0 then list[#list + 1] = "sessiongate=" .. line end
      end
      count = #list
      cookies = function(k) return list[k + 1] end
      i = i + 2
    else
      error("unknown argument " .. a)
    end
  end
end

local thread_no = 0
function setup(thread)
  thread:set("tid", thread_no)
  thread_no = thread_no + 1
end

function init(args)
  parse(args)
  if count > 0 then
    idx = ((tid or 0) * 7919) % count
  end
  prepare()
end

-- Up to this many requests are pre-formatted per thread, so that wrk's own
-- cost per request is a table index, the same for every target.
local PRECOMPUTE = 200000
local prepared = nil
local fixed = nil

-- The request's headers: the extra ones, and the cookie when given.
local function headers(cookie)
  local h = {}
  for name, value in pairs(extra) do h[name] = value end
  if cookie then h["Cookie"] = cookie end
  return h
end

prepare = function()
  if cookies == nil then
    fixed = wrk.format("GET", path, headers(nil))
  elseif count <= PRECOMPUTE then
    prepared = {}
    for k = 0, count - 1 do
      prepared[k] = wrk.format("GET", path, headers(cookies(k)))
    end
  end
end

function request()
  if fixed then return fixed end
  local r
  if prepared then
    r = prepared[idx]
  else
    r = wrk.format("GET", path, headers(cookies(idx)))
  end
  idx = idx + 1
  if idx >= count then idx = 0 end
  return r
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
