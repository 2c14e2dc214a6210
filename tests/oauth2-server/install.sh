#!/usr/bin/env bash
# Installs the OAuth2 test server's dependencies (oidc-provider, pinned in package-lock.json)
# into tests/oauth2-server/node_modules. Safe to run again: it does nothing when the installed
# tree already matches the lockfile.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "tests/oauth2-server/install.sh: node and npm are needed (Node.js 18 or later)," \
    "e.g. apt-get install nodejs npm" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "tests/oauth2-server/install.sh: Node.js $(node --version) is too old; 18 or later is needed" >&2
  exit 1
fi

# npm ci always wipes node_modules; skip it when this lockfile was already installed.
stamp=node_modules/.bridgeway-installed
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

# --prefer-offline: use npm's cache when it has the packages, the registry otherwise.
npm ci --omit=dev --prefer-offline --no-audit --no-fund
echo "$want" > "$stamp"
echo "tests/oauth2-server: installed $(node -p 'require("./node_modules/oidc-provider/package.json").version' 2>/dev/null || echo '?') oidc-provider"
