-- wrk script of bench/run_serve_bench.sh: POST /v1/suggest {"customer_id": ...}, cycling through
-- the customer ids of the file given after "--" (one per line), and counting responses by status.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ids = {}
  for line in io.lines(args[1]) do
    ids[#ids + 1] = line
  end
  next_id = 0
  statuses = {}
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  next_id = next_id % #ids + 1
  return wrk.format("POST", nil, headers, '{"customer_id": "' .. ids[next_id] .. '"}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("status %d: %d\n", status, count))
  end
  io.write(string.format("completed: %d, socket errors: connect %d read %d write %d timeout %d\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
  io.write(string.format("latency p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
