// The client against a scripted HTTP server on loopback: what is retried
// (and that a retry is the same request, freshly signed), what is not, and
// how answers become typed errors. engine/tests/clients.rs runs the example
// against a live switch.
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { createServer } from "node:http";
import { after, before, beforeEach, test } from "node:test";
import {
  AuthenticationError, ConflictError, ForbiddenError, InvalidRequestError, MAX_ANSWER_BYTES, NotFoundError,
  ProtocolError, RateLimitedError, TerminalClient, TradeStateError, TransportError, UnavailableError,
} from "payswitch-client";

const SECRET_HEX = "33".repeat(32);
const TRADE = { out_trade_no: "A1", status: "SUCCESS", trade_no: "2026", total_amount: "1.00", refunded_amount: "0.00" };
const DROP = { drop: true };
const ok = (doc) => ({ status: 200, doc });
const error = (status, code, field, headers = {}) => ({ status, doc: { error: { code, message: `scripted ${code}`, ...(field ? { field } : {}) } }, headers });

let server, script, seen, sleeps, client, warnings;

before(async () => {
  server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method, path: req.url, auth: req.headers.authorization, body: Buffer.concat(chunks), at: Date.now() });
      const a = script.shift() ?? ok(TRADE);
      if (a.drop) {
        req.socket.destroy();
        return;
      }
      res.writeHead(a.status, { "content-type": "application/json", connection: "close", ...(a.headers ?? {}) });
      res.end(JSON.stringify(a.doc));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
});

after(() => new Promise((r) => server.close(r)));

beforeEach(() => {
  script = [];
  seen = [];
  sleeps = [];
  warnings = [];
  client = new TerminalClient(`http://127.0.0.1:${server.address().port}`, "T9", SECRET_HEX, {
    backoffInitialMs: 10,
    backoffMaxMs: 20,
    timeoutMarginMs: 3000,
    sleep: (ms) => {
      sleeps.push(ms);
      return new Promise((r) => setTimeout(r, Math.min(ms, 50)));
    },
    logger: { warn: (m) => warnings.push(m) },
  });
});

/** The nonce of a validly signed request (as the switch checks it), else null. */
function verified(r) {
  const f = Object.fromEntries(r.auth.slice("PSW1-HMAC-SHA256 ".length).split(",").map((p) => p.trim().split(/=(.*)/s).slice(0, 2)));
  const text = [r.method, r.path, f.ts, f.nonce, createHash("sha256").update(r.body).digest("hex")].join("\n");
  const want = createHmac("sha256", Buffer.from(SECRET_HEX, "hex")).update(text).digest("base64");
  return f.key === "T9" && want === f.sig ? f.nonce : null;
}

const pay = () => client.pay({ out_trade_no: "A1", auth_code: "281234567890120000", total_amount: "1.00", subject: "coffee" }, { wait: 0 });

test("a lost answer is asked again with the same body, freshly signed", async () => {
  script = [DROP, error(503, "journal_unavailable"), ok(TRADE)];
  const t = await pay();
  assert.equal(t.status, "SUCCESS");
  assert.equal(seen.length, 3);
  assert.equal(new Set(seen.map((s) => s.body.toString())).size, 1);
  assert.equal(JSON.parse(seen[0].body).out_trade_no, "A1");
  const nonces = seen.map(verified);
  assert.ok(nonces.every(Boolean), "every attempt validly signed");
  assert.equal(new Set(nonces).size, 3, "a fresh nonce every attempt");
  assert.deepEqual([...new Set(seen.map((s) => s.path))], ["/v1/pay?wait=0"]);
});

test("Retry-After is honoured and attempts are bounded", async () => {
  script = [error(429, "rate_limited", undefined, { "retry-after": "3" }), ...Array(10).fill(error(503, "switch_busy"))];
  await assert.rejects(pay(), (e) => e instanceof UnavailableError && e.status === 503 && e.code === "switch_busy" && e.attempts === 4);
  assert.equal(seen.length, 4);
  assert.ok(sleeps[0] >= 3000, `waited ${sleeps[0]}`);
  assert.equal(sleeps.length, 3);
});

