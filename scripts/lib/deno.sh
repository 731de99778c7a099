# shellcheck shell=bash
# Finds a Deno of the pinned minor version, or installs the pinned version from npm into .tools/deno
# (git-ignored). Sourced by scripts/dev, scripts/test and .ci/run; sets DENO to the executable.
WIREBUDDY_DENO_VERSION=2.9.6
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

find_deno() {
  local candidate
  for candidate in "$(command -v deno 2>/dev/null)" "$repo_root/.tools/deno/node_modules/.bin/deno"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    case "$("$candidate" --version 2>/dev/null | head -n 1)" in
      "deno 2.9."*) DENO=$candidate; return 0 ;;
    esac
  done
  return 1
}

if ! find_deno; then
  command -v npm >/dev/null || { echo "npm is required to install Deno $WIREBUDDY_DENO_VERSION" >&2; exit 1; }
  echo "Installing Deno $WIREBUDDY_DENO_VERSION from npm into .tools/deno ..." >&2
  mkdir -p "$repo_root/.tools/deno"
  npm install --silent --no-audit --no-fund --prefix "$repo_root/.tools/deno" "deno@$WIREBUDDY_DENO_VERSION" >&2
  find_deno || { echo "Deno $WIREBUDDY_DENO_VERSION could not be installed" >&2; exit 1; }
fi
export DENO DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
