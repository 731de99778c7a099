#!/bin/sh
# WireBuddy installer for a bare Linux VPS (Debian/Ubuntu or the RHEL family, x86_64 or aarch64).
#
#   curl -fsSL https://RELEASE/install.sh | sh -s -- master [--public-url https://vpn.example.com:8443]
#   curl -fsSL https://RELEASE/install.sh | sh -s -- node --token TOKEN
#   sh install.sh uninstall [--purge]
#   sh install.sh verify [--release-url URL | --from-dir DIR]   (checks a release; changes nothing)
#
# Options:
#   --release-url URL   where the binaries, units and SHA256SUMS are (default: $WIREBUDDY_RELEASE_URL,
#                       else the latest GitHub release)
#   --from-dir DIR      take them from a local directory instead
#   --public-url URL    master: the URL operators and nodes use (default: https://<this host's address>:8443)
#   --token TOKEN       node: the enrollment token from the master's Nodes page (needed until it enrolls)
#   --no-local-node     master: do not run the master host's own data plane (the `local` node)
#   --dns               master: install Unbound for the fleet's DNS (README: DNS); the `local` node writes
#                       its configuration and reloads it, the master itself never touches it
#   --restore FILE      master: put this backup (wirebuddy-master backup) in place before starting; with
#                       --passphrase-file FILE holding its passphrase. On a new VPS: nodes re-attach once
#                       the master's DNS name points here (README: Backup and restore)
#   --purge             uninstall: also delete /etc/wirebuddy, the data directories and the node user
#
# Every release is checked before anything is installed: SHA256SUMS must carry a minisign signature by the
# WireBuddy release key below (MINISIGN_PUBLIC_KEY; WIREBUDDY_RELEASE_PUBKEY overrides it, e.g. for your own
# builds), and every file must match its line in SHA256SUMS. minisign is installed when missing.
#
# Running it again upgrades: binaries and units are replaced when they changed (and the services then
# restarted); /etc/wirebuddy/*.env, keys and data are kept. Every host change is printed as `[#] command`.
#
# Where the kernel has no WireGuard, nodes use wireguard-go, kept by its own unit
# (wirebuddy-wireguard-go.service) rather than by the node daemon, so that a crash or restart of the
# daemon never takes the clients' tunnels down.
set -eu

BIN_DIR=/usr/local/bin
UNIT_DIR=/etc/systemd/system
CONF_DIR=/etc/wirebuddy
SYSCTL_FILE=/etc/sysctl.d/90-wirebuddy-node.conf
MASTER_DATA=/var/lib/wirebuddy
NODE_DATA=/var/lib/wirebuddy-node
NODE_USER=wirebuddy-node
WIREGUARD_GO_DIR=/run/wireguard/.wirebuddy
DEFAULT_RELEASE_URL=https://github.com/wirebuddy/wirebuddy/releases/latest/download
# The release signing key (.github/workflows/release.yml signs SHA256SUMS with its secret half).
MINISIGN_PUBLIC_KEY=RWTxJworABoc+VjjzBs7sBm/cQZlHPrxS+u9TyPX7RxcEIUJEMECNwuU
release_pubkey=${WIREBUDDY_RELEASE_PUBKEY:-$MINISIGN_PUBLIC_KEY}
export DEBIAN_FRONTEND=noninteractive

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
run() { # prints the command the way it could be pasted, then runs it
  printf '[#] %s\n' "$*"
  "$@"
}
usage() {
  cat <<'EOF'
usage: install.sh master [--public-url URL] [--no-local-node] [--dns] [--release-url URL | --from-dir DIR]
                         [--restore FILE --passphrase-file FILE]
       install.sh node --token TOKEN [--release-url URL | --from-dir DIR]
       install.sh uninstall [--purge]
       install.sh verify [--release-url URL | --from-dir DIR]
Running it again upgrades and keeps /etc/wirebuddy and the data. See the comment at the top of install.sh.
EOF
}