test("no answer at all is a TransportError", async () => {
  script = [DROP, DROP, DROP, DROP];
  await assert.rejects(client.refund("A1", { out_request_no: "R1", refund_amount: "0.50" }), (e) => e instanceof TransportError && e.attempts === 4 && /outcome is unknown/.test(e.message));
  assert.equal(new Set(seen.map((s) => s.body.toString())).size, 1);
});

test("answers that are not retried", async () => {
  const cases = [
    [error(409, "conflict"), ConflictError],
    [error(409, "trade_state"), TradeStateError],
    [error(400, "invalid_field", "refund_amount"), InvalidRequestError],
    [error(401, "auth_timestamp_skew"), AuthenticationError],
    [error(429, "ip_limited"), AuthenticationError],
    [error(403, "terminal_suspended"), ForbiddenError],
    [error(404, "not_found"), NotFoundError],
  ];
  for (const [answer, Cls] of cases) {
    seen = [];
    script = [answer, ok(TRADE)];
    await assert.rejects(client.refund("A1", { out_request_no: "R1", refund_amount: "0.50" }), (e) => {
      assert.ok(e instanceof Cls, `${answer.doc.error.code}: ${e}`);
      assert.deepEqual([e.status, e.code, e.field], [answer.status, answer.doc.error.code, answer.doc.error.field]);
      return true;
    });
    assert.equal(seen.length, 1, `${answer.doc.error.code} is not retried`);
  }
  script = [error(429, "rate_limited"), error(429, "rate_limited"), error(429, "rate_limited"), error(429, "rate_limited")];
  await assert.rejects(client.query("A1"), RateLimitedError);
});

test("an answer over the limit is refused", async () => {
  script = [ok("x".repeat(MAX_ANSWER_BYTES + 10))];
  await assert.rejects(client.query("A1"), (e) => e instanceof ProtocolError && /larger than/.test(e.message));
  assert.equal(seen.length, 1, "not retried");
});

test("local checks send nothing", async () => {
  await assert.rejects(client.query("A-1/../x"), (e) => e instanceof InvalidRequestError && e.status === 0 && e.field === "out_trade_no");
  await assert.rejects(client.pay({ out_trade_no: "A1", auth_code: "281234567890120000", total_amount: 1.0, subject: "x" }), TypeError);
  await assert.rejects(client.pay({ out_trade_no: "A1", auth_code: "281234567890120000", total_amount: "1.00", subject: "x" }, { wait: 61 }), InvalidRequestError);
  assert.equal(seen.length, 0);
});

test("errors and logs hold no secret nor payment code", async () => {
  script = [DROP, error(400, "invalid_field", "subject")];
  const e = await pay().catch((x) => x);
  assert.ok(e instanceof InvalidRequestError);
  assert.equal(warnings.length, 1);
  const text = `${e.message} ${e.stack} ${JSON.stringify(e)} ${warnings.join("\n")}`;
  for (const needle of ["3333", "281234567890120000", "PSW1", "sig="]) assert.ok(!text.includes(needle), needle);
});

test("queries and paths", async () => {
  const refund = { out_trade_no: "A1", out_request_no: "R1", refund_amount: "0.50", status: "SUCCESS", refunded_amount: "0.50" };
  script = [ok(TRADE), ok(TRADE), ok(TRADE), ok(TRADE), ok(refund)];
  await client.query("A1");
  await client.query("A1", { refresh: true });
  await client.cancel("A1");
  await client.close("A1");
  const r = await client.queryRefund("A1", "R1");
  assert.equal(r.refunded_amount, "0.50");
  assert.deepEqual(seen.map((s) => `${s.method} ${s.path} [${s.body}]`), [
    "GET /v1/trades/A1 []",
    "GET /v1/trades/A1?refresh=1 []",
    "POST /v1/trades/A1/cancel []",
    "POST /v1/trades/A1/close []",
    "GET /v1/trades/A1/refunds/R1 []",
  ]);
  assert.ok(seen.every(verified));
});
