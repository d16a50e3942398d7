#!/usr/bin/env bash
# Makes the cluster's secrets once (deploy/cluster/secrets/, mode 0600): the
# PostgreSQL password (also written into the nodes' database URL file), the
# registry key and an admin token shared by both nodes.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p secrets
chmod 700 secrets
umask 077
[ -s secrets/pg-password ] || openssl rand -hex 24 > secrets/pg-password
[ -s secrets/registry.key ] || openssl rand -hex 32 > secrets/registry.key
if [ ! -s secrets/admin.token ]; then
  openssl rand -hex 24 > secrets/admin.token
  echo "admin token (for PAYSWITCH_ADMIN_TOKEN): $(cat secrets/admin.token)"
fi
# The nodes read the database URL from their config; put the password in.
for n in a b; do
  sed "s/PG_PASSWORD/$(cat secrets/pg-password)/" "node-$n.toml.in" > "node-$n.toml"
  chmod 600 "node-$n.toml"
done
echo "secrets in $(pwd)/secrets; node-a.toml and node-b.toml written"
