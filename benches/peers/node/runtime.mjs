// A minimal Lambda Runtime API client: what Lambda's Node runtime does around a handler, kept
// here because the npm runtime client (aws-lambda-ric) needs a native build.
//
// Start (cwd benches/peers/node):
//   node runtime.mjs
// Environment the harness sets:
//   AWS_LAMBDA_RUNTIME_API  host:port of the Runtime API
//   _HANDLER                module.export, e.g. exam_handler.handler (module in this folder)
//   NODE_PATH               the peers' node_modules (scripts/bench-peers prints it); the handler
//                           loads the SDK with require, which honours NODE_PATH
//   plus what the handler reads (BENCH_TABLE, BENCH_KEY, AWS_* settings).
// Optional, passed to the handler's context: AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE.

import http from "node:http";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const HANDLER = process.env._HANDLER;
const BASE = "/2018-06-01/runtime";
if (!API || !HANDLER) {
  console.error("runtime: AWS_LAMBDA_RUNTIME_API and _HANDLER must be set");
  process.exit(1);
}
const [host, port] = API.split(":");

// One connection, kept open between the long-poll for the next event and the answer, as the
// managed runtime does; no timeout, since `next` blocks until there is an event.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      {
        host,
        port: Number(port ?? 80),
        method,
        path: urlPath,
        agent,
        headers: payload
          ? { "content-type": "application/json", "content-length": payload.length, ...headers }
          : headers,
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function errorBody(err) {
  return JSON.stringify({
    errorMessage: err instanceof Error ? err.message : String(err),
    errorType: err instanceof Error ? err.name : typeof err,
    stackTrace: err instanceof Error && err.stack ? err.stack.split("\n").slice(1) : [],
  });
}

async function loadHandler() {
  const dot = HANDLER.lastIndexOf(".");
  if (dot <= 0) throw new Error(`bad _HANDLER ${HANDLER}: expected module.export`);
  const moduleName = HANDLER.slice(0, dot);
  const exportName = HANDLER.slice(dot + 1);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const module = await import(pathToFileURL(path.join(here, `${moduleName}.mjs`)).href);
  const fn = module[exportName];
  if (typeof fn !== "function") {
    throw new Error(`${moduleName}.mjs does not export a function ${exportName}`);
  }
  return fn;
}

function context(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] ?? 0);
  return {
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    getRemainingTimeInMillis: () => (deadline ? Math.max(0, deadline - Date.now()) : 0),
  };
}

let handler;
try {
  handler = await loadHandler();
} catch (err) {
  // Lambda reports an init failure once and the environment is discarded.
  console.error("runtime: init failed:", err);
  await request("POST", `${BASE}/init/error`, errorBody(err), {
    "lambda-runtime-function-error-type": "Runtime.InitError",
  }).catch(() => {});
  process.exit(1);
}

for (;;) {
  // The Runtime API going away or refusing `next` ends the environment (Lambda freezes or
  // kills it before that happens); exit plainly rather than with an unhandled rejection.
  const next = await request("GET", `${BASE}/invocation/next`).catch((err) => ({ err }));
  if (next.err || next.status !== 200) {
    console.error(`runtime: next failed: ${next.err ?? `${next.status} ${next.body}`}`);
    process.exit(1);
  }
  const id = next.headers["lambda-runtime-aws-request-id"];
  const trace = next.headers["lambda-runtime-trace-id"];
  if (trace) process.env._X_AMZN_TRACE_ID = trace;
  else delete process.env._X_AMZN_TRACE_ID;
  let outcome;
  try {
    const event = next.body.length ? JSON.parse(next.body.toString("utf8")) : {};
    const result = await handler(event, context(next.headers));
    outcome = request(
      "POST",
      `${BASE}/invocation/${id}/response`,
      JSON.stringify(result === undefined ? null : result),
    );
  } catch (err) {
    console.error(`runtime: invocation ${id} failed:`, err);
    outcome = request("POST", `${BASE}/invocation/${id}/error`, errorBody(err), {
      "lambda-runtime-function-error-type": "Runtime.HandlerError",
    });
  }
  await outcome;
}
