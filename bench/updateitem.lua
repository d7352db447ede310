-- wrk script: POST UpdateItem (SET two attributes) of a key drawn from WRK_KEYS keys (env WRK_TABLE): the first
-- update of a key creates it, later ones change an existing item (a session store's touch).
local table_name = os.getenv("WRK_TABLE") or "bench_writes"
local keys = tonumber(os.getenv("WRK_KEYS") or "50000")
local counter = 0

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
  wrk.headers["X-Amz-Target"] = "DynamoDB_20120810.UpdateItem"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"TableName":"%s","Key":{"pk":{"S":"u%d"}},"UpdateExpression":"SET v = :v, n = :n",' ..
    '"ExpressionAttributeValues":{":v":{"S":"%s"},":n":{"N":"%d"}}}',
    table_name, math.random(1, keys), string.rep("y", 60), counter)
  return wrk.format(nil, "/", nil, body)
end
