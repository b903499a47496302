#!/usr/bin/env bash
# Print the path of a Chromium that Playwright can drive, installing Debian's
# package when running as root. Playwright's own browser download is not used.
set -euo pipefail
if [ -n "${CHROMIUM_PATH:-}" ]; then
  if [ -x "$CHROMIUM_PATH" ]; then echo "$CHROMIUM_PATH"; exit 0; fi
  echo "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file" >&2; exit 1
fi
for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium with apt-get..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium >&2
  echo /usr/bin/chromium; exit 0
fi
cat >&2 <<'MSG'
No Chromium found. Install Debian's package (sudo apt-get install chromium)
or point CHROMIUM_PATH at a Chromium/Chrome binary, then run make test again.
MSG
exit 1
