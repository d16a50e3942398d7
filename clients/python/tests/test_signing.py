"""The signer against the shared test vectors (clients/testdata), which
engine/tests/clients.rs checks against the engine's own signer."""

import json
import os
import pickle
import unittest

from payswitch_client import Secret, TerminalClient, authorization, sign, string_to_sign

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.environ.get("PAYSWITCH_SIGNING_VECTORS") or os.path.join(HERE, "..", "..", "testdata", "signing-vectors.json")


class SigningVectors(unittest.TestCase):
    def test_vectors(self):
        with open(VECTORS, encoding="utf-8") as f:
            vectors = json.load(f)["vectors"]
        self.assertGreaterEqual(len(vectors), 4)
        for v in vectors:
            with self.subTest(v["name"]):
                body = v["body"].encode("utf-8")
                self.assertEqual(string_to_sign(v["method"], v["path_and_query"], v["ts"], v["nonce"], body),
                                 v["string_to_sign"])
                self.assertEqual(sign(v["secret_hex"], v["method"], v["path_and_query"], v["ts"], v["nonce"], body),
                                 v["sig"])
                self.assertEqual(sign(bytes.fromhex(v["secret_hex"]), v["method"], v["path_and_query"], v["ts"],
                                      v["nonce"], body), v["sig"])
                self.assertEqual(authorization(v["key_id"], Secret(v["secret_hex"]), v["method"],
                                               v["path_and_query"], v["ts"], v["nonce"], body), v["authorization"])

    def test_a_changed_byte_changes_the_signature(self):
        base = sign("5a" * 32, "POST", "/v1/pay?wait=30", 1700000000, "abcdefghijklmnop", b"{}")
        self.assertNotEqual(base, sign("5a" * 32, "POST", "/v1/pay?wait=31", 1700000000, "abcdefghijklmnop", b"{}"))
        self.assertNotEqual(base, sign("5a" * 32, "POST", "/v1/pay?wait=30", 1700000000, "abcdefghijklmnop", b"{ }"))
        self.assertNotEqual(base, sign("5b" * 32, "POST", "/v1/pay?wait=30", 1700000000, "abcdefghijklmnop", b"{}"))

    def test_bad_nonces_and_keys_are_refused(self):
        for nonce in ("short", "x" * 65, "abcdefghijklmnop-"):
            with self.assertRaises(ValueError):
                authorization("T1", "5a" * 32, "GET", "/", 1, nonce, b"")
        for key in ("", "a b", "a,b", "a=b"):
            with self.assertRaises(ValueError):
                authorization(key, "5a" * 32, "GET", "/", 1, "a" * 16, b"")


class SecretsStayHidden(unittest.TestCase):
    SECRET = "5a" * 32

    def test_repr_str_format_pickle(self):
        s = Secret(self.SECRET)
        for text in (repr(s), str(s), "%s" % s, "{}".format(s), f"{s!r}"):
            self.assertNotIn("5a5a", text)
            self.assertNotIn("ZZZZ", text)
        with self.assertRaises(TypeError):
            pickle.dumps(s)
        c = TerminalClient("http://127.0.0.1:1", "T1", self.SECRET)
        for text in (repr(c), str(c), repr(vars(c))):
            self.assertNotIn("5a5a", text)
            self.assertNotIn(repr(bytes.fromhex(self.SECRET))[2:10], text)
        with self.assertRaises(TypeError):
            pickle.dumps(c)

    def test_a_bad_secret_is_not_echoed(self):
        with self.assertRaises(ValueError) as e:
            Secret("not-hex-but-a-secret-word")
        self.assertNotIn("secret-word", str(e.exception))


if __name__ == "__main__":
    unittest.main()
