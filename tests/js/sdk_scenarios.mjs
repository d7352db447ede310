// The AWS SDK for JavaScript v3, unmodified, against a running accelerator: one scenario per server setup.
// Run by tests/test_js_sdk.py: `node sdk_scenarios.mjs '<json options>'`; prints one JSON object, whose
// keys are the steps, to stdout. An unexpected error stops the run and is reported under "unexpected", so
// the Python test shows which step failed and how the SDK saw it.
import {
  BatchGetItemCommand, BatchWriteItemCommand, ConditionalCheckFailedException, CreateBackupCommand,
  CreateTableCommand, DeleteItemCommand, DescribeBackupCommand, DescribeContinuousBackupsCommand,
  DescribeExportCommand, DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient,
  ExportTableToPointInTimeCommand, GetItemCommand, ListBackupsCommand, ListTablesCommand,
  ListTagsOfResourceCommand, PutItemCommand, QueryCommand, ResourceNotFoundException,
  RestoreTableFromBackupCommand, RestoreTableToPointInTimeCommand, ScanCommand, TagResourceCommand,
  TransactGetItemsCommand, TransactionCanceledException, TransactWriteItemsCommand,
  DeleteTableCommand, UpdateContinuousBackupsCommand, UpdateItemCommand, UpdateTimeToLiveCommand,
  paginateQuery, waitUntilTableExists, waitUntilTableNotExists,
} from "@aws-sdk/client-dynamodb";
import {
  DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand, ListStreamsCommand,
} from "@aws-sdk/client-dynamodb-streams";
import {
  BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient, ExecuteStatementCommand, GetCommand, NumberValue,
  PutCommand, QueryCommand as DocQueryCommand, TransactWriteCommand, UpdateCommand,
  paginateQuery as paginateDocQuery, paginateScan as paginateDocScan,
} from "@aws-sdk/lib-dynamodb";

const options = JSON.parse(process.argv[2]);
const out = {};

function config() {
  return {
    endpoint: options.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: options.key ?? "test", secretAccessKey: options.secret ?? "test" },
    maxAttempts: 1, // a retry would hide a 5xx behind a success
  };
}

// Records every request body this client sends (after the SDK's own middleware filled it in) and its target.
function recordRequests(client) {
  const sent = [];
  client.middlewareStack.add((next) => async (args) => {
    sent.push({ target: args.request.headers["x-amz-target"], body: JSON.parse(new TextDecoder().decode(args.request.body)) });
    return next(args);
  }, { step: "finalizeRequest", name: "recordRequests" });
  return sent;
}

// JSON for what the SDK returns: bytes as base64, sets as sorted arrays, NumberValue and bigint as strings.
function plain(value) {
  return JSON.parse(JSON.stringify(value, (_, v) => {
    if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString("base64") };
    if (v instanceof Set) return { $set: [...v].map((x) => plain(x)).sort() };
    if (v instanceof NumberValue) return { $number: v.toString() };
    if (typeof v === "bigint") return { $bigint: v.toString() };
    return v;
  }));
}

function described(err) {
  return {
    name: err.name, message: err.message, status: err.$metadata?.httpStatusCode, fault: err.$fault,
    code: err.code, requestId: err.$metadata?.requestId,
  };
}

async function step(name, fn) {
  try {
    out[name] = plain(await fn());
  } catch (err) {
    out.unexpected = { step: name, ...described(err), stack: err.stack };
    throw err;
  }
}

// Calls fn expecting it to throw; returns how the SDK reports the error (or {"noError": ...} if it did not).
async function failure(fn, extra = () => ({})) {
  try {
    return { noError: plain(await fn()) };
  } catch (err) {
    return { ...described(err), ...extra(err) };
  }
}

const S = (s) => ({ S: s });
const N = (n) => ({ N: String(n) });
const key = (pk, sk) => ({ pk: S(pk), sk: N(sk) });

