# shellcheck shell=bash
# Reads scripts/lib/permissions.txt, the one source of truth for the permissions each program runs
# with (scripts/run, the tests through test/support/programs.ts, and the build), and its V8 flags: the
# node's young generation is capped at 1 MB (--max-semi-space-size=1: 13 MB less RSS at idle, measured
# side by side by scripts/bench-apply).
permissions_of() { # permissions_of master|node -> prints the flags
  sed -n "s/^$1 //p" "$(dirname "${BASH_SOURCE[0]}")/permissions.txt"
}
