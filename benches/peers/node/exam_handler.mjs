// The Node peer of Clinic's exam-results-api `GET /v1/exams/{id}`: one DynamoDB GetItem
// (eventually consistent) per invocation, answered as an API Gateway HTTP API (payload v2)
// response with the item as plain JSON, or 404 when there is none.
//
// Environment: BENCH_TABLE (table name), BENCH_KEY (the item's key as DynamoDB JSON) and the
// AWS settings (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for the
// local emulator; the v3 SDK reads AWS_ENDPOINT_URL itself). Run by runtime.mjs; see there for
// how the SDK is found.

import { createRequire } from "node:module";

// The SDK lives in the peers' cache, not beside this file. ESM `import` ignores NODE_PATH but
// CommonJS `require` honours it, so the SDK is loaded through require (its CommonJS build, the
// one Lambda's Node runtime loads for a CommonJS-resolved dependency too).
const require = createRequire(import.meta.url);
const { DynamoDBClient, GetItemCommand } = require("@aws-sdk/client-dynamodb");

// Module scope runs once per execution environment (Lambda's init phase): the client and its
// connection pool serve every invocation.
const TABLE = process.env.BENCH_TABLE;
const KEY = JSON.parse(process.env.BENCH_KEY ?? "null");
if (!TABLE || !KEY) {
  throw new Error("BENCH_TABLE and BENCH_KEY must be set");
}
const client = new DynamoDBClient({});

const HEADERS = { "content-type": "application/json" };
const NOT_FOUND = JSON.stringify({ code: "NOT_FOUND", message: "Exam not found." });

// DynamoDB JSON to plain JSON (what @aws-sdk/util-dynamodb's unmarshall does, without a second
// dependency). Numbers become JS numbers, binaries base64, sets arrays.
function plain(value) {
  const [type, inner] = Object.entries(value)[0];
  switch (type) {
    case "S":
    case "BOOL":
      return inner;
    case "N":
      return Number(inner);
    case "NULL":
      return null;
    case "B":
      return Buffer.from(inner).toString("base64");
    case "SS":
      return [...inner];
    case "NS":
      return inner.map(Number);
    case "BS":
      return inner.map((b) => Buffer.from(b).toString("base64"));
    case "L":
      return inner.map(plain);
    case "M":
      return plainItem(inner);
    default:
      throw new Error(`unknown DynamoDB type ${type}`);
  }
}

function plainItem(item) {
  const out = {};
  for (const [name, value] of Object.entries(item)) {
    out[name] = plain(value);
  }
  return out;
}

export async function handler(_event, _context) {
  const { Item } = await client.send(
    new GetItemCommand({ TableName: TABLE, Key: KEY, ConsistentRead: false }),
  );
  if (!Item) {
    return { statusCode: 404, headers: HEADERS, body: NOT_FOUND };
  }
  return { statusCode: 200, headers: HEADERS, body: JSON.stringify(plainItem(Item)) };
}