# --- arguments ---------------------------------------------------------------------------------------
role=${1:-}
[ $# -gt 0 ] && shift
release_url=${WIREBUDDY_RELEASE_URL:-$DEFAULT_RELEASE_URL}
from_dir=
public_url=
token=
local_node=yes
dns=no
purge=no
restore_file=
passphrase_file=
while [ $# -gt 0 ]; do
  case $1 in
    --release-url) release_url=${2:?--release-url needs a URL}; shift 2 ;;
    --from-dir) from_dir=${2:?--from-dir needs a directory}; shift 2 ;;
    --public-url) public_url=${2:?--public-url needs a URL}; shift 2 ;;
    --token) token=${2:?--token needs a token}; shift 2 ;;
    --no-local-node) local_node=no; shift ;;
    --dns) dns=yes; shift ;;
    --restore) restore_file=${2:?--restore needs a backup file}; shift 2 ;;
    --passphrase-file) passphrase_file=${2:?--passphrase-file needs a file}; shift 2 ;;
    --purge) purge=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done
case $role in
  master | node | uninstall | verify) ;;
  -h | --help | help) usage; exit 0 ;;
  *) usage >&2; exit 64 ;;
esac
if [ "$role" != verify ]; then
  [ "$(id -u)" -eq 0 ] || die "run as root (e.g. curl -fsSL URL/install.sh | sudo sh -s -- $role)"
  command -v systemctl >/dev/null 2>&1 || die "systemd is required (systemctl not found)"
fi

# --- the host ----------------------------------------------------------------------------------------
detect_arch() {
  case $(uname -m) in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) die "unsupported architecture $(uname -m): WireBuddy ships x86_64 and aarch64 binaries" ;;
  esac
}

detect_distro() {
  distro=unknown
  # shellcheck source=/dev/null
  [ -r /etc/os-release ] && distro=$(. /etc/os-release && printf '%s' "${ID:-unknown}")
  if command -v apt-get >/dev/null 2>&1; then
    pkg=apt
  elif command -v dnf >/dev/null 2>&1; then
    pkg=dnf
  elif command -v yum >/dev/null 2>&1; then
    pkg=yum
  else
    pkg=none
  fi
}

apt_updated=no
install_packages() { # install_packages PKG... (only called with what is missing)
  case $pkg in
    apt)
      if [ "$apt_updated" = no ]; then
        run apt-get update -qq
        apt_updated=yes
      fi
      run apt-get install -y -qq --no-install-recommends "$@"
      ;;
    dnf | yum) run "$pkg" install -y -q "$@" ;;
    *) die "no apt, dnf or yum here: install $* yourself, then run this again" ;;
  esac
}

kernel_has_wireguard() {
  [ -d /sys/module/wireguard ] && return 0
  command -v modprobe >/dev/null 2>&1 && modprobe -q wireguard 2>/dev/null && return 0
  return 1
}

ensure_dataplane_tools() { # what wirebuddy-node runs: ip, wg, iptables, sysctl (and wireguard-go without kernel WG)
  missing=
  command -v ip >/dev/null 2>&1 || missing="$missing $([ "$pkg" = apt ] && echo iproute2 || echo iproute)"
  command -v wg >/dev/null 2>&1 || missing="$missing wireguard-tools"
  command -v iptables >/dev/null 2>&1 || missing="$missing iptables"
  # sysctl reads and sets the forwarding switches (minimal images ship without procps).
  command -v sysctl >/dev/null 2>&1 || missing="$missing $([ "$pkg" = apt ] && echo procps || echo procps-ng)"
  if ! kernel_has_wireguard && ! command -v wireguard-go >/dev/null 2>&1; then
    if [ "$pkg" = apt ]; then
      missing="$missing wireguard-go"
    else
      warn "the kernel has no WireGuard module and wireguard-go is not packaged for $distro by default;"
      warn "install wireguard-go (or a kernel with WireGuard) before adding interfaces on this node"
    fi
  fi
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  [ -z "$missing" ] || install_packages $missing
  # Optional: keepalived, only for failover pools whose address floats by VRRP (README: Failover pools).
  # The node runs it as its own child with its own config; Debian's keepalived.service stays idle.
  command -v keepalived >/dev/null 2>&1 ||
    say "note: for failover pools announced by VRRP, install keepalived on this node (apt-get install keepalived)"
}

