"""The PSW1-HMAC-SHA256 signature of the terminal API (docs/ENGINE.md,
"Authentication: a worked example"), byte for byte what
``engine::api::auth::{string_to_sign, sign}`` compute::

    Authorization: PSW1-HMAC-SHA256 key=<id>, ts=<unix s>, nonce=<16-64 [A-Za-z0-9]>, sig=<b64>
    STRING = METHOD "\\n" PATH_AND_QUERY "\\n" ts "\\n" nonce "\\n" hex(sha256(body))
    sig    = base64(HMAC-SHA256(secret, STRING))

``PATH_AND_QUERY`` is exactly what goes on the request line and the body
hash is over the exact bytes sent (the empty string's for a GET). A nonce is
used once per key within the switch's window (300 s by default), so every
attempt of a request (a retry too) gets a fresh ``ts`` and nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

__all__ = [
    "Secret",
    "string_to_sign",
    "sign",
    "authorization",
    "new_nonce",
]

_NONCE = re.compile(r"[A-Za-z0-9]{16,64}\Z")


class Secret:
    """A terminal's HMAC secret. Its bytes never appear in ``repr``, ``str``,
    ``format``, pickles or comparisons' messages."""

    __slots__ = ("_key",)

    def __init__(self, secret: "bytes | bytearray | str | Secret") -> None:
        if isinstance(secret, Secret):
            key = secret._key
        elif isinstance(secret, str):
            try:
                key = bytes.fromhex(secret.strip())
            except ValueError:
                # Never echo the text: it is (almost) the secret.
                raise ValueError("the secret must be hex digits (the secret_hex the admin API printed)") from None
        elif isinstance(secret, (bytes, bytearray)):
            key = bytes(secret)
        else:
            raise TypeError("the secret must be bytes or a hex string")
        if not key:
            raise ValueError("the secret must not be empty")
        self._key = key

    def mac(self, text: bytes) -> bytes:
        """HMAC-SHA256 of ``text`` under this secret."""
        return hmac.new(self._key, text, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self):
        raise TypeError("a terminal secret is not picklable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return id(self)


def string_to_sign(method: str, path_and_query: str, ts: int, nonce: str, body: bytes) -> str:
    """The text that is signed."""
    return "%s\n%s\n%d\n%s\n%s" % (method, path_and_query, ts, nonce, hashlib.sha256(body).hexdigest())


def sign(secret: "Secret | bytes | str", method: str, path_and_query: str, ts: int, nonce: str, body: bytes) -> str:
    """The ``sig`` value: base64 of the HMAC-SHA256 of :func:`string_to_sign`."""
    s = secret if isinstance(secret, Secret) else Secret(secret)
    text = string_to_sign(method, path_and_query, ts, nonce, body).encode("utf-8")
    return base64.b64encode(s.mac(text)).decode("ascii")


def new_nonce() -> str:
    """32 random hex digits (letters and digits, as the switch requires)."""
    return secrets.token_hex(16)


def authorization(
    key_id: str,
    secret: "Secret | bytes | str",
    method: str,
    path_and_query: str,
    ts: int,
    nonce: str,
    body: bytes,
) -> str:
    """The whole ``Authorization`` header value."""
    if not _NONCE.match(nonce):
        raise ValueError("the nonce must be 16 to 64 letters or digits")
    if not key_id or any(c in key_id for c in ", =\r\n"):
        raise ValueError("the key id must be non-empty, without spaces, commas or '='")
    sig = sign(secret, method, path_and_query, ts, nonce, body)
    return "PSW1-HMAC-SHA256 key=%s, ts=%d, nonce=%s, sig=%s" % (key_id, ts, nonce, sig)
