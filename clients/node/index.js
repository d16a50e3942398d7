// payswitch-client: the terminal side of the payswitch terminal API
// (docs/API.md section 1) for Node 20+, no runtime dependency: node:crypto
// and the global fetch. Types: index.d.ts.
//
// Signing: PSW1-HMAC-SHA256, byte for byte what engine::api::auth::{string_to_sign,
// sign} compute (docs/ENGINE.md, "Authentication: a worked example"):
//   STRING = METHOD "\n" PATH_AND_QUERY "\n" ts "\n" nonce "\n" hex(sha256(body))
//   sig    = base64(HMAC-SHA256(secret, STRING))
//
// Retries: a request is serialised once and every attempt sends the same
// bytes (same out_trade_no / out_request_no, same content) with a fresh ts
// and nonce; the switch is idempotent on those numbers, so a repeat never
// pays or refunds twice. Repeated, maxAttempts in all, after no answer
// (connection refused, reset or closed; the attempt's time-out), 503, 408,
// a proxy's 502/504, and 429 rate_limited / auth_nonce_memory_full; waiting
// backoffInitialMs doubled per attempt up to backoffMaxMs (jittered down to
// half), or Retry-After when longer (capped at retryAfterMaxMs). 400, 401,
// 403, 404 and 409 are answers, thrown at once. The client never makes up an
// out_trade_no or out_request_no.

import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { inspect } from "node:util";

export const VERSION = "0.1.0";

/** Statuses after which the same request is sent again. */
export const RETRYABLE_STATUSES = Object.freeze([408, 502, 503, 504]);
const RETRYABLE_429 = new Set(["rate_limited", "auth_nonce_memory_full"]);
/** The largest answer read (a trade is well under 2 KiB). */
export const MAX_ANSWER_BYTES = 1 << 20;
export const FINAL_TRADE_STATUSES = Object.freeze(["SUCCESS", "FAILED", "CLOSED"]);
export const FINAL_REFUND_STATUSES = Object.freeze(["SUCCESS", "FAILED"]);

const NONCE = /^[A-Za-z0-9]{16,64}$/;
const NUMBER = /^[A-Za-z0-9_]{1,64}$/;
const REDACTED = "Secret(<redacted>)";

// ------------------------------------------------------------------ secrets

/** A terminal's HMAC secret; never shown by toString, JSON or util.inspect. */
export class Secret {
  #key;

  /** @param {string | Uint8Array | Secret} secret hex digits (secret_hex) or bytes */
  constructor(secret) {
    let key;
    if (secret instanceof Secret) {
      key = secret.#key;
    } else if (typeof secret === "string") {
      const h = secret.trim();
      if (h.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(h)) {
        // Never echo the text: it is (almost) the secret.
        throw new TypeError("the secret must be hex digits (the secret_hex the admin API printed)");
      }
      key = Buffer.from(h, "hex");
    } else if (secret instanceof Uint8Array) {
      key = Buffer.from(secret);
    } else {
      throw new TypeError("the secret must be a hex string or bytes");
    }
    if (key.length === 0) throw new TypeError("the secret must not be empty");
    this.#key = key;
  }

