-- wrk script: POST GetItem of one of WRK_KEYS hot keys in turn (bench.compare's keys: {"k": "key%08d"}), table WRK_TABLE.
-- WRK_PIPELINE > 1 sends that many requests per write (HTTP/1.1 pipelining; wrk counts each response): it cuts
-- wrk's own CPU per request several times, for runs where the generator shares the server's cores.
local table_name = os.getenv("WRK_TABLE") or "bench_compare"
local keys = tonumber(os.getenv("WRK_KEYS") or "1000")
local depth = tonumber(os.getenv("WRK_PIPELINE") or "1")
local bodies = {}
local counter = 0

function init(args)
  for i = 0, keys - 1 do
    bodies[i] = string.format('{"TableName":"%s","Key":{"k":{"S":"key%08d"}}}', table_name, i)
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
  wrk.headers["X-Amz-Target"] = "DynamoDB_20120810.GetItem"
end

function request()
  if depth <= 1 then
    counter = counter + 1
    return wrk.format(nil, "/", nil, bodies[counter % keys])
  end
  local parts = {}
  for j = 1, depth do
    counter = counter + 1
    parts[j] = wrk.format(nil, "/", nil, bodies[counter % keys])
  end
  return table.concat(parts)
end
