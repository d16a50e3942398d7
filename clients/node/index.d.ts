// Types of payswitch-client (index.js): every request and answer of the
// terminal API, docs/API.md section 1 and docs/openapi.yaml. Amounts are
// strings with at most two decimals on the way in ("88.88") and exactly two
// on the way out: never numbers.

export declare const VERSION: string;
/** Statuses after which the same request is sent again (besides 429 rate_limited / auth_nonce_memory_full). */
export declare const RETRYABLE_STATUSES: readonly number[];
export declare const MAX_ANSWER_BYTES: number;
export declare const FINAL_TRADE_STATUSES: readonly TradeStatus[];
export declare const FINAL_REFUND_STATUSES: readonly RefundStatus[];

/** Yuan as a string, 0.01 to 100000000.00, at most two decimals. */
export type Amount = string;

export type TradeStatus = "PAYING" | "WAIT_BUYER_PAY" | "SUCCESS" | "FAILED" | "CLOSED" | "UNKNOWN";
export type RefundStatus = "SUCCESS" | "FAILED" | "UNKNOWN";
export type CashierAction =
  | "wait"
  | "new_out_trade_no"
  | "rescan_code"
  | "other_payment_method"
  | "fix_request"
  | "contact_acquirer";

/** The body of POST /v1/pay. */
export interface PayRequest {
  /** 1 to 64 of [A-Za-z0-9_]; chosen once per sale, kept until the trade is final. */
  out_trade_no: string;
  /** The buyer's payment code: 16 to 24 digits starting with 25 to 30. */
  auth_code: string;
  total_amount: Amount;
  /** 1 to 256 printable characters. */
  subject: string;
  scene?: "bar_code" | "wave_code" | null;
  /** At most 128 characters. */
  body?: string | null;
  /** At most 28 of [A-Za-z0-9_-]. */
  operator_id?: string | null;
  /** 1m to 15d, or 1c. */
  timeout_express?: string | null;
  /** At most 100 objects, passed through to the gateway. */
  goods_detail?: Record<string, unknown>[] | null;
}

/** The body of POST /v1/precreate. */
export interface PrecreateRequest {
  out_trade_no: string;
  total_amount: Amount;
  subject: string;
  timeout_express?: string | null;
  body?: string | null;
  operator_id?: string | null;
  goods_detail?: Record<string, unknown>[] | null;
  /** Where the final trade is relayed: the merchant's registered relay URL or one under it. */
  notify_url?: string | null;
}

/** The body of POST /v1/trades/{out_trade_no}/refunds. */
export interface RefundRequest {
  /** 1 to 64 of [A-Za-z0-9_]; chosen once per refund. */
  out_request_no: string;
  refund_amount: Amount;
  /** At most 256 characters. */
  refund_reason?: string | null;
}

/** The trade (engine/src/contract.rs). */
export interface Trade {
  /** The terminal's own number. */
  out_trade_no: string;
  /** The number the gateway knows the trade by (merchants onboarded through the admin API). */
  gateway_out_trade_no?: string;
  status: TradeStatus;
  trade_no?: string;
  total_amount: string;
  receipt_amount?: string;
  buyer_logon_id?: string;
  /** Gateway time, yyyy-MM-dd HH:mm:ss. */
  gmt_payment?: string;
  refunded_amount: string;
  qr_code?: string;
  /** FAILED: the gateway's code, sub_code and sub_msg as it gave them. */
  code?: string;
  sub_code?: string;
  sub_msg?: string;
  /** Every status but SUCCESS. */
  cashier_action?: CashierAction;
}

/** The refund. */
export interface Refund {
  out_trade_no: string;
  out_request_no: string;
  refund_amount: string;
  status: RefundStatus;
  /** The trade's total refunded so far. */
  refunded_amount: string;
  code?: string;
  sub_code?: string;
  sub_msg?: string;
}

export interface Logger {
  warn(message: string): void;
}

