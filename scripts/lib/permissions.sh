# shellcheck shell=bash
# Reads scripts/lib/permissions.txt, the one source of truth for the permissions each program runs
# with (scripts/run, the tests through test/support/programs.ts, and the build).
permissions_of() { # permissions_of master|node -> prints the flags
  sed -n "s/^$1 //p" "$(dirname "${BASH_SOURCE[0]}")/permissions.txt"
}