async function readStream(streams, arn) {
  const desc = (await streams.send(new DescribeStreamCommand({ StreamArn: arn }))).StreamDescription;
  const records = [];
  const done = new Set();
  // Parents before children, so records come out in stream order across shard roll-overs.
  const pending = [...desc.Shards];
  while (pending.length) {
    const index = pending.findIndex((s) => !s.ParentShardId || done.has(s.ParentShardId)
      || !desc.Shards.some((p) => p.ShardId === s.ParentShardId));
    const [shard] = pending.splice(index === -1 ? 0 : index, 1);
    let iterator = (await streams.send(new GetShardIteratorCommand({
      StreamArn: arn, ShardId: shard.ShardId, ShardIteratorType: "TRIM_HORIZON",
    }))).ShardIterator;
    while (iterator) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 25 }));
      records.push(...page.Records);
      iterator = page.Records.length ? page.NextShardIterator : undefined; // an open shard's end: empty page
    }
    done.add(shard.ShardId);
  }
  return {
    status: desc.StreamStatus, viewType: desc.StreamViewType, keySchema: desc.KeySchema, tableName: desc.TableName,
    shards: desc.Shards.length,
    records: records.map((r) => ({
      eventName: r.eventName, eventSource: r.eventSource, awsRegion: r.awsRegion,
      pk: r.dynamodb.Keys.pk.S, sk: r.dynamodb.Keys.sk.N, sequence: r.dynamodb.SequenceNumber,
      viewType: r.dynamodb.StreamViewType, created: r.dynamodb.ApproximateCreationDateTime instanceof Date,
      newImage: r.dynamodb.NewImage ?? null, oldImage: r.dynamodb.OldImage ?? null,
    })),
  };
}