  /** HMAC-SHA256 of `text` (bytes). */
  mac(text) {
    return createHmac("sha256", this.#key).update(text).digest();
  }

  equals(other) {
    return other instanceof Secret && other.#key.length === this.#key.length && timingSafeEqual(this.#key, other.#key);
  }

  toString() {
    return REDACTED;
  }

  toJSON() {
    return REDACTED;
  }

  [inspect.custom]() {
    return REDACTED;
  }
}

// ------------------------------------------------------------------ signing

const toBytes = (body) => (typeof body === "string" ? Buffer.from(body, "utf8") : body ?? new Uint8Array());

/** The text that is signed. */
export function stringToSign(method, pathAndQuery, ts, nonce, body) {
  const hash = createHash("sha256").update(toBytes(body)).digest("hex");
  return `${method}\n${pathAndQuery}\n${ts}\n${nonce}\n${hash}`;
}

/** The `sig` value: base64 of the HMAC-SHA256 of stringToSign. */
export function sign(secret, method, pathAndQuery, ts, nonce, body) {
  const s = secret instanceof Secret ? secret : new Secret(secret);
  return s.mac(Buffer.from(stringToSign(method, pathAndQuery, ts, nonce, body), "utf8")).toString("base64");
}

function checkKeyId(keyId) {
  if (typeof keyId !== "string" || keyId === "" || /[ ,=\r\n]/.test(keyId)) {
    throw new TypeError("the key id must be non-empty, without spaces, commas or '='");
  }
}

/** The whole Authorization header value. */
export function authorization(keyId, secret, method, pathAndQuery, ts, nonce, body) {
  if (!NONCE.test(nonce)) throw new TypeError("the nonce must be 16 to 64 letters or digits");
  checkKeyId(keyId);
  return `PSW1-HMAC-SHA256 key=${keyId}, ts=${ts}, nonce=${nonce}, sig=${sign(secret, method, pathAndQuery, ts, nonce, body)}`;
}

/** 32 random hex digits. */
export function newNonce() {
  return randomBytes(16).toString("hex");
}

// ------------------------------------------------------------------ errors

/** Base of every error of this package; none carries the secret, the Authorization header or a body. */
export class PayswitchError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * No answer: every attempt failed to connect, was cut or timed out. For a pay,
 * precreate, cancel, close or refund the outcome is unknown: send the same
 * request again (same numbers, same content) or query it.
 */
export class TransportError extends PayswitchError {
  constructor(method, path, attempts, reason) {
    super(`${method} ${path}: no answer after ${attempts} attempt(s) (${reason}); the outcome is unknown: send the same request again or query it`);
    this.method = method;
    this.path = path;
    this.attempts = attempts;
    this.reason = reason;
  }
}

/** The switch answered 2xx with something that is not the documented JSON. */
export class ProtocolError extends PayswitchError {}

/** The switch answered `{"error": {"code", "message", "field"}}` (status 0: a local check, nothing sent). */
export class ApiError extends PayswitchError {
  constructor(status, code, message, field = undefined, attempts = 1, retryAfterMs = undefined) {
    super(`${status ? `HTTP ${status}` : "not sent"} ${code}${field ? ` (field ${field})` : ""}: ${message}`);
    this.status = status;
    this.code = code;
    this.serverMessage = message;
    this.field = field;
    this.attempts = attempts;
    this.retryAfterMs = retryAfterMs;
  }
}
/** 400 / 413: fix the request (`field` names the field). */
export class InvalidRequestError extends ApiError {}
/** 401 auth_*, 429 ip_limited: key, secret or clock. */
export class AuthenticationError extends ApiError {}
/** 403 terminal_suspended / merchant_suspended. */
export class ForbiddenError extends ApiError {}
/** 404 not_found / no_route. */
export class NotFoundError extends ApiError {}
/** 409 conflict: the number was used with other content. Never retried. */
export class ConflictError extends ApiError {}
/** 409 trade_state: e.g. cancel of a paid trade (refund it). */
export class TradeStateError extends ApiError {}
/** 429 rate_limited / auth_nonce_memory_full after the last attempt. */
export class RateLimitedError extends ApiError {}
/** 503 / 408 / 502 / 504 after the last attempt. */
export class UnavailableError extends ApiError {}

/** The error class of an answer. */
export function errorFromAnswer(status, code, message, field, attempts, retryAfterMs) {
  let Cls;
  if (status === 409) Cls = code === "trade_state" ? TradeStateError : ConflictError;
  else if (status === 429) Cls = code === "ip_limited" ? AuthenticationError : RateLimitedError;
  else {
    Cls = {
      400: InvalidRequestError,
      413: InvalidRequestError,
      401: AuthenticationError,
      403: ForbiddenError,
      404: NotFoundError,
      408: UnavailableError,
      502: UnavailableError,
      503: UnavailableError,
      504: UnavailableError,
    }[status] ?? ApiError;
  }
  return new Cls(status, code, message, field, attempts, retryAfterMs);
}

// ------------------------------------------------------------------ answers

function str(d, k, what) {
  if (typeof d[k] !== "string") throw new ProtocolError(`the ${what} answer has no string "${k}"`);
  return d[k];
}

function toTrade(d) {
  if (d === null || typeof d !== "object" || Array.isArray(d)) throw new ProtocolError("the trade answer is not a JSON object");
  for (const k of ["out_trade_no", "status", "total_amount", "refunded_amount"]) str(d, k, "trade");
  return d;
}

function toRefund(d) {
  if (d === null || typeof d !== "object" || Array.isArray(d)) throw new ProtocolError("the refund answer is not a JSON object");
  for (const k of ["out_trade_no", "out_request_no", "refund_amount", "status", "refunded_amount"]) str(d, k, "refund");
  return d;
}

/** SUCCESS, FAILED or CLOSED: the trade will not change any more. */
export const isFinal = (trade) => FINAL_TRADE_STATUSES.includes(trade.status);
/** SUCCESS or FAILED: the refund will not change any more. */
export const isRefundFinal = (refund) => FINAL_REFUND_STATUSES.includes(refund.status);

// ------------------------------------------------------------------ the client

function number(v, name) {
  if (typeof v !== "string" || !NUMBER.test(v)) {
    throw new InvalidRequestError(0, "invalid_field", `${name} must be 1 to 64 letters, digits or '_' (checked before sending; nothing was sent)`, name, 0);
  }
  return v;
}

function amount(v, name) {
  if (typeof v !== "string") throw new TypeError(`${name} must be a string ("88.88"), never a number`);
  return v;
}

function retryAfterMs(value, nowMs) {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "CERT_HAS_EXPIRED", "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN", "ERR_TLS_CERT_ALTNAME_INVALID", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
]);