export interface ClientOptions {
  /** Attempts per call, 1 to 10 (default 4). */
  maxAttempts?: number;
  /** First wait between attempts (default 250), doubled per attempt. */
  backoffInitialMs?: number;
  /** Longest wait between attempts (default 8000). */
  backoffMaxMs?: number;
  /** Longest Retry-After honoured (default 30000). */
  retryAfterMaxMs?: number;
  /** Added to the time the switch may hold the request (wait, 30 s, 60 s) to make an attempt's time-out (default 15000). */
  timeoutMarginMs?: number;
  /** Unix milliseconds (the signature's ts). */
  clock?: () => number;
  /** How the client waits between attempts. */
  sleep?: (ms: number) => Promise<void>;
  /** Where retries are reported (never a secret nor a body), e.g. console. */
  logger?: Logger;
}

export interface WaitOptions {
  /** Default 90000. */
  timeoutMs?: number;
  /** Default 1000. */
  intervalMs?: number;
}

/** A terminal's HMAC secret; never shown by toString, JSON or util.inspect. */
export declare class Secret {
  constructor(secret: string | Uint8Array | Secret);
  /** HMAC-SHA256 of `text` (a Buffer at run time). */
  mac(text: Uint8Array): Uint8Array;
  equals(other: unknown): boolean;
  toString(): string;
  toJSON(): string;
}

export declare function stringToSign(method: string, pathAndQuery: string, ts: number, nonce: string, body?: string | Uint8Array): string;
export declare function sign(secret: string | Uint8Array | Secret, method: string, pathAndQuery: string, ts: number, nonce: string, body?: string | Uint8Array): string;
export declare function authorization(keyId: string, secret: string | Uint8Array | Secret, method: string, pathAndQuery: string, ts: number, nonce: string, body?: string | Uint8Array): string;
export declare function newNonce(): string;
export declare function isFinal(trade: Trade): boolean;
export declare function isRefundFinal(refund: Refund): boolean;

export declare class PayswitchError extends Error {}

/** No answer after every attempt; for a pay, precreate, cancel, close or refund the outcome is unknown. */
export declare class TransportError extends PayswitchError {
  readonly method: string;
  readonly path: string;
  readonly attempts: number;
  readonly reason: string;
}

export declare class ProtocolError extends PayswitchError {}

export declare class ApiError extends PayswitchError {
  constructor(status: number, code: string, message: string, field?: string, attempts?: number, retryAfterMs?: number);
  /** The HTTP status; 0 when a local check refused the request (nothing was sent). */
  readonly status: number;
  /** The API's snake_case code. */
  readonly code: string;
  readonly serverMessage: string;
  /** The request field (or parameter) at fault, when one is. */
  readonly field?: string;
  readonly attempts: number;
  readonly retryAfterMs?: number;
}
export declare class InvalidRequestError extends ApiError {}
export declare class AuthenticationError extends ApiError {}
export declare class ForbiddenError extends ApiError {}
export declare class NotFoundError extends ApiError {}
export declare class ConflictError extends ApiError {}
export declare class TradeStateError extends ApiError {}
export declare class RateLimitedError extends ApiError {}
export declare class UnavailableError extends ApiError {}
export declare function errorFromAnswer(status: number, code: string, message: string, field: string | undefined, attempts: number, retryAfterMs: number | undefined): ApiError;

export declare class TerminalClient {
  /**
   * @param baseUrl the terminal listener, http(s)://host:port (no path)
   * @param keyId the terminal's key id
   * @param secret secret_hex (64 hex digits) or bytes
   */
  constructor(baseUrl: string, keyId: string, secret: string | Uint8Array | Secret, options?: ClientOptions);
  readonly baseUrl: string;
  readonly keyId: string;
  readonly options: Readonly<Required<Omit<ClientOptions, "logger">>> & { logger?: Logger };
  pay(req: PayRequest, opts?: { wait?: number }): Promise<Trade>;
  precreate(req: PrecreateRequest): Promise<Trade>;
  query(outTradeNo: string, opts?: { refresh?: boolean }): Promise<Trade>;
  cancel(outTradeNo: string): Promise<Trade>;
  close(outTradeNo: string): Promise<Trade>;
  refund(outTradeNo: string, req: RefundRequest): Promise<Refund>;
  queryRefund(outTradeNo: string, outRequestNo: string): Promise<Refund>;
  health(): Promise<boolean>;
  waitFinal(outTradeNo: string, opts?: WaitOptions): Promise<Trade>;
  waitRefundFinal(outTradeNo: string, outRequestNo: string, opts?: WaitOptions): Promise<Refund>;
  toString(): string;
  toJSON(): { baseUrl: string; keyId: string };
}
