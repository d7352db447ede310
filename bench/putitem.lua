-- wrk script: POST PutItem of a new ~100-byte item per request (env WRK_TABLE); keys unique per thread.
local table_name = os.getenv("WRK_TABLE") or "bench_writes"
local counter = 0
local id = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
  wrk.headers["X-Amz-Target"] = "DynamoDB_20120810.PutItem"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"TableName":"%s","Item":{"pk":{"S":"w%d-%d-%d"},"v":{"S":"%s"},"n":{"N":"%d"}}}',
    table_name, id, counter, math.random(1, 1000000000), string.rep("x", 60), counter)
  return wrk.format(nil, "/", nil, body)
end