async function readBounded(res) {
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const chunks = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new ProtocolError(`an answer larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));

/** A terminal of the switch. */
export class TerminalClient {
  #secret;

  /**
   * @param {string} baseUrl the terminal listener, http(s)://host:port (no path)
   * @param {string} keyId the terminal's key id
   * @param {string | Uint8Array | Secret} secret secret_hex (64 hex digits) or bytes
   * @param {import("./index.d.ts").ClientOptions} [options]
   */
  constructor(baseUrl, keyId, secret, options = {}) {
    const u = new URL(baseUrl);
    if (!["http:", "https:"].includes(u.protocol) || !u.hostname) throw new TypeError("baseUrl must be http(s)://host[:port]");
    if ((u.pathname !== "/" && u.pathname !== "") || u.search || u.hash || u.username || u.password) {
      throw new TypeError("baseUrl must be http(s)://host[:port] without a path: the signed path is /v1/...");
    }
    checkKeyId(keyId);
    const o = {
      maxAttempts: 4,
      backoffInitialMs: 250,
      backoffMaxMs: 8000,
      retryAfterMaxMs: 30000,
      timeoutMarginMs: 15000,
      clock: () => Date.now(),
      sleep: sleepMs,
      logger: undefined,
      ...options,
    };
    if (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1 || o.maxAttempts > 10) throw new TypeError("maxAttempts must be 1 to 10");
    this.baseUrl = u.origin;
    this.keyId = keyId;
    this.#secret = new Secret(secret);
    Object.defineProperty(this, "options", { value: Object.freeze(o), enumerable: false });
  }

  toString() {
    return `TerminalClient(${this.baseUrl}, key ${this.keyId})`;
  }

  toJSON() {
    return { baseUrl: this.baseUrl, keyId: this.keyId };
  }

  [inspect.custom]() {
    return this.toString();
  }

  /** POST /v1/pay?wait=S (wait 0 to 60, default 30). PAYING after the wait: poll with waitFinal. */
  async pay(req, { wait = 30 } = {}) {
    if (!Number.isInteger(wait) || wait < 0 || wait > 60) {
      throw new InvalidRequestError(0, "invalid_field", "wait must be a whole number from 0 to 60 (checked before sending; nothing was sent)", "wait", 0);
    }
    const doc = {
      out_trade_no: number(req.out_trade_no, "out_trade_no"),
      auth_code: req.auth_code,
      total_amount: amount(req.total_amount, "total_amount"),
      subject: req.subject,
    };
    for (const k of ["scene", "body", "operator_id", "timeout_express", "goods_detail"]) if (req[k] != null) doc[k] = req[k];
    return toTrade(await this.#call("POST", `/v1/pay?wait=${wait}`, doc, wait * 1000 + this.options.timeoutMarginMs));
  }

  /** POST /v1/precreate: a QR payment; the trade carries qr_code. */
  async precreate(req) {
    const doc = {
      out_trade_no: number(req.out_trade_no, "out_trade_no"),
      total_amount: amount(req.total_amount, "total_amount"),
      subject: req.subject,
    };
    for (const k of ["timeout_express", "body", "operator_id", "goods_detail", "notify_url"]) if (req[k] != null) doc[k] = req[k];
    return toTrade(await this.#call("POST", "/v1/precreate", doc, 60000 + this.options.timeoutMarginMs));
  }

  /** GET /v1/trades/{no}[?refresh=1]. */
  async query(outTradeNo, { refresh = false } = {}) {
    const pq = `/v1/trades/${number(outTradeNo, "out_trade_no")}${refresh ? "?refresh=1" : ""}`;
    return toTrade(await this.#call("GET", pq, undefined, 30000 + this.options.timeoutMarginMs));
  }

  /** POST /v1/trades/{no}/cancel; a paid trade throws TradeStateError (refund it). */
  async cancel(outTradeNo) {
    const pq = `/v1/trades/${number(outTradeNo, "out_trade_no")}/cancel`;
    return toTrade(await this.#call("POST", pq, undefined, 30000 + this.options.timeoutMarginMs));
  }

  /** POST /v1/trades/{no}/close; a paid trade throws TradeStateError. */
  async close(outTradeNo) {
    const pq = `/v1/trades/${number(outTradeNo, "out_trade_no")}/close`;
    return toTrade(await this.#call("POST", pq, undefined, 30000 + this.options.timeoutMarginMs));
  }

  /** POST /v1/trades/{no}/refunds. */
  async refund(outTradeNo, req) {
    const doc = {
      out_request_no: number(req.out_request_no, "out_request_no"),
      refund_amount: amount(req.refund_amount, "refund_amount"),
    };
    if (req.refund_reason != null) doc.refund_reason = req.refund_reason;
    const pq = `/v1/trades/${number(outTradeNo, "out_trade_no")}/refunds`;
    return toRefund(await this.#call("POST", pq, doc, 30000 + this.options.timeoutMarginMs));
  }

  /** GET /v1/trades/{no}/refunds/{out_request_no}. */
  async queryRefund(outTradeNo, outRequestNo) {
    const pq = `/v1/trades/${number(outTradeNo, "out_trade_no")}/refunds/${number(outRequestNo, "out_request_no")}`;
    return toRefund(await this.#call("GET", pq, undefined, 30000 + this.options.timeoutMarginMs));
  }

  /** GET /healthz (not signed). */
  async health() {
    try {
      const r = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(5000) });
      return r.status === 200 && (await r.text()).includes('"ok"');
    } catch {
      return false;
    }
  }

  /**
   * Queries every intervalMs until SUCCESS, FAILED or CLOSED, for at most
   * timeoutMs; returns the last trade seen (still not final when the time ran out).
   */
  async waitFinal(outTradeNo, { timeoutMs = 90000, intervalMs = 1000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const t = await this.query(outTradeNo);
      if (isFinal(t) || Date.now() + intervalMs > deadline) return t;
      await this.options.sleep(intervalMs);
    }
  }

  /** As waitFinal, for a refund (SUCCESS or FAILED). */
  async waitRefundFinal(outTradeNo, outRequestNo, { timeoutMs = 90000, intervalMs = 1000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.queryRefund(outTradeNo, outRequestNo);
      if (isRefundFinal(r) || Date.now() + intervalMs > deadline) return r;
      await this.options.sleep(intervalMs);
    }
  }

  #backoff(attempt) {
    const d = Math.min(this.options.backoffMaxMs, this.options.backoffInitialMs * 2 ** (attempt - 1));
    return d / 2 + Math.random() * (d / 2);
  }

  #warn(text) {
    const l = this.options.logger;
    if (l && typeof l.warn === "function") l.warn(`payswitch-client: ${text}`);
  }

  async #call(method, pq, doc, timeoutMs) {
    // Serialised once: every attempt sends these very bytes.
    const body = doc === undefined ? new Uint8Array() : Buffer.from(JSON.stringify(doc), "utf8");
    const path = pq.split("?")[0];
    const o = this.options;
    for (let attempt = 1; ; attempt++) {
      const ts = Math.floor(o.clock() / 1000);
      const headers = {
        authorization: authorization(this.keyId, this.#secret, method, pq, ts, newNonce(), body),
        "content-type": "application/json",
        accept: "application/json",
        "user-agent": `payswitch-client-node/${VERSION}`,
      };
      let res;
      let data;
      try {
        res = await fetch(this.baseUrl + pq, {
          method,
          headers,
          body: method === "GET" ? undefined : body,
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutMs),
        });
        data = await readBounded(res);
      } catch (e) {
        if (e instanceof ProtocolError) throw new ProtocolError(`${method} ${path}: ${e.message}`);
        const code = e?.cause?.code;
        if (code && TLS_CODES.has(code)) throw new TransportError(method, path, attempt, `TLS: ${code}`);
        const reason = e?.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : `${e?.name ?? "Error"}: ${code ?? e?.cause?.message ?? e?.message}`;
        if (attempt < o.maxAttempts) {
          const w = this.#backoff(attempt);
          this.#warn(`${method} ${path}: no answer (${reason}); the same request again in ${Math.round(w)} ms (attempt ${attempt + 1} of ${o.maxAttempts})`);
          await o.sleep(w);
          continue;
        }
        throw new TransportError(method, path, attempt, reason);
      }
      const text = Buffer.from(data).toString("utf8");
      if (res.status >= 200 && res.status < 300) {
        try {
          return JSON.parse(text);
        } catch {
          throw new ProtocolError(`${method} ${path}: HTTP ${res.status} with a body that is not JSON`);
        }
      }
      let code = `http_${res.status}`;
      let message = `HTTP ${res.status} without the error JSON`;
      let field;
      try {
        const e = JSON.parse(text).error;
        if (typeof e?.code === "string") code = e.code;
        if (typeof e?.message === "string") message = e.message;
        if (typeof e?.field === "string") field = e.field;
      } catch {
        // not the error JSON (a proxy's page): the status says enough
      }
      const err = errorFromAnswer(res.status, code, message, field, attempt, retryAfterMs(res.headers.get("retry-after"), o.clock()));
      const retryable = RETRYABLE_STATUSES.includes(res.status) || (res.status === 429 && RETRYABLE_429.has(code));
      if (retryable && attempt < o.maxAttempts) {
        let w = this.#backoff(attempt);
        if (err.retryAfterMs !== undefined) w = Math.max(w, Math.min(err.retryAfterMs, o.retryAfterMaxMs));
        this.#warn(`${method} ${path}: HTTP ${res.status} ${code}; the same request again in ${Math.round(w)} ms (attempt ${attempt + 1} of ${o.maxAttempts})`);
        await o.sleep(w);
        continue;
      }
      throw err;
    }
  }
}
