-- wrk script for bench/cases_load.py: rotate over a pre-shuffled list of requests, each with
-- its own headers (a different agent's session per line, say), and print one JSON line.
--
--   wrk -t2 -c8 -d20s -s bench/cases_replay.lua URL -- REQFILE EXPECT_STATUS
--
-- REQFILE: one request per line, tab separated: METHOD, PATH, BODY ("" for none), then any
-- number of "Name: value" headers. "@N@" in a body becomes a number unique to this run, so
-- creates get unique subjects.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function split_tab(line)
  local out = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do table.insert(out, field) end
  return out
end

function init(args)
  expect_status = tonumber(args[2])
  reqs = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      local f = split_tab(line)
      local headers = {}
      for i = 4, #f do
        local k, v = f[i]:match("^([^:]+):%s*(.*)$")
        if k then headers[k] = v end
      end
      table.insert(reqs, {method = f[1], path = f[2], body = f[3], headers = headers})
    end
  end
  -- each thread starts at its own offset in the shared, pre-shuffled list
  idx = ((id or 0) * 7919) % #reqs
  seq, bad, first_bad = 0, 0, 0
  stamp = tostring(os.time()) .. "-" .. tostring(id or 0)
end

function request()
  idx = idx % #reqs + 1
  seq = seq + 1
  local r = reqs[idx]
  local body = nil
  if r.body ~= "" then body = r.body:gsub("@N@", stamp .. "-" .. seq) end
  return wrk.format(r.method, r.path, r.headers, body)
end

function response(status, headers, body)
  if status ~= expect_status then
    bad = bad + 1
    if first_bad == 0 then first_bad = status end
  end
end

function done(summary, latency, requests)
  local bad_total, first = 0, 0
  for _, t in ipairs(threads) do
    bad_total = bad_total + (t:get("bad") or 0)
    local fb = t:get("first_bad") or 0
    if first == 0 then first = fb end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "duration_s": %.2f, "req_per_s": %.2f, "p50_ms": %.2f, "p95_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "bad_status": %d, "first_bad_status": %d, ' ..
    '"socket_errors": %d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, bad_total, first, e.connect + e.read + e.write + e.timeout))
end
