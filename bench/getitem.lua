-- wrk script: POST GetItem for one of KEYS hot keys (env WRK_TABLE, WRK_KEYS, WRK_TARGET), round robin per thread.
local table_name = os.getenv("WRK_TABLE") or "bench_conc"
local keys = tonumber(os.getenv("WRK_KEYS") or "1000")
local target = os.getenv("WRK_TARGET") or "GetItem"
local bodies = {}
local counter = 0

function init(args)
  for i = 0, keys - 1 do
    bodies[i] = string.format('{"TableName":"%s","Key":{"pk":{"S":"user#%06d"}}}', table_name, i)
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
  wrk.headers["X-Amz-Target"] = "DynamoDB_20120810." .. target
end

function request()
  counter = counter + 1
  return wrk.format(nil, "/", nil, bodies[counter % keys])
end