async function full() {
  const client = new DynamoDBClient(config());
  const sent = recordRequests(client);
  const doc = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true }, unmarshallOptions: { wrapNumbers: true },
  });
  const streams = new DynamoDBStreamsClient(config());
  const TableName = options.table;

  await step("create", async () => {
    const created = (await client.send(new CreateTableCommand({
      TableName, BillingMode: "PAY_PER_REQUEST",
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }],
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" }, { AttributeName: "sk", AttributeType: "N" },
        { AttributeName: "user", AttributeType: "S" }, { AttributeName: "n", AttributeType: "N" },
      ],
      GlobalSecondaryIndexes: [{
        IndexName: "by_user", Projection: { ProjectionType: "ALL" },
        KeySchema: [{ AttributeName: "user", KeyType: "HASH" }, { AttributeName: "n", KeyType: "RANGE" }],
      }],
      StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
    }))).TableDescription;
    const waited = await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName });
    const table = (await client.send(new DescribeTableCommand({ TableName }))).Table;
    return {
      created: { status: created.TableStatus, stream: created.StreamSpecification, hasArn: !!created.LatestStreamArn },
      waiter: waited.state, status: table.TableStatus,
      indexes: table.GlobalSecondaryIndexes.map((i) => [i.IndexName, i.IndexStatus]),
      streamArn: table.LatestStreamArn, label: table.LatestStreamLabel,
    };
  });

  await step("put", async () => {
    const put = await client.send(new PutItemCommand({
      TableName, ConditionExpression: "attribute_not_exists(pk)", ReturnConsumedCapacity: "TOTAL",
      Item: { ...key("a", 1), user: S("ada"), n: N(5), tags: { SS: ["x", "y"] }, blob: { B: new Uint8Array([0, 1, 2, 255]) } },
    }));
    return { capacity: put.ConsumedCapacity, status: put.$metadata.httpStatusCode };
  });

  await step("get", async () => (await client.send(new GetItemCommand({
    TableName, Key: key("a", 1), ConsistentRead: true,
  }))).Item);

  await step("update", async () => (await client.send(new UpdateItemCommand({
    TableName, Key: key("a", 1), ReturnValues: "ALL_NEW",
    UpdateExpression: "SET #u = :u, n = n + :one ADD tags :t REMOVE #b",
    ConditionExpression: "n = :five",
    ExpressionAttributeNames: { "#u": "user", "#b": "blob" }, // both reserved words
    ExpressionAttributeValues: { ":u": S("ann"), ":one": N(1), ":five": N(5), ":t": { SS: ["z"] } },
  }))).Attributes);

  await step("conditionFailed", async () => failure(() => client.send(new PutItemCommand({
    TableName, Item: key("a", 1), ConditionExpression: "attribute_not_exists(pk)",
    ReturnValuesOnConditionCheckFailure: "ALL_OLD",
  })), (err) => ({ isClass: err instanceof ConditionalCheckFailedException, item: err.Item ?? null })));

  await step("batch", async () => {
    const writes = [];
    for (let i = 2; i <= 36; i++) {
      writes.push({ PutRequest: { Item: { ...key("a", i), user: S("bob"), n: N(i) } } });
    }
    const unprocessed = [];
    for (const chunk of [writes.slice(0, 25), writes.slice(25)]) {
      const res = await client.send(new BatchWriteItemCommand({ RequestItems: { [TableName]: chunk } }));
      unprocessed.push(Object.keys(res.UnprocessedItems ?? {}).length);
    }
    const keys = [];
    for (let i = 1; i <= 40; i++) keys.push(key("a", i));
    const got = await client.send(new BatchGetItemCommand({
      RequestItems: { [TableName]: { Keys: keys, ProjectionExpression: "sk, #u", ExpressionAttributeNames: { "#u": "user" } } },
    }));
    return {
      unprocessedWrites: unprocessed, unprocessedKeys: Object.keys(got.UnprocessedKeys ?? {}).length,
      sks: got.Responses[TableName].map((i) => Number(i.sk.N)).sort((x, y) => x - y),
      attributes: [...new Set(got.Responses[TableName].flatMap((i) => Object.keys(i)))].sort(),
    };
  });

  if (options.rolls) { // a server rolling shards quickly: later writes go to a child shard
    await step("rolled", async () => {
      const arn = out.create.streamArn;
      return until("the stream's shard to roll over", async () => {
        const shards = (await streams.send(new DescribeStreamCommand({ StreamArn: arn }))).StreamDescription.Shards;
        return shards.length >= 2 && shards.map((x) => ({ parent: x.ParentShardId ?? null,
          closed: !!x.SequenceNumberRange.EndingSequenceNumber }));
      });
    });
  }

  await step("query", async () => {
    const gsi = await client.send(new QueryCommand({
      TableName, IndexName: "by_user", KeyConditionExpression: "#u = :u AND n BETWEEN :lo AND :hi",
      ExpressionAttributeNames: { "#u": "user" },
      ExpressionAttributeValues: { ":u": S("bob"), ":lo": N(10), ":hi": N(14) }, ScanIndexForward: false,
    }));
    const pages = [];
    for await (const page of paginateQuery({ client, pageSize: 7 }, {
      TableName, KeyConditionExpression: "pk = :pk", ExpressionAttributeValues: { ":pk": S("a") },
    })) {
      pages.push(page.Items.map((i) => Number(i.sk.N)));
    }
    return { gsi: gsi.Items.map((i) => Number(i.sk.N)), gsiCount: gsi.Count, pages };
  });

  await step("transact", async () => {
    const input = {
      ReturnConsumedCapacity: "TOTAL",
      TransactItems: [
        { Put: { TableName, Item: { ...key("a", 100), user: S("tx"), n: N(100) }, ConditionExpression: "attribute_not_exists(pk)" } },
        { Update: { TableName, Key: key("a", 1), UpdateExpression: "SET n = :n", ConditionExpression: "n = :six",
          ExpressionAttributeValues: { ":n": N(60), ":six": N(6) } } },
        { ConditionCheck: { TableName, Key: key("a", 2), ConditionExpression: "attribute_exists(pk)" } },
      ],
    };
    const res = await client.send(new TransactWriteItemsCommand(input));
    const request = sent.findLast((r) => r.target === "DynamoDB_20120810.TransactWriteItems").body;
    // What a retry after a lost answer sends: the same token. Its condition (n = 6) no longer holds, but
    // the replay succeeds and changes nothing.
    const replay = await client.send(new TransactWriteItemsCommand({ ...input, ClientRequestToken: request.ClientRequestToken }));
    const after = await client.send(new GetItemCommand({ TableName, Key: key("a", 1), ConsistentRead: true }));
    return {
      capacity: res.ConsumedCapacity, token: request.ClientRequestToken ?? null, n: after.Item.n.N,
      status: res.$metadata.httpStatusCode, replayCapacity: replay.ConsumedCapacity,
    };
  });

  await step("transactCanceled", async () => failure(() => client.send(new TransactWriteItemsCommand({
    TransactItems: [
      { Put: { TableName, Item: { ...key("a", 200), user: S("never"), n: N(1) } } },
      { ConditionCheck: { TableName, Key: key("a", 1), ConditionExpression: "n = :zero",
        ExpressionAttributeValues: { ":zero": N(0) }, ReturnValuesOnConditionCheckFailure: "ALL_OLD" } },
    ],
  })), (err) => ({
    isClass: err instanceof TransactionCanceledException,
    reasons: (err.CancellationReasons ?? []).map((r) => ({ code: r.Code, message: r.Message ?? null, item: r.Item ?? null })),
  })));

  await step("document", async () => {
    const item = {
      pk: "doc", sk: 1, user: "carol", n: 3, missing: undefined,
      nested: { list: [1, "two", { three: true }], nothing: null, bytes: new Uint8Array([9, 8]) },
      tags: new Set(["p", "q"]), nums: new Set([1, 2]), big: NumberValue.from("12345678901234567890.5"),
    };
    await doc.send(new PutCommand({ TableName, Item: item }));
    const got = (await doc.send(new GetCommand({ TableName, Key: { pk: "doc", sk: 1 } }))).Item;
    const updated = (await doc.send(new UpdateCommand({
      TableName, Key: { pk: "doc", sk: 1 }, ReturnValues: "UPDATED_NEW",
      UpdateExpression: "SET nested.#l[0] = :v, nested.added = :m", ExpressionAttributeNames: { "#l": "list" },
      ExpressionAttributeValues: { ":v": "one", ":m": { deep: [new Set(["s"])] } },
    }))).Attributes;
    const queried = await doc.send(new DocQueryCommand({
      TableName, IndexName: "by_user", KeyConditionExpression: "#u = :u", ExpressionAttributeNames: { "#u": "user" },
      ExpressionAttributeValues: { ":u": "carol" },
    }));
    return { got, updated, queried: queried.Items };
  });

  await step("delete", async () => (await client.send(new DeleteItemCommand({
    TableName, Key: key("a", 36), ReturnValues: "ALL_OLD",
  }))).Attributes);

  await step("streams", async () => {
    const listed = await streams.send(new ListStreamsCommand({ TableName }));
    const arn = listed.Streams[0].StreamArn;
    return { listed: listed.Streams.map((s) => ({ table: s.TableName, label: s.StreamLabel, arn: s.StreamArn })),
      ...(await readStream(streams, arn)) };
  });
}

