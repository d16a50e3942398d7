#!/usr/bin/env bash
# Makes an RSA-2048 app key pair with openssl, in the forms Alipay's key tool
# writes: PKCS#8 PEM (Java), PKCS#1 PEM (other languages), bare base64 of both,
# and the public key as SPKI PEM and bare base64 (what you paste into the
# Alipay console). `payswitch keygen` does the same without openssl.
set -euo pipefail
out=${1:-./keys}
umask 077
mkdir -p "$out"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/app-private-pkcs8.pem"
openssl rsa -in "$out/app-private-pkcs8.pem" -traditional -out "$out/app-private-pkcs1.pem" 2>/dev/null
openssl pkey -in "$out/app-private-pkcs8.pem" -pubout -out "$out/app-public.pem"
for f in app-private-pkcs8 app-private-pkcs1 app-public; do
  grep -v -- '-----' "$out/$f.pem" | tr -d '\n' > "$out/$f.txt"
done
chmod 600 "$out"/app-private-*
echo "wrote $out: give app-public.txt to Alipay; keep app-private-* readable by the payswitch user only"