# --- release files -----------------------------------------------------------------------------------
download() { # download NAME -> $work/NAME
  if [ -n "$from_dir" ]; then
    [ -f "$from_dir/$1" ] || die "$from_dir/$1 does not exist"
    cp "$from_dir/$1" "$work/$1"
  elif command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$work/$1" "$release_url/$1" || die "cannot download $release_url/$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$work/$1" "$release_url/$1" || die "cannot download $release_url/$1"
  else
    die "neither curl nor wget is installed"
  fi
}

verify_sums() { # SHA256SUMS, signed by the release key, or nothing is installed
  download SHA256SUMS
  download SHA256SUMS.minisig
  if ! command -v minisign >/dev/null 2>&1; then
    [ "$(id -u)" -ne 0 ] || install_packages minisign
    command -v minisign >/dev/null 2>&1 || die "minisign is needed to check the release's signature; install it"
  fi
  minisign -V -q -P "$release_pubkey" -m "$work/SHA256SUMS" -x "$work/SHA256SUMS.minisig" >/dev/null 2>&1 ||
    die "SHA256SUMS is not signed by the WireBuddy release key $release_pubkey: refusing this release"
  say "verified the minisign signature of SHA256SUMS (release key $release_pubkey)"
}

fetch_verified() { # fetch_verified NAME...: downloads each and checks it against the signed SHA256SUMS
  [ -f "$work/SHA256SUMS" ] || verify_sums
  for file in "$@"; do # (sh has no local variables: no name a caller uses)
    download "$file"
    want=$(awk -v n="$file" '$2 == n || $2 == "*" n { print $1 }' "$work/SHA256SUMS")
    [ -n "$want" ] || die "SHA256SUMS has no line for $file"
    got=$(sha256sum "$work/$file" | awk '{ print $1 }')
    [ "$got" = "$want" ] || die "checksum mismatch for $file: expected $want, got $got"
  done
  say "verified $* against SHA256SUMS"
}

changed_units=
place() { # place SRC DEST MODE: replaces DEST only when it differs; records what changed
  if [ -f "$2" ] && cmp -s "$1" "$2"; then return 0; fi
  run install -m "$3" -o root -g root "$1" "$2.wirebuddy-new"
  run mv -f "$2.wirebuddy-new" "$2"
  changed_units="$changed_units $(basename "$2")"
}

install_program() { # install_program master|node
  program=wirebuddy-$1
  fetch_verified "$program-linux-$arch" "$program.service"
  place "$work/$program-linux-$arch" "$BIN_DIR/$program" 0755
  place "$work/$program.service" "$UNIT_DIR/$program.service" 0644
}

# --- configuration -----------------------------------------------------------------------------------
host_address() { # the address the host uses to reach the internet, else its first address
  addr=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n 1)
  [ -n "$addr" ] || addr=$(hostname -I 2>/dev/null | awk '{ print $1 }')
  printf '%s' "$addr"
}

set_env() { # set_env FILE KEY VALUE: replaces or appends KEY=VALUE, keeping the rest of FILE
  tmp="$1.wirebuddy-new"
  (umask 077 && { grep -v "^$2=" "$1" 2>/dev/null || true; printf '%s=%s\n' "$2" "$3"; } >"$tmp")
  mv -f "$tmp" "$1"
}