// Polls fn until it returns something truthy (the server finishes backups, restores and exports in the
// background); gives up after a minute.
async function until(what, fn) {
  for (const deadline = Date.now() + 60000; Date.now() < deadline;) {
    const value = await fn();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// Operations past the basic item path, each on its own tables so "full"'s stream stays as asserted.
async function more() {
  const client = new DynamoDBClient(config());
  const doc = DynamoDBDocumentClient.from(client);
  const streams = new DynamoDBStreamsClient(config());
  const TableName = `${options.table}_more`;
  const created = (await client.send(new CreateTableCommand({
    TableName, BillingMode: "PAY_PER_REQUEST",
    KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }],
    AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }, { AttributeName: "sk", AttributeType: "S" }],
    StreamSpecification: { StreamEnabled: true, StreamViewType: "KEYS_ONLY" },
  }))).TableDescription;
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName });

  // Sort keys compare by their UTF-8 bytes: U+FFFF sorts before U+1F600 (a surrogate pair in UTF-16).
  const sortKeys = ["a", "Z", "\u00e9", "\uffff", "\u{1F600}", "a\u0000b", ""];
  await step("documentBatches", async () => {
    await doc.send(new BatchWriteCommand({ RequestItems: { [TableName]: sortKeys.filter((k) => k).map((sk, i) => ({
      PutRequest: { Item: { pk: "u", sk, i, flag: i % 2 === 0 } } })) } }));
    await doc.send(new TransactWriteCommand({ TransactItems: [
      { Put: { TableName, Item: { pk: "t", sk: "1", list: [] } } },
      { Update: { TableName, Key: { pk: "u", sk: "a" }, UpdateExpression: "SET #l = list_append(if_not_exists(#l, :e), :v)",
        ExpressionAttributeNames: { "#l": "list" }, ExpressionAttributeValues: { ":e": [], ":v": [1, 2] } } },
    ] }));
    const got = await doc.send(new BatchGetCommand({ RequestItems: { [TableName]: {
      Keys: [{ pk: "u", sk: "a" }, { pk: "t", sk: "1" }, { pk: "none", sk: "x" }] } } }));
    const emptyKey = await failure(() => doc.send(new PutCommand({ TableName, Item: { pk: "u", sk: "" } })));
    return { got: got.Responses[TableName].sort((x, y) => x.pk.localeCompare(y.pk)), emptyKey };
  });

  await step("reads", async () => {
    const order = (await client.send(new QueryCommand({
      TableName, KeyConditionExpression: "pk = :u", ExpressionAttributeValues: { ":u": S("u") },
    }))).Items.map((i) => i.sk.S);
    const transactGet = (await client.send(new TransactGetItemsCommand({ TransactItems: [
      { Get: { TableName, Key: { pk: S("u"), sk: S("Z") }, ProjectionExpression: "i" } },
      { Get: { TableName, Key: { pk: S("u"), sk: S("missing") } } },
    ] }))).Responses;
    const segments = [];
    for (let Segment = 0; Segment < 3; Segment++) {
      const page = await client.send(new ScanCommand({ TableName, Segment, TotalSegments: 3,
        FilterExpression: "flag = :t", ExpressionAttributeValues: { ":t": { BOOL: true } } }));
      segments.push({ count: page.Count, scanned: page.ScannedCount });
    }
    // The DocumentClient's paginators hand LastEvaluatedKey back as ExclusiveStartKey, NUL and emoji included.
    const docPages = [];
    for await (const page of paginateDocQuery({ client: doc, pageSize: 2 }, { TableName,
      KeyConditionExpression: "pk = :u", ExpressionAttributeValues: { ":u": "u" } })) {
      docPages.push(page.Items.map((i) => i.sk));
    }
    const scanned = [];
    for (let Segment = 0; Segment < 2; Segment++) {
      for await (const page of paginateDocScan({ client: doc, pageSize: 1 }, { TableName, Segment, TotalSegments: 2 })) {
        scanned.push(...page.Items.map((i) => `${i.pk}/${i.sk}`));
      }
    }
    const count = await client.send(new ScanCommand({ TableName, Select: "COUNT" }));
    return { order, transactGet, segments, docPages, scanned,
      count: { count: count.Count, scanned: count.ScannedCount, items: count.Items ?? null } };
  });

  await step("errors", async () => ({
    missingTable: await failure(() => client.send(new GetItemCommand({ TableName: "no_such_table", Key: { pk: S("x") } })),
      (err) => ({ isClass: err instanceof ResourceNotFoundException })),
    badExpression: await failure(() => client.send(new UpdateItemCommand({ TableName, Key: { pk: S("u"), sk: S("a") },
      UpdateExpression: "SET a = :v, a = :v", ExpressionAttributeValues: { ":v": N(1) } }))),
    unusedValue: await failure(() => client.send(new QueryCommand({ TableName, KeyConditionExpression: "pk = :u",
      ExpressionAttributeValues: { ":u": S("u"), ":x": N(1) } }))),
    partiql: await failure(() => doc.send(new ExecuteStatementCommand({ Statement: `SELECT * FROM "${TableName}"` }))),
    badIterator: await failure(() => streams.send(new GetRecordsCommand({ ShardIterator: "x".repeat(40) }))),
    noStream: await failure(() => streams.send(new DescribeStreamCommand({
      StreamArn: `${created.TableArn}/stream/2000-01-01T00:00:00.000` }))),
    tooLarge: await failure(() => client.send(new PutItemCommand({ TableName,
      Item: { pk: S("big"), sk: S("1"), blob: { S: "x".repeat(400 * 1024) } } }))),
  }));

  await step("tableSettings", async () => {
    await client.send(new UpdateTimeToLiveCommand({ TableName,
      TimeToLiveSpecification: { Enabled: true, AttributeName: "expires" } }));
    const ttl = (await client.send(new DescribeTimeToLiveCommand({ TableName }))).TimeToLiveDescription;
    await client.send(new TagResourceCommand({ ResourceArn: created.TableArn, Tags: [{ Key: "team", Value: "js" }] }));
    const tags = (await client.send(new ListTagsOfResourceCommand({ ResourceArn: created.TableArn }))).Tags;
    return { ttl, tags };
  });

  await step("streamIterators", async () => {
    const arn = created.LatestStreamArn;
    const shards = async () => (await streams.send(new DescribeStreamCommand({ StreamArn: arn }))).StreamDescription.Shards;
    const iterator = async (ShardId, ShardIteratorType, SequenceNumber) => (await streams.send(new GetShardIteratorCommand({
      StreamArn: arn, ShardId, ShardIteratorType, SequenceNumber }))).ShardIterator;
    // Reads on from an iterator to the stream's present end: a shard that closes (the server may roll one over
    // at any time) is read to its end, then its child from TRIM_HORIZON, as a KCL-style consumer does.
    const readOn = async (shardId, it) => {
      const records = [];
      for (;;) {
        const page = await streams.send(new GetRecordsCommand({ ShardIterator: it }));
        records.push(...page.Records.map((r) => ({ shardId, r })));
        if (page.NextShardIterator && page.Records.length) {
          it = page.NextShardIterator;
        } else if (page.NextShardIterator) {
          return records; // the open shard, read to its end
        } else {
          const child = (await shards()).find((x) => x.ParentShardId === shardId);
          if (!child) return records;
          shardId = child.ShardId;
          it = await iterator(shardId, "TRIM_HORIZON");
        }
      }
    };
    const first = (await shards())[0].ShardId;
    const all = await readOn(first, await iterator(first, "TRIM_HORIZON"));
    const second = all[1];
    const at = (type) => iterator(second.shardId, type, second.r.dynamodb.SequenceNumber);
    const open = (await shards()).find((x) => !x.SequenceNumberRange.EndingSequenceNumber).ShardId;
    const latest = await iterator(open, "LATEST");
    await client.send(new PutItemCommand({ TableName, Item: { pk: S("after"), sk: S("latest") } }));
    const keys = (records) => records.map(({ r }) => `${r.dynamodb.Keys.pk.S}/${r.dynamodb.Keys.sk.S}`);
    return {
      trimHorizon: keys(all),
      at: keys(await readOn(second.shardId, await at("AT_SEQUENCE_NUMBER"))).slice(0, 2),
      after: keys(await readOn(second.shardId, await at("AFTER_SEQUENCE_NUMBER"))).slice(0, 1),
      latest: keys(await readOn(open, latest)),
    };
  });

  await step("backups", async () => {
    const backup = (await client.send(new CreateBackupCommand({ TableName, BackupName: "js-backup" }))).BackupDetails;
    const available = await until("backup AVAILABLE", async () => {
      const details = (await client.send(new DescribeBackupCommand({ BackupArn: backup.BackupArn }))).BackupDescription;
      return details.BackupDetails.BackupStatus === "AVAILABLE" && details;
    });
    const listed = (await client.send(new ListBackupsCommand({ TableName }))).BackupSummaries;
    const restored = (await client.send(new RestoreTableFromBackupCommand({
      TargetTableName: `${TableName}_restored`, BackupArn: backup.BackupArn }))).TableDescription;
    const waited = await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName: `${TableName}_restored` });
    const count = (await client.send(new ScanCommand({ TableName: `${TableName}_restored`, Select: "COUNT" }))).Count;
    const deleting = (await client.send(new DeleteTableCommand({ TableName: `${TableName}_restored` }))).TableDescription;
    const gone = await waitUntilTableNotExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName: `${TableName}_restored` });
    return {
      status: backup.BackupStatus, name: available.BackupDetails.BackupName,
      source: available.SourceTableDetails.TableName, keySchema: available.SourceTableDetails.KeySchema,
      listed: listed.map((b) => [b.BackupName, b.BackupStatus, b.BackupType]),
      restoredName: restored.TableName, restoreSummary: { source: restored.RestoreSummary.SourceBackupArn === backup.BackupArn,
        inProgress: typeof restored.RestoreSummary.RestoreInProgress, date: restored.RestoreSummary.RestoreDateTime instanceof Date },
      waiter: waited.state, count, deleted: [deleting.TableStatus, gone.state],
    };
  });

  await step("pitrAndExport", async () => {
    const updated = (await client.send(new UpdateContinuousBackupsCommand({ TableName,
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }))).ContinuousBackupsDescription;
    const window = await until("a restorable time", async () => {
      const d = (await client.send(new DescribeContinuousBackupsCommand({ TableName }))).ContinuousBackupsDescription;
      return d.PointInTimeRecoveryDescription.LatestRestorableDateTime && d.PointInTimeRecoveryDescription;
    });
    const restored = (await client.send(new RestoreTableToPointInTimeCommand({ SourceTableName: TableName,
      TargetTableName: `${TableName}_pitr`, UseLatestRestorableTime: true }))).TableDescription;
    await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName: `${TableName}_pitr` });
    const count = (await client.send(new ScanCommand({ TableName: `${TableName}_pitr`, Select: "COUNT" }))).Count;
    // A RestoreDateTime between two writes (the SDK sends a Date as epoch seconds with milliseconds).
    await client.send(new PutItemCommand({ TableName, Item: { pk: S("pitr"), sk: S("before") } }));
    const between = new Date();
    await until("the clock to pass the first write", async () => Date.now() > between.getTime() + 2);
    await client.send(new PutItemCommand({ TableName, Item: { pk: S("pitr"), sk: S("after") } }));
    await until("the second write to be restorable", async () => {
      const d = (await client.send(new DescribeContinuousBackupsCommand({ TableName }))).ContinuousBackupsDescription;
      return d.PointInTimeRecoveryDescription.LatestRestorableDateTime > between;
    });
    await client.send(new RestoreTableToPointInTimeCommand({ SourceTableName: TableName,
      TargetTableName: `${TableName}_at`, RestoreDateTime: between }));
    await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName: `${TableName}_at` });
    const atTime = (await client.send(new QueryCommand({ TableName: `${TableName}_at`, KeyConditionExpression: "pk = :p",
      ExpressionAttributeValues: { ":p": S("pitr") }, ConsistentRead: true }))).Items.map((i) => i.sk.S);
    const exported = (await client.send(new ExportTableToPointInTimeCommand({ TableArn: created.TableArn,
      S3Bucket: `file://${options.exportDir}`, ExportFormat: "DYNAMODB_JSON" }))).ExportDescription;
    const finished = await until("export COMPLETED", async () => {
      const d = (await client.send(new DescribeExportCommand({ ExportArn: exported.ExportArn }))).ExportDescription;
      return d.ExportStatus !== "IN_PROGRESS" && d;
    });
    return {
      enabled: updated.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus,
      window: { earliest: window.EarliestRestorableDateTime instanceof Date, latest: window.LatestRestorableDateTime instanceof Date,
        days: window.RecoveryPeriodInDays ?? null },
      restored: restored.TableName, count, atTime,
      export: { status: finished.ExportStatus, items: finished.ItemCount, format: finished.ExportFormat,
        manifest: finished.ExportManifest, failure: finished.FailureMessage ?? null },
    };
  });
}

