#!/usr/bin/env bash
# Regenerates the openssl-made vectors in this folder (needs openssl and python3).
# The keys here are TEST-ONLY: they are public and must never sign anything real.
set -euo pipefail
cd "$(dirname "$0")"
for m in ascii chinese long notify; do
  openssl dgst -sha256 -sign TEST-ONLY-private-pkcs8.pem "msg-$m.txt" | base64 -w0 > "msg-$m.sig.b64"
done
# Response bodies: the node text is signed byte for byte as it stands in the body.
for n in pay-braces query-chinese; do
  node=$(cat "resp-$n.node.json")
  sig=$(printf '%s' "$node" | openssl dgst -sha256 -sign TEST-ONLY-private-pkcs8.pem | base64 -w0)
  name=$(cat "resp-$n.name")
  printf '{"%s":%s,"sign":"%s"}' "$name" "$node" "$sig" > "resp-$n.body.json"
done
