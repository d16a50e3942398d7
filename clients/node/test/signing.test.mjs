// The signer against the shared test vectors (clients/testdata), which
// engine/tests/clients.rs checks against the engine's own signer.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { inspect } from "node:util";
import { Secret, TerminalClient, authorization, newNonce, sign, stringToSign } from "payswitch-client";

const file = process.env.PAYSWITCH_SIGNING_VECTORS ?? new URL("../../testdata/signing-vectors.json", import.meta.url);
const { vectors } = JSON.parse(readFileSync(file, "utf8"));

test("the shared vectors", () => {
  assert.ok(vectors.length >= 4);
  for (const v of vectors) {
    const body = Buffer.from(v.body, "utf8");
    assert.equal(stringToSign(v.method, v.path_and_query, v.ts, v.nonce, body), v.string_to_sign, v.name);
    assert.equal(sign(v.secret_hex, v.method, v.path_and_query, v.ts, v.nonce, body), v.sig, v.name);
    assert.equal(sign(Buffer.from(v.secret_hex, "hex"), v.method, v.path_and_query, v.ts, v.nonce, v.body), v.sig, `${v.name} (string body)`);
    assert.equal(authorization(v.key_id, new Secret(v.secret_hex), v.method, v.path_and_query, v.ts, v.nonce, body), v.authorization, v.name);
  }
});

test("bad nonces and key ids are refused; nonces are fresh", () => {
  for (const nonce of ["short", "x".repeat(65), "abcdefghijklmnop-"]) {
    assert.throws(() => authorization("T1", "00", "GET", "/", 1, nonce, ""), TypeError);
  }
  for (const key of ["", "a b", "a,b", "a=b"]) {
    assert.throws(() => authorization(key, "00", "GET", "/", 1, "a".repeat(16), ""), TypeError);
  }
  assert.match(newNonce(), /^[0-9a-f]{32}$/);
  assert.notEqual(newNonce(), newNonce());
});

test("the secret is never shown", () => {
  const hex = "5a".repeat(32);
  const s = new Secret(hex);
  const c = new TerminalClient("http://127.0.0.1:1", "T1", hex);
  for (const text of [String(s), JSON.stringify(s), inspect(s), String(c), JSON.stringify(c), inspect(c), inspect(c, { showHidden: true, depth: 9 }), JSON.stringify(Object.entries(c))]) {
    assert.ok(!text.includes("5a5a") && !text.includes("WlpaWl"), text);
  }
  assert.throws(() => new Secret("not-hex-but-a-secret-word"), (e) => !e.message.includes("secret-word"));
});
