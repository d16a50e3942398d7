"""Schemathesis hooks for payswitch (engine/tests/api_property.rs runs them).

Every generated request is authenticated as a real client would be: the
terminal listener's /v1 requests are signed with the PSW1-HMAC-SHA256 scheme
(docs/openapi.yaml, securitySchemes.psw1) over the exact bytes requests sends,
the admin listener's /admin/v1 requests carry the bearer token. So a 401 is
never the expected answer: the check `signed_requests_authenticate` fails the
run on one (an unsigned run would otherwise pass by answering 401 to all).

URLs the switch would call back (precreate's notify_url, a merchant's
relay_url) are pointed at PAYSWITCH_RELAY_URL (a closed loopback port) so that
generated values never make the switch reach out to another host.

Environment: PAYSWITCH_KEY_ID, PAYSWITCH_SECRET_HEX (a terminal of the switch),
PAYSWITCH_ADMIN_TOKEN, PAYSWITCH_RELAY_URL.
"""

import base64
import hashlib
import hmac
import os
import secrets
import time

import requests
import schemathesis

KEY_ID = os.environ["PAYSWITCH_KEY_ID"]
SECRET = bytes.fromhex(os.environ["PAYSWITCH_SECRET_HEX"])
ADMIN_TOKEN = os.environ["PAYSWITCH_ADMIN_TOKEN"]
RELAY_URL = os.environ.get("PAYSWITCH_RELAY_URL", "http://127.0.0.1:9/relay")


def psw1_header(method, path_and_query, body, key_id=KEY_ID, secret=SECRET):
    """The Authorization value of docs/ENGINE.md, "Authentication: a worked example"."""
    ts = str(int(time.time()))
    nonce = secrets.token_hex(12)
    string = "\n".join(
        [method, path_and_query, ts, nonce, hashlib.sha256(body).hexdigest()]
    )
    sig = base64.b64encode(
        hmac.new(secret, string.encode(), hashlib.sha256).digest()
    ).decode()
    return f"PSW1-HMAC-SHA256 key={key_id}, ts={ts}, nonce={nonce}, sig={sig}"


class Psw1(requests.auth.AuthBase):
    """Signs the prepared request: its final method, request line and body."""

    def __call__(self, r):
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        r.headers["Authorization"] = psw1_header(r.method, r.path_url, body)
        return r


class Bearer(requests.auth.AuthBase):
    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        return r


@schemathesis.hook
def before_call(context, case, kwargs):
    if isinstance(case.body, dict):
        for k in ("notify_url", "relay_url"):
            if isinstance(case.body.get(k), str):
                case.body[k] = RELAY_URL
    if case.path.startswith("/v1/"):
        kwargs["auth"] = Psw1()
    elif case.path.startswith("/admin/v1/"):
        kwargs["auth"] = Bearer()


@schemathesis.check
def signed_requests_authenticate(ctx, response, case):
    """A request this file signed (or gave the token) is never refused 401."""
    path = case.path
    if response.status_code == 401 and (
        path.startswith("/v1/") or path.startswith("/admin/v1/")
    ):
        raise AssertionError(
            f"a correctly authenticated request was refused 401: {response.text[:300]}"
        )