write_master_env() {
  env_file=$CONF_DIR/master.env
  if [ -f "$env_file" ]; then
    say "keeping $env_file (its WIREBUDDY_SECRET_KEY opens the database)"
    [ -z "$public_url" ] || set_env "$env_file" WIREBUDDY_PUBLIC_URL "$public_url"
    return 0
  fi
  if [ -z "$public_url" ]; then
    addr=$(host_address)
    [ -n "$addr" ] || die "cannot find this host's address: pass --public-url https://HOST:8443"
    public_url="https://$addr:8443"
  fi
  secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
  say "[#] writing $env_file (0600): a new WIREBUDDY_SECRET_KEY, WIREBUDDY_PUBLIC_URL=$public_url"
  (
    umask 077
    cat >"$env_file.wirebuddy-new" <<EOF
# WireBuddy master (see README: Configuration). Keep WIREBUDDY_SECRET_KEY safe and backed up:
# the database's private keys cannot be read without it.
WIREBUDDY_SECRET_KEY=$secret
WIREBUDDY_PUBLIC_URL=$public_url
WIREBUDDY_LISTEN=0.0.0.0:8443
EOF
  )
  mv -f "$env_file.wirebuddy-new" "$env_file"
}

write_node_env() { # write_node_env TOKEN [MASTER_URL]
  env_file=$CONF_DIR/node.env
  if [ ! -f "$env_file" ]; then
    say "[#] writing $env_file (0600)"
    (umask 077 && printf '# WireBuddy node (see README: Configuration).\n' >"$env_file")
  fi
  [ -z "$1" ] || set_env "$env_file" WIREBUDDY_ENROLLMENT_TOKEN "$1"
  [ -z "${2:-}" ] || set_env "$env_file" WIREBUDDY_MASTER_URL "$2"
  chmod 0600 "$env_file"
}

DNS_DIR=/etc/unbound/wirebuddy
DNSTAP_DIR=/run/wirebuddy-dns
DNS_REPLY_LOG=/var/lib/unbound/wirebuddy-replies.log
setup_dns() { # Unbound for the fleet, configured only by the local node (README: DNS)
  command -v unbound-control >/dev/null 2>&1 || install_packages unbound unbound-anchor dns-root-data
  # The node writes wb-*.conf here (Unbound reads them as its own user, through the group).
  run install -d -m 0755 -o "$NODE_USER" -g unbound "$DNS_DIR"
  if ! [ -f /etc/unbound/unbound.conf.d/wirebuddy.conf ]; then
    say "[#] writing /etc/unbound/unbound.conf.d/wirebuddy.conf"
    printf '# WireBuddy: the local node writes %s/wb-*.conf (listen addresses, blocklists,
# records, the query log); keep localhost for this host itself.
server:
  interface: 127.0.0.1
  interface: ::1
include: "%s/wb-*.conf"
' \
      "$DNS_DIR" "$DNS_DIR" >/etc/unbound/unbound.conf.d/wirebuddy.conf
  fi
  # The query log's socket: the node listens, Unbound connects (group unbound).
  printf 'd %s 0750 %s unbound -\n' "$DNSTAP_DIR" "$NODE_USER" >/etc/tmpfiles.d/wirebuddy-dns.conf
  run systemd-tmpfiles --create /etc/tmpfiles.d/wirebuddy-dns.conf
  if [ -d /etc/apparmor.d/local ]; then
    printf '%s/** r,\n%s/** rw,\n%s* rw,\n' "$DNS_DIR" "$DNSTAP_DIR" "$DNS_REPLY_LOG" \
      >/etc/apparmor.d/local/usr.sbin.unbound
    ! command -v apparmor_parser >/dev/null 2>&1 || [ ! -f /etc/apparmor.d/usr.sbin.unbound ] ||
      run apparmor_parser -r /etc/apparmor.d/usr.sbin.unbound || warn "could not reload Unbound's AppArmor profile"
  fi
  # The node's unit reaches exactly these: the include directory, the socket's directory, and Unbound's
  # local control socket (/run/unbound.ctl, group unbound). Nothing else changes in its sandbox.
  run install -d -m 0755 "$UNIT_DIR/wirebuddy-node.service.d"
  printf '[Service]\nSupplementaryGroups=unbound\nReadWritePaths=%s %s\n' "$DNS_DIR" "$DNSTAP_DIR" \
    >"$UNIT_DIR/wirebuddy-node.service.d/dns.conf"
  set_env "$CONF_DIR/node.env" WIREBUDDY_DNS_DIR "$DNS_DIR"
  set_env "$CONF_DIR/node.env" WIREBUDDY_DNSTAP_SOCKET "$DNSTAP_DIR/dnstap.sock"
  set_env "$CONF_DIR/node.env" WIREBUDDY_UNBOUND_LOG "$DNS_REPLY_LOG"
  # The query log Unbound writes and the node reads by position: rotated by renaming, then reopened
  # (never copytruncate); the node finishes the renamed file before it reads the new one.
  printf '%s {\n  daily\n  rotate 7\n  missingok\n  notifempty\n  compress\n  delaycompress\n  postrotate\n    unbound-control log_reopen >/dev/null 2>&1 || true\n  endscript\n}\n' \
    "$DNS_REPLY_LOG" >/etc/logrotate.d/wirebuddy-dns
  # New listen addresses need a restart: the node asks Unbound to stop, systemd starts it again.
  run install -d -m 0755 "$UNIT_DIR/unbound.service.d"
  printf '[Service]\nRestart=always\nRestartSec=1\n' >"$UNIT_DIR/unbound.service.d/wirebuddy.conf"
  run systemctl daemon-reload
  run systemctl enable --now unbound
}

