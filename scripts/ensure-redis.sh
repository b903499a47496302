#!/usr/bin/env bash
# Make sure a redis-server binary exists for the Redis-mode tests (root + apt only).
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's redis-server with apt-get..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq redis-server >&2
  exit 0
fi
echo "redis-server not found: install it (sudo apt-get install redis-server)" >&2
exit 1