// The same SDK against auth = "sigv4" (and over TLS): the right keys are served, wrong ones refused.
async function signed() {
  const client = new DynamoDBClient(config());
  const streams = new DynamoDBStreamsClient(config());
  const TableName = options.table;
  await step("signed", async () => {
    await client.send(new CreateTableCommand({
      TableName, BillingMode: "PAY_PER_REQUEST", KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      StreamSpecification: { StreamEnabled: true, StreamViewType: "KEYS_ONLY" },
    }));
    await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName });
    await client.send(new PutItemCommand({ TableName, Item: { pk: S("k"), v: S("signed") } }));
    const reads = [];
    for (let i = 0; i < 2; i++) { // a miss, then a cache hit: both must pass the signature check
      reads.push((await client.send(new GetItemCommand({ TableName, Key: { pk: S("k") } }))).Item);
    }
    const tables = (await client.send(new ListTablesCommand({}))).TableNames;
    const listed = (await streams.send(new ListStreamsCommand({ TableName }))).Streams;
    return { reads, tables, streams: listed.length };
  });
  const wrong = (overrides) => {
    const creds = { ...config().credentials, ...overrides };
    return { client: new DynamoDBClient({ ...config(), credentials: creds }),
      streams: new DynamoDBStreamsClient({ ...config(), credentials: creds }) };
  };
  const badSecret = wrong({ secretAccessKey: `${options.secret}-wrong` });
  const badKey = wrong({ accessKeyId: "AKIDNOSUCHKEY" });
  await step("wrongSecret", async () => failure(() => badSecret.client.send(new GetItemCommand({ TableName, Key: { pk: S("k") } }))));
  await step("wrongSecretStreams", async () => failure(() => badSecret.streams.send(new ListStreamsCommand({}))));
  await step("unknownKey", async () => failure(() => badKey.client.send(new GetItemCommand({ TableName, Key: { pk: S("k") } }))));
  // A client whose clock is 20 minutes slow: refused as DynamoDB refuses it, then the SDK corrects its clock
  // from the answer's Date header and its retry is served.
  const slow = (maxAttempts) => new DynamoDBClient({ ...config(), maxAttempts, systemClockOffset: -20 * 60 * 1000 });
  await step("skewedClock", async () => ({
    refused: await failure(() => slow(1).send(new GetItemCommand({ TableName, Key: { pk: S("k") } }))),
    corrected: await (async () => {
      const res = await slow(2).send(new GetItemCommand({ TableName, Key: { pk: S("k") } }));
      return { item: res.Item, attempts: res.$metadata.attempts };
    })(),
  }));
  // A second key whose policy allows GetItem on partition "k" of this table only.
  const reader = new DynamoDBClient({ ...config(), credentials: { accessKeyId: options.reader.key, secretAccessKey: options.reader.secret } });
  await step("policy", async () => ({
    allowed: (await reader.send(new GetItemCommand({ TableName, Key: { pk: S("k") } }))).Item,
    otherKey: await failure(() => reader.send(new GetItemCommand({ TableName, Key: { pk: S("other") } }))),
    put: await failure(() => reader.send(new PutItemCommand({ TableName, Item: { pk: S("k") } }))),
  }));
}

// Without the test CA, the SDK must refuse the server's certificate.
async function untrusted() {
  await step("untrusted", async () => failure(() => new DynamoDBClient(config()).send(new ListTablesCommand({}))));
}

const scenarios = { full: async () => { await full(); await more(); }, signed, untrusted };
try {
  await scenarios[options.scenario]();
} catch {
  process.exitCode = 1; // out.unexpected says what happened
}
process.stdout.write(JSON.stringify(out));