prepare_node_host() {
  if ! id "$NODE_USER" >/dev/null 2>&1; then
    nologin=/usr/sbin/nologin
    [ -x "$nologin" ] || nologin=/sbin/nologin
    run useradd --system --user-group --no-create-home --home-dir "$NODE_DATA" --shell "$nologin" "$NODE_USER"
  fi
  if ! [ -f "$SYSCTL_FILE" ]; then
    say "[#] writing $SYSCTL_FILE (forwarding for the clients' traffic)"
    printf '# WireBuddy node: clients reach the internet through this host.\nnet.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 1\n' >"$SYSCTL_FILE"
  fi
  run sysctl -q -p "$SYSCTL_FILE" || warn "could not apply $SYSCTL_FILE now; the unit applies it at start"
}

node_enrolled() { [ -f "$NODE_DATA/enrollment.json" ]; }

moved_wireguard_go=no
install_wireguard_go_unit() { # no kernel WireGuard: wireguard-go runs in its own unit, not the node's
  kernel_has_wireguard && return 0
  fetch_verified wirebuddy-wireguard-go.service
  place "$work/wirebuddy-wireguard-go.service" "$UNIT_DIR/wirebuddy-wireguard-go.service" 0644
  if ! grep -q '^WIREBUDDY_WIREGUARD_GO_DIR=' "$CONF_DIR/node.env" 2>/dev/null; then
    say "[#] setting WIREBUDDY_WIREGUARD_GO_DIR=$WIREGUARD_GO_DIR in $CONF_DIR/node.env"
    set_env "$CONF_DIR/node.env" WIREBUDDY_WIREGUARD_GO_DIR "$WIREGUARD_GO_DIR"
    changed_units="$changed_units wirebuddy-node.service"
    moved_wireguard_go=yes
  fi
}

start_node_units() { # the wireguard-go supervisor (where installed) first, then the node
  [ ! -f "$UNIT_DIR/wirebuddy-wireguard-go.service" ] || start_unit wirebuddy-wireguard-go
  if [ "$moved_wireguard_go" = yes ] && systemctl is-active --quiet wirebuddy-node; then
    # A wireguard-go the daemon started itself lives in the node's unit: end it once (its clients
    # reconnect within seconds); the supervisor starts it again when the node asks.
    say "moving wireguard-go from wirebuddy-node to wirebuddy-wireguard-go.service"
    run systemctl kill --kill-whom=all wirebuddy-node
    run systemctl stop wirebuddy-node
  fi
  start_unit wirebuddy-node
}

# --- services ----------------------------------------------------------------------------------------
start_unit() { # start_unit NAME: enable and start; restart when its binary or unit changed
  run systemctl enable --quiet "$1"
  if systemctl is-active --quiet "$1"; then
    case " $changed_units " in
      *" $1 "* | *" $1.service "*) run systemctl restart "$1" ;;
      *) say "$1 is active and unchanged" ;;
    esac
  else
    run systemctl start "$1"
  fi
}

wait_journal() { # wait_journal UNIT REGEX SECONDS: true when the unit's journal since its start matches
  i=0
  while [ "$i" -lt "$3" ]; do
    since=$(systemctl show -p ActiveEnterTimestamp --value "$1" 2>/dev/null)
    if [ -n "$since" ] && journalctl -q -u "$1" --since "$since" -o cat 2>/dev/null | grep -Eq "$2"; then
      return 0
    fi
    i=$((i + 1))
    sleep 1
  done
  return 1
}

local_node_token() { # an enrollment token for the master's own `local` node, from the master's CLI
  # The master's data belongs to its dynamic user: run the CLI as that same user (User=wirebuddy shares
  # the UID while wirebuddy-master.service runs), with the same environment and state directory.
  systemd-run --quiet --pipe --wait --collect --service-type=exec \
    --property=DynamicUser=yes --property=User=wirebuddy --property=Group=wirebuddy \
    --property=StateDirectory=wirebuddy --property=UMask=0077 \
    --property=EnvironmentFile="$CONF_DIR/master.env" --setenv=WIREBUDDY_DATA_DIR="$MASTER_DATA" \
    "$BIN_DIR/wirebuddy-master" node local-token </dev/null
}

restore_master() { # the backup in place of this master's data (stopped first); the local node enrolls again
  [ -r "$restore_file" ] || die "cannot read the backup $restore_file"
  if [ -z "$passphrase_file" ] || [ ! -r "$passphrase_file" ]; then
    die "--restore needs --passphrase-file FILE holding the backup's passphrase"
  fi
  for unit in wirebuddy-node wirebuddy-master; do
    if systemctl is-active --quiet "$unit"; then run systemctl stop "$unit"; fi
  done
  say "[#] wirebuddy-master restore - (as the master's user; the passphrase line, then $restore_file, on stdin)"
  { printf '%s\n' "$(head -n 1 "$passphrase_file")"; cat "$restore_file"; } |
    systemd-run --quiet --pipe --wait --collect --service-type=exec \
      --property=DynamicUser=yes --property=User=wirebuddy --property=Group=wirebuddy \
      --property=StateDirectory=wirebuddy --property=UMask=0077 \
      --property=EnvironmentFile="$CONF_DIR/master.env" --setenv=WIREBUDDY_DATA_DIR="$MASTER_DATA" \
      "$BIN_DIR/wirebuddy-master" restore - ||
    die "the restore failed (the line above says why); the master's data was not changed"
  # The local node trusted the master this backup replaces (its TLS pin and signing key): it enrolls again.
  if node_enrolled; then run mv "$NODE_DATA/enrollment.json" "$NODE_DATA/enrollment.json.before-restore"; fi
}

next_steps_master() {
  say ""
  say "WireBuddy master is running."
  say "  status:   systemctl status wirebuddy-master wirebuddy-node"
  say "  logs:     journalctl -u wirebuddy-master -f"
  link=$(journalctl -q -u wirebuddy-master -o cat 2>/dev/null | sed -n 's/.*setup link to create one: \([^ ]*\).*/\1/p' | tail -n 1)
  if [ -n "$link" ]; then
    say "  first admin: open this one-time setup link: $link"
  else
    say "  first admin: an admin exists already (or: printf %s PW | wirebuddy-master admin create --username NAME)"
  fi
  say "  back up:  $CONF_DIR/master.env (WIREBUDDY_SECRET_KEY) and /var/lib/private/wirebuddy"
}

next_steps_node() {
  say ""
  say "WireBuddy node is running."
  say "  status:   systemctl status wirebuddy-node"
  say "  logs:     journalctl -u wirebuddy-node -f"
}

install_master() {
  ensure_dataplane_tools
  run install -d -m 0700 -o root -g root "$CONF_DIR"
  install_program master
  write_master_env
  run systemctl daemon-reload
  [ -z "$restore_file" ] || restore_master
  start_unit wirebuddy-master
  wait_journal wirebuddy-master 'WireBuddy master listening' 60 ||
    die "the master did not start listening; see: journalctl -u wirebuddy-master"
  say "master listening (journalctl -u wirebuddy-master)"
  if [ "$local_node" = yes ]; then
    install_program node
    prepare_node_host
    if node_enrolled; then
      say "the local node is enrolled already"
    else
      say "[#] wirebuddy-master node local-token (as the master's user)"
      local_token=$(local_node_token) || die "cannot make an enrollment token for the local node"
      write_node_env "$local_token" https://127.0.0.1:8443
    fi
    install_wireguard_go_unit
    [ "$dns" = no ] || setup_dns
    run systemctl daemon-reload
    start_node_units
    wait_journal wirebuddy-node 'heartbeat sent' 60 ||
      warn "the local node has not reported yet; see: journalctl -u wirebuddy-node"
  fi
  next_steps_master
}

install_node() {
  if ! node_enrolled && [ -z "$token" ] && ! grep -q '^WIREBUDDY_ENROLLMENT_TOKEN=' "$CONF_DIR/node.env" 2>/dev/null; then
    die "--token TOKEN is required (make one on the master's Nodes page)"
  fi
  ensure_dataplane_tools
  run install -d -m 0700 -o root -g root "$CONF_DIR"
  install_program node
  prepare_node_host
  write_node_env "$token"
  install_wireguard_go_unit
  run systemctl daemon-reload
  start_node_units
  if wait_journal wirebuddy-node 'enrollment successful|heartbeat sent' 60; then
    say "node enrolled and reporting (journalctl -u wirebuddy-node)"
  else
    warn "the node has not reported to the master yet; see: journalctl -u wirebuddy-node"
  fi
  next_steps_node
}

uninstall() {
  for unit in wirebuddy-node wirebuddy-wireguard-go wirebuddy-master; do
    if [ -f "$UNIT_DIR/$unit.service" ]; then
      # --kill-whom=all also ends a wireguard-go the node started (KillMode=process keeps it otherwise);
      # stopping wirebuddy-wireguard-go ends the ones it keeps.
      systemctl is-active --quiet "$unit" && run systemctl kill --kill-whom=all "$unit"
      run systemctl disable --now --quiet "$unit" || true
      run rm -f "$UNIT_DIR/$unit.service"
    fi
    [ ! -e "$BIN_DIR/$unit" ] || run rm -f "$BIN_DIR/$unit"
  done
  run systemctl daemon-reload
  if [ "$purge" = yes ]; then
    run rm -rf "$CONF_DIR" "$MASTER_DATA" /var/lib/private/wirebuddy "$NODE_DATA" "$SYSCTL_FILE"
    if id "$NODE_USER" >/dev/null 2>&1; then run userdel "$NODE_USER"; fi
    say "WireBuddy removed, with its configuration and data."
  else
    say "WireBuddy removed. Kept: $CONF_DIR (secret key, tokens), $MASTER_DATA, $NODE_DATA, $SYSCTL_FILE."
    say "Run again with --purge to delete them too."
  fi
}

# --- main --------------------------------------------------------------------------------------------
if [ "$role" = uninstall ]; then
  uninstall
  exit 0
fi
if [ "$role" = verify ]; then # this arch's binaries and every unit, checked; nothing installed
  detect_arch
  detect_distro
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT INT TERM
  verify_sums
  # shellcheck disable=SC2046 # one word per file name
  fetch_verified wirebuddy-master-linux-"$arch" wirebuddy-node-linux-"$arch" $(awk '$2 ~ /\.service$/ { print $2 }' "$work/SHA256SUMS")
  say "release verified"
  exit 0
fi
detect_arch
detect_distro
say "WireBuddy $role install on $distro ($arch, packages via $pkg)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
if [ "$role" = master ]; then install_master; else install_node; fi
