#!/usr/bin/env bash
# Local test services for MassTransit.Patterns: real RabbitMQ nodes and a
# PostgreSQL cluster, run as plain processes (no systemd, no docker), bound to
# 127.0.0.1 only, with all their data under one state folder.
#
# Usage:
#   build/services.sh start [--rabbit-nodes N] [--cluster N]
#                                               start (or verify) the services, print env
#   build/services.sh stop                      stop everything, remove the state folder
#   build/services.sh status                    say what is up (exit 0 = all up, 1 = not)
#   build/services.sh env                       print the export lines again
#   build/services.sh rabbit-kill I             kill -9 RabbitMQ node I (simulated crash)
#   build/services.sh rabbit-start I            start node I again (same data), wait until ready
#   build/services.sh cluster-kill I            kill -9 node I (1..N) of the cluster
#   build/services.sh cluster-start I           start cluster node I again; it rejoins the cluster
#   build/services.sh pg-kill                   pg_ctl stop -m immediate
#   build/services.sh pg-start                  start PostgreSQL again (same port and data)
#
# Progress goes to stderr; the export lines go to stdout, so
#   eval "$(build/services.sh start --rabbit-nodes 3)"
# works. `start` also writes them to "$PATTERNS_SERVICES_DIR/env.sh".
#
# RabbitMQ node i (1..N): name mtp<i>@localhost, AMQP port 5671+i, management
# port 15671+i, Erlang distribution port 25671+i, user guest/guest.
# With --cluster N (alongside the independent nodes), N more nodes joined into
# one RabbitMQ cluster (quorum queues replicate across them): cluster node k is
# node 10+k, name mtp1<k>@localhost, AMQP port 5681+k, management 15681+k,
# distribution 25681+k.
# PostgreSQL 15: first free port of 55432..55499, user postgres, database patterns.
#
# Environment: PATTERNS_SERVICES_DIR (state folder, default /tmp/mtp-services).
# Must run as root (it installs packages and runs the services as the
# rabbitmq/postgres users).
set -euo pipefail

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
STATE="${PATTERNS_SERVICES_DIR:-/tmp/mtp-services}"
STATE="${STATE%/}"
MARKER="$STATE/.mtp-services"
PGBIN=/usr/lib/postgresql/15/bin
RMQ_LIB_BIN=/usr/lib/rabbitmq/bin
RMQ_HOME_DIR=/var/lib/rabbitmq
RMQ_COOKIE="$RMQ_HOME_DIR/.erlang.cookie"
RABBIT_START_TIMEOUT=120
PG_PORT_MIN=55432
PG_PORT_MAX=55499
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# runuser, ss, epmd, pg tools: make sure the sbin folders are on PATH.
export PATH="$PATH:$SYS_PATH"

# Keep every Erlang listener (epmd, distribution) on loopback, also for the
# epmd that rabbitmqctl or a node may start.
export ERL_EPMD_ADDRESS=127.0.0.1

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '6,18p' "$SCRIPT_PATH" | sed 's/^# \{0,1\}//' >&2
}

# ---------------------------------------------------------------- helpers ---

amqp_port() { echo $((5671 + $1)); }
mgmt_port() { echo $((15671 + $1)); }
dist_port() { echo $((25671 + $1)); }
node_name() { echo "mtp$1@localhost"; }
node_dir() { echo "$STATE/rabbit$1"; }

# Is anything listening on TCP port $1 (any address)?
port_in_use() {
  [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# Who listens on port $1 (for error messages).
port_owner() {
  ss -Hltnp "sport = :$1" 2>/dev/null | head -n 3 || true
}

pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null
}

# Does process $1 have $2 in its command line or environment? (A RabbitMQ
# 3.10 beam gets its node name and folders through the environment only.)
pid_cmdline_has() {
  local pid=$1 needle=$2 f
  for f in cmdline environ; do
    [ -r "/proc/$pid/$f" ] || continue
    # (grep without -q reads all its input: no SIGPIPE for tr under pipefail)
    if { tr '\0' '\n' <"/proc/$pid/$f"; } 2>/dev/null | grep -F -- "$needle" >/dev/null; then
      return 0
    fi
  done
  return 1
}

# Pids of processes of the rabbitmq/postgres users that belong to our state
# folder (command line or environment names it).
our_procs() {
  local pid
  for pid in $(pgrep -u rabbitmq,postgres 2>/dev/null || true); do
    if pid_cmdline_has "$pid" "$STATE/"; then echo "$pid"; fi
  done
}

rand_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

require_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (it runs the services as the rabbitmq/postgres users)"
}

# The state folder must be ours (marker file) before we write into / delete it.
check_state_dir_safe() {
  case "$STATE" in
    ''|/|/tmp|/root|/home|/var|/usr|/etc) die "refusing to use '$STATE' as the state folder (set PATTERNS_SERVICES_DIR)";;
  esac
  case "$STATE" in
    /*) ;;
    *) die "PATTERNS_SERVICES_DIR must be an absolute path (got '$STATE')";;
  esac
  if [ -e "$STATE" ] && [ ! -e "$MARKER" ]; then
    if [ -n "$(ls -A "$STATE" 2>/dev/null)" ]; then
      die "'$STATE' exists, is not empty and was not made by this script; remove it or set PATTERNS_SERVICES_DIR"
    fi
  fi
}

ensure_state_dir() {
  check_state_dir_safe
  mkdir -p "$STATE"
  chmod 755 "$STATE"
  touch "$MARKER"
  # The rabbitmq and postgres users must be able to reach the folder.
  if ! runuser -u rabbitmq -- test -x "$STATE" 2>/dev/null || ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
    die "the rabbitmq/postgres users cannot enter '$STATE' (a parent folder is not world-searchable); use a folder under /tmp"
  fi
}

# Serialise start/stop/kill/start commands (not status/env). The lock is taken
# on this script file, so it never needs cleaning up; every long-lived child
# is started with the descriptor closed (close_fds, 9<&-) so it does not keep
# the lock.
take_lock() {
  exec 9<"$SCRIPT_PATH"
  if ! flock -w 300 9; then
    die "another services.sh command is still running (waited 300 s for the lock)"
  fi
}

# ---------------------------------------------------------------- install ---

install_packages() {
  local pkgs=()
  if [ ! -x "$RMQ_LIB_BIN/rabbitmq-server" ] || [ ! -x "$RMQ_LIB_BIN/rabbitmqctl" ] \
      || [[ "$(dpkg-query -W -f='${Status}' rabbitmq-server 2>/dev/null || true)" != *"install ok installed"* ]]; then
    pkgs+=(rabbitmq-server)
  fi
  if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
    pkgs+=(postgresql-15)
  fi
  # Tools this script uses (normally present).
  command -v curl >/dev/null 2>&1 || pkgs+=(curl ca-certificates)
  command -v ss >/dev/null 2>&1 || pkgs+=(iproute2)
  command -v psql >/dev/null 2>&1 || pkgs+=(postgresql-client-15)
  [ ${#pkgs[@]} -eq 0 ] && return 0

  log "installing ${pkgs[*]} with apt-get (about a minute)"
  # Keep the packages' postinst from starting system-wide services: a
  # policy-rc.d that denies every start, only if there is none already.
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  local rc=0 aptlog
  aptlog="$(mktemp /tmp/mtp-services-apt.XXXXXX.log)"
  {
    apt-get update &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"
  } >"$aptlog" 2>&1 || rc=$?
  if [ "$made_policy" = 1 ]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
  if [ "$rc" != 0 ]; then
    tail -n 30 "$aptlog" >&2 || true
    die "apt-get install ${pkgs[*]} failed (exit $rc); full log: $aptlog"
  fi
  rm -f "$aptlog"
  # In case a service got started anyway: no system-wide node or epmd of the
  # rabbitmq user (none of ours can be running yet: the package was missing),
  # and no system-wide PostgreSQL cluster started by the package.
  if [[ " ${pkgs[*]} " == *" rabbitmq-server "* ]]; then
    kill_user_procs rabbitmq
  fi
  if [[ " ${pkgs[*]} " == *" postgresql-15 "* ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
  fi
  log "installed ${pkgs[*]}"
}

# Processes of user $1 that are not one of our nodes (ours carry
# RABBITMQ_NODENAME=mtp<i>@localhost in their environment, also the epmd a
# node started): what a package's postinst may have started system-wide.
foreign_user_procs() {
  local pid
  for pid in $(pgrep -u "$1" 2>/dev/null || true); do
    pid_cmdline_has "$pid" "RABBITMQ_NODENAME=mtp" || echo "$pid"
  done
}

kill_user_procs() {
  local user=$1 pids
  pids="$(foreign_user_procs "$user")"
  [ -z "$pids" ] && return 0
  log "stopping processes of user $user left by the package install: $(echo $pids)"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  sleep 2
  pids="$(foreign_user_procs "$user")"
  # shellcheck disable=SC2086
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
}

# --------------------------------------------------------------- rabbitmq ---

ensure_cookie() {
  if [ ! -s "$RMQ_COOKIE" ]; then
    log "creating Erlang cookie $RMQ_COOKIE"
    mkdir -p "$RMQ_HOME_DIR"
    (umask 077; rand_hex 10 | tr 'a-f' 'A-F' >"$RMQ_COOKIE")
  fi
  chown rabbitmq:rabbitmq "$RMQ_COOKIE"
  chmod 400 "$RMQ_COOKIE"
}

# The environment of node $1, for the server and for rabbitmqctl alike.
node_env() {
  local i=$1 d
  d="$(node_dir "$i")"
  NODE_ENV=(
    PATH="$SYS_PATH"
    LANG=C.UTF-8
    LC_ALL=C.UTF-8
    HOME="$RMQ_HOME_DIR"
    ERL_EPMD_ADDRESS=127.0.0.1
    RABBITMQ_NODENAME="$(node_name "$i")"
    RABBITMQ_USE_LONGNAME=false
    RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf"
    RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config"
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins"
    RABBITMQ_MNESIA_BASE="$d/mnesia"
    RABBITMQ_LOG_BASE="$d/log"
    RABBITMQ_PID_FILE="$d/rabbit.pid"
    RABBITMQ_DIST_PORT="$(dist_port "$i")"
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  )
}

# rabbitmqctl against node $2, killed after $1 seconds (run as the rabbitmq
# user, so it uses that user's cookie, like the node).
rmqctl() {
  local secs=$1 i=$2
  shift 2
  node_env "$i"
  (cd "$RMQ_HOME_DIR" && timeout "$secs" runuser -u rabbitmq -- env -i "${NODE_ENV[@]}" \
      "$RMQ_LIB_BIN/rabbitmqctl" -n "$(node_name "$i")" "$@" 9<&-)
}

# Close every inherited descriptor above 2 (lock, pipes of whoever called us),
# so long-lived services hold none of them. Use in a subshell before exec.
close_fds() {
  local fd n
  for fd in /proc/$BASHPID/fd/*; do
    n=${fd##*/}
    [[ "$n" =~ ^[0-9]+$ ]] || continue
    [ "$n" -gt 2 ] || continue
    eval "exec $n>&-" 2>/dev/null || true
  done
}

write_node_config() {
  local i=$1 d
  d="$(node_dir "$i")"
  mkdir -p "$d/mnesia" "$d/log"
  cat >"$d/rabbitmq.conf" <<EOF
# Generated by build/services.sh: test node $(node_name "$i"), loopback only.
listeners.tcp.default = 127.0.0.1:$(amqp_port "$i")
listeners.ssl = none
management.tcp.ip = 127.0.0.1
management.tcp.port = $(mgmt_port "$i")
# guest/guest works from loopback (the default loopback_users is kept).
disk_free_limit.absolute = 50MB
vm_memory_high_watermark.relative = 0.6
# Queue statistics (the management API's ready/unacked counts) refresh every second, not every five.
collect_statistics_interval = 1000
log.console = false
log.file.level = info
EOF
  echo '[rabbitmq_management].' >"$d/enabled_plugins"
  echo '# Generated by build/services.sh: keeps /etc/rabbitmq/rabbitmq-env.conf out.' >"$d/rabbitmq-env.conf"
  chown -R rabbitmq:rabbitmq "$d"
  chmod 750 "$d"
}

# OS pid of node $1's beam process if it runs (from the pid file), else nothing.
node_pid() {
  local i=$1 d pid
  d="$(node_dir "$i")"
  [ -s "$d/rabbit.pid" ] || return 0
  pid="$(tr -dc '0-9' <"$d/rabbit.pid" 2>/dev/null || true)"
  if pid_alive "$pid" && pid_cmdline_has "$pid" "$d/mnesia"; then
    echo "$pid"
  fi
}

# The wrapper (runuser/sh) process that launched node $1, if alive.
launcher_pid() {
  local i=$1 d pid
  d="$(node_dir "$i")"
  [ -s "$d/launcher.pid" ] || return 0
  pid="$(tr -dc '0-9' <"$d/launcher.pid" 2>/dev/null || true)"
  if pid_alive "$pid" && pid_cmdline_has "$pid" "$d/"; then echo "$pid"; fi
}

node_mgmt_ok() {
  curl -sf -m 5 -u guest:guest "http://127.0.0.1:$(mgmt_port "$1")/api/overview" >/dev/null 2>&1
}

node_amqp_ok() {
  (exec 3<>"/dev/tcp/127.0.0.1/$(amqp_port "$1")") 2>/dev/null
}

node_tail_log() {
  local i=$1 d f
  d="$(node_dir "$i")"
  for f in "$d/console.log" "$d/log/$(node_name "$i").log"; do
    if [ -s "$f" ]; then
      printf -- '----- last lines of %s -----\n' "$f" >&2
      tail -n 40 "$f" >&2 || true
    fi
  done
}

# Launch node $1 in the background (does not wait).
launch_node() {
  local i=$1 d p
  d="$(node_dir "$i")"
  for p in "$(amqp_port "$i")" "$(mgmt_port "$i")" "$(dist_port "$i")"; do
    if port_in_use "$p"; then
      port_owner "$p" >&2
      die "port $p (needed by RabbitMQ node $i) is already in use by another process"
    fi
  done
  [ -f "$d/rabbitmq.conf" ] || write_node_config "$i"
  rm -f "$d/rabbit.pid"
  node_env "$i"
  log "starting RabbitMQ node $(node_name "$i") (amqp 127.0.0.1:$(amqp_port "$i"), mgmt $(mgmt_port "$i"), dist $(dist_port "$i"))"
  (
    cd "$d"
    close_fds
    exec setsid nohup runuser -u rabbitmq -- env -i "${NODE_ENV[@]}" \
      "$RMQ_LIB_BIN/rabbitmq-server" </dev/null >>"$d/console.log" 2>&1
  ) &
  echo $! >"$d/launcher.pid"
}

# Wait until node $1 is fully up: process alive, rabbitmqctl await_startup,
# management API answering. (The node itself records its OS pid in rabbit.pid.)
wait_node() {
  local i=$1 d deadline pid
  d="$(node_dir "$i")"
  deadline=$((SECONDS + RABBIT_START_TIMEOUT))
  # Cheap wait first: pid file written and node registered with epmd.
  while :; do
    pid="$(node_pid "$i")"
    if [ -n "$pid" ] && [[ "$(epmd -names 2>/dev/null || true)" == *"name mtp$i at port"* ]]; then
      break
    fi
    # The launcher forked moments ago: until it has exec'ed runuser its command line is this script's, so ask only
    # whether it is alive (launcher_pid also matches the command line, and would call a slow exec "exited" under load).
    if ! pid_alive "$(tr -dc '0-9' <"$d/launcher.pid" 2>/dev/null || true)" && [ -z "$pid" ]; then
      node_tail_log "$i"
      die "RabbitMQ node $(node_name "$i") exited during start (logs in $d)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      node_tail_log "$i"
      die "RabbitMQ node $(node_name "$i") did not come up within ${RABBIT_START_TIMEOUT}s (logs in $d)"
    fi
    sleep 0.3
  done
  local left=$((deadline - SECONDS))
  [ $left -lt 10 ] && left=10
  if ! rmqctl $((left + 10)) "$i" -q await_startup --timeout "$left" >"$d/await.log" 2>&1; then
    cat "$d/await.log" >&2 || true
    node_tail_log "$i"
    die "RabbitMQ node $(node_name "$i") did not finish booting (rabbitmqctl await_startup failed; logs in $d)"
  fi
  while ! node_mgmt_ok "$i"; do
    if [ -z "$(node_pid "$i")" ]; then
      node_tail_log "$i"
      die "RabbitMQ node $(node_name "$i") died while waiting for its management API"
    fi
    if [ $SECONDS -ge $deadline ]; then
      node_tail_log "$i"
      die "management API of node $(node_name "$i") (http://127.0.0.1:$(mgmt_port "$i")) did not answer within ${RABBIT_START_TIMEOUT}s"
    fi
    sleep 0.3
  done
  node_amqp_ok "$i" || die "node $(node_name "$i") is up but its AMQP port $(amqp_port "$i") is not open"
  pid="$(node_pid "$i")"
  log "RabbitMQ node $(node_name "$i") is ready (pid $pid)"
}

rabbit_node_count() {
  local n=0
  [ -s "$STATE/rabbit-nodes" ] && n="$(tr -dc '0-9' <"$STATE/rabbit-nodes")"
  echo "${n:-0}"
}

CLUSTER_BASE=10

cluster_node_count() {
  local n=0
  [ -s "$STATE/cluster-nodes" ] && n="$(tr -dc '0-9' <"$STATE/cluster-nodes")"
  echo "${n:-0}"
}

# The node index of cluster node $1 (1..N).
cluster_node() { echo $((CLUSTER_BASE + $1)); }

# The running members of the cluster as node $1 sees them, one per line.
cluster_running() {
  rmqctl 30 "$1" -q cluster_status --formatter json 2>/dev/null |
    tr -d '\n' | sed -n 's/.*"running_nodes":\[\([^]]*\)\].*/\1/p' | tr ',' '\n' | tr -d '" '
}

# Joins cluster node k (2..N) to the first one unless it is a member already.
cluster_join() {
  local k=$1 i first
  i="$(cluster_node "$k")"
  first="$(node_name "$(cluster_node 1)")"
  if cluster_running "$i" | grep -qx "$first"; then
    return 0
  fi
  log "joining $(node_name "$i") to the cluster of $first"
  rmqctl 60 "$i" -q stop_app >/dev/null || die "rabbitmqctl stop_app on $(node_name "$i") failed"
  rmqctl 120 "$i" -q join_cluster "$first" >"$(node_dir "$i")/join.log" 2>&1 || {
    cat "$(node_dir "$i")/join.log" >&2 || true
    die "$(node_name "$i") could not join the cluster of $first"
  }
  rmqctl 120 "$i" -q start_app >/dev/null || die "rabbitmqctl start_app on $(node_name "$i") failed"
}

# Waits until node $1 (an index) sees $2 running members.
wait_cluster() {
  local i=$1 want=$2 deadline have
  deadline=$((SECONDS + RABBIT_START_TIMEOUT))
  while :; do
    have="$(cluster_running "$i" | grep -c . || true)"
    [ "$have" -ge "$want" ] && break
    if [ $SECONDS -ge $deadline ]; then
      rmqctl 30 "$i" cluster_status >&2 || true
      die "the cluster seen from $(node_name "$i") has $have running nodes, expected $want, after ${RABBIT_START_TIMEOUT}s"
    fi
    sleep 0.5
  done
}

# Stop node $1: rabbitmqctl stop, then kill -9 whatever is left.
stop_node() {
  local i=$1 d pid lpid
  d="$(node_dir "$i")"
  pid="$(node_pid "$i")"
  lpid="$(launcher_pid "$i")"
  if [ -n "$pid" ]; then
    log "stopping RabbitMQ node $(node_name "$i") (pid $pid)"
    rmqctl 60 "$i" -q stop >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do
      pid_alive "$pid" || break
      sleep 0.2
    done
    if pid_alive "$pid"; then
      log "node $(node_name "$i") did not stop in time, kill -9 $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  if [ -n "$lpid" ] && pid_alive "$lpid"; then
    sleep 0.3
    pid_alive "$lpid" && kill -KILL "$lpid" 2>/dev/null || true
  fi
  rm -f "$d/rabbit.pid"
}

# -------------------------------------------------------------- postgres ---

PG_DIR() { echo "$STATE/pg"; }
PG_DATA() { echo "$STATE/pg/data"; }

pg_port() { [ -s "$STATE/pg/port" ] && cat "$STATE/pg/port" || true; }
pg_password() { [ -s "$STATE/pg-password" ] && cat "$STATE/pg-password" || true; }

as_postgres() {
  (cd "$(PG_DIR)" 2>/dev/null || cd /; runuser -u postgres -- env -i PATH="$SYS_PATH" LANG=C.UTF-8 LC_ALL=C.UTF-8 "$@" 9<&-)
}

# Our postmaster runs (pid from postmaster.pid, alive and not a zombie, with
# our data folder on its command line).
pg_running() {
  [ -f "$(PG_DATA)/PG_VERSION" ] || return 1
  [ -n "$(pg_postmaster_pid)" ]
}

pg_postmaster_pid() {
  local f
  f="$(PG_DATA)/postmaster.pid"
  [ -s "$f" ] || return 0
  local pid
  pid="$(head -n 1 "$f" | tr -dc '0-9')"
  if pid_alive "$pid" && pid_cmdline_has "$pid" "$(PG_DATA)"; then echo "$pid"; fi
}

pg_tail_log() {
  local f
  f="$(PG_DIR)/postgres.log"
  if [ -s "$f" ]; then
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 30 "$f" >&2 || true
  fi
}

pg_free_port() {
  local p
  for p in $(seq $PG_PORT_MIN $PG_PORT_MAX); do
    if ! port_in_use "$p"; then echo "$p"; return 0; fi
  done
  return 1
}

pg_init() {
  local pgdir data port pw pwfile
  pgdir="$(PG_DIR)"
  data="$(PG_DATA)"
  port="$(pg_free_port)" || die "no free port in $PG_PORT_MIN..$PG_PORT_MAX for PostgreSQL"
  pw="$(rand_hex 16)"
  (umask 077; printf '%s\n' "$pw" >"$STATE/pg-password")
  rm -rf "$pgdir"
  mkdir -p "$pgdir"
  echo "$port" >"$pgdir/port"
  pwfile="$pgdir/initdb.pw"
  (umask 077; printf '%s\n' "$pw" >"$pwfile")
  chown -R postgres:postgres "$pgdir"
  chmod 700 "$pgdir"
  log "initdb PostgreSQL 15 cluster in $data"
  if ! as_postgres "$PGBIN/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
      --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --no-locale --no-sync \
      >"$pgdir/initdb.log" 2>&1; then
    rm -f "$pwfile"
    tail -n 30 "$pgdir/initdb.log" >&2 || true
    die "initdb failed (log: $pgdir/initdb.log)"
  fi
  rm -f "$pwfile"
  cat >>"$data/postgresql.conf" <<EOF

# ---- build/services.sh ----
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
max_connections = 200
password_encryption = 'scram-sha-256'
EOF
  # Only loopback TCP with a password, plus local socket for the postgres OS user.
  cat >"$data/pg_hba.conf" <<EOF
# Generated by build/services.sh
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
EOF
  chown postgres:postgres "$data/postgresql.conf" "$data/pg_hba.conf"
}

pg_start() {
  local port
  port="$(pg_port)"
  [ -n "$port" ] || die "no PostgreSQL port recorded in $(PG_DIR)/port"
  if port_in_use "$port"; then
    port_owner "$port" >&2
    die "PostgreSQL port $port is taken by another process"
  fi
  log "starting PostgreSQL on 127.0.0.1:$port"
  if ! (close_fds; as_postgres "$PGBIN/pg_ctl" -D "$(PG_DATA)" -l "$(PG_DIR)/postgres.log" -w -t 60 start </dev/null >/dev/null 2>&1); then
    pg_tail_log
    die "PostgreSQL did not start (log: $(PG_DIR)/postgres.log)"
  fi
}

pg_psql() {
  PGPASSWORD="$(pg_password)" PGCONNECT_TIMEOUT=5 psql -X -h 127.0.0.1 -p "$(pg_port)" -U postgres "$@"
}

pg_ensure_db() {
  local exists
  exists="$(pg_psql -d postgres -Atqc "select 1 from pg_database where datname='patterns'")" \
    || die "cannot connect to PostgreSQL on 127.0.0.1:$(pg_port) with the stored password"
  if [ "$exists" != 1 ]; then
    log "creating database patterns"
    pg_psql -d postgres -qc 'create database patterns' >/dev/null
  fi
  [ "$(pg_psql -d patterns -Atqc 'select 1')" = 1 ] || die "database patterns does not answer"
}

pg_stop() { # mode: fast | immediate
  local mode=$1 pid children
  pid="$(pg_postmaster_pid)"
  [ -n "$pid" ] || return 0
  children="$(pgrep -P "$pid" 2>/dev/null || true)"
  log "stopping PostgreSQL (pid $pid, -m $mode)"
  as_postgres "$PGBIN/pg_ctl" -D "$(PG_DATA)" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
  if pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  local c
  for _ in $(seq 1 25); do
    local any=0
    for c in $children; do pid_alive "$c" && any=1; done
    [ $any = 0 ] && break
    sleep 0.2
  done
  # shellcheck disable=SC2086
  for c in $children; do pid_alive "$c" && kill -KILL "$c" 2>/dev/null || true; done
}

# -------------------------------------------------------------------- env ---

env_lines() {
  local n amqp="" mgmt="" i
  n="$(rabbit_node_count)"
  for i in $(seq 1 "$n"); do
    amqp="${amqp:+$amqp,}$(amqp_port "$i")"
    mgmt="${mgmt:+$mgmt,}$(mgmt_port "$i")"
  done
  local camqp="" cmgmt="" k
  for k in $(seq 1 "$(cluster_node_count)"); do
    camqp="${camqp:+$camqp,}$(amqp_port "$(cluster_node "$k")")"
    cmgmt="${cmgmt:+$cmgmt,}$(mgmt_port "$(cluster_node "$k")")"
  done
  cat <<EOF
export PATTERNS_RABBIT_NODES=$n
export PATTERNS_RABBIT_HOST=127.0.0.1
export PATTERNS_RABBIT_AMQP_PORTS=$amqp
export PATTERNS_RABBIT_MGMT_PORTS=$mgmt
export PATTERNS_RABBIT_CLUSTER_NODES=$(cluster_node_count)
export PATTERNS_RABBIT_CLUSTER_AMQP_PORTS=$camqp
export PATTERNS_RABBIT_CLUSTER_MGMT_PORTS=$cmgmt
export PATTERNS_RABBIT_USER=guest
export PATTERNS_RABBIT_PASSWORD=guest
export PATTERNS_POSTGRES_CONNECTION='Host=127.0.0.1;Port=$(pg_port);Username=postgres;Password=$(pg_password);Database=patterns'
export PATTERNS_SERVICES_SCRIPT=$SCRIPT_PATH
export PATTERNS_SERVICES_DIR=$STATE
EOF
}

write_env_file() {
  (umask 077; env_lines >"$STATE/env.sh.tmp")
  mv -f "$STATE/env.sh.tmp" "$STATE/env.sh"
}

# --------------------------------------------------------------- commands ---

cmd_start() {
  local want="" cwant=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --rabbit-nodes) [ $# -ge 2 ] || die "--rabbit-nodes needs a number"; want=$2; shift 2;;
      --rabbit-nodes=*) want=${1#*=}; shift;;
      --cluster) [ $# -ge 2 ] || die "--cluster needs a number of nodes"; cwant=$2; shift 2;;
      --cluster=*) cwant=${1#*=}; shift;;
      -h|--help) usage; exit 0;;
      *) usage; die "unknown option for start: $1";;
    esac
  done
  if [ -n "$want" ]; then
    [[ "$want" =~ ^[0-9]+$ ]] && [ "$want" -ge 1 ] && [ "$want" -le 9 ] || die "--rabbit-nodes must be 1..9 (got '$want')"
  fi
  if [ -n "$cwant" ]; then
    [[ "$cwant" =~ ^[0-9]+$ ]] && [ "$cwant" -ge 2 ] && [ "$cwant" -le 5 ] || die "--cluster must be 2..5 nodes (got '$cwant')"
  fi
  require_root
  check_state_dir_safe
  take_lock
  local t0=$SECONDS
  install_packages
  ensure_state_dir
  ensure_cookie

  local have n i
  have="$(rabbit_node_count)"
  n="${want:-$have}"
  [ "$n" -ge 1 ] 2>/dev/null || n=1
  if [ "$n" -lt "$have" ]; then
    log "note: $have RabbitMQ nodes are configured; keeping them all (run 'stop' first to get fewer)"
    n=$have
  fi
  echo "$n" >"$STATE/rabbit-nodes"

  local chave cn
  chave="$(cluster_node_count)"
  cn="${cwant:-$chave}"
  if [ "$chave" -gt 0 ] && [ "$cn" != "$chave" ]; then
    die "a cluster of $chave nodes is configured; run 'stop' first to get one of $cn"
  fi
  echo "$cn" >"$STATE/cluster-nodes"
  local all=()
  for i in $(seq 1 "$n"); do all+=("$i"); done
  for i in $(seq 1 "$cn"); do all+=("$(cluster_node "$i")"); done

  # RabbitMQ nodes: launch the missing ones in parallel, then wait for all.
  local started=()
  for i in "${all[@]}"; do
    if [ -n "$(node_pid "$i")" ]; then
      continue
    fi
    # A launcher from an earlier, failed start may still be booting.
    if [ -n "$(launcher_pid "$i")" ]; then
      started+=("$i")
      continue
    fi
    launch_node "$i"
    started+=("$i")
  done

  # PostgreSQL meanwhile.
  if pg_running; then
    :
  else
    if [ ! -f "$(PG_DATA)/PG_VERSION" ] || [ ! -s "$STATE/pg-password" ] || [ -z "$(pg_port)" ]; then
      pg_init
    fi
    pg_start
  fi
  pg_ensure_db
  log "PostgreSQL is ready on 127.0.0.1:$(pg_port), database patterns"

  for i in "${all[@]}"; do
    if [[ " ${started[*]-} " == *" $i "* ]]; then
      wait_node "$i"
    else
      if ! node_mgmt_ok "$i" || ! node_amqp_ok "$i"; then
        wait_node "$i"
      else
        log "RabbitMQ node $(node_name "$i") already running (pid $(node_pid "$i"))"
      fi
    fi
  done

  if [ "$cn" -gt 0 ]; then
    for i in $(seq 2 "$cn"); do cluster_join "$i"; done
    wait_cluster "$(cluster_node 1)" "$cn"
    log "RabbitMQ cluster of $cn nodes is ready: $(cluster_running "$(cluster_node 1)" | tr '\n' ' ')"
  fi

  write_env_file
  log "all services up in $((SECONDS - t0))s; env written to $STATE/env.sh"
  env_lines
}

cmd_stop() {
  require_root
  check_state_dir_safe
  take_lock
  local seen=""
  if [ ! -d "$STATE" ]; then
    log "nothing to stop ($STATE does not exist)"
  else
    local i d pm pids=()
    # Every process we are about to end, to wait for them at the end.
    pm="$(pg_postmaster_pid)"
    seen="$(our_procs) $pm $( [ -n "$pm" ] && pgrep -P "$pm" 2>/dev/null || true)"
    # Any node folder counts, also one beyond the recorded count.
    for d in "$STATE"/rabbit[0-9]*; do
      [ -d "$d" ] || continue
      i="${d##*/rabbit}"
      [[ "$i" =~ ^[0-9]+$ ]] || continue
      stop_node "$i" &
      pids+=($!)
    done
    pg_stop fast
    local p
    for p in "${pids[@]}"; do wait "$p" || true; done
    stop_epmd
    # Leftovers: processes whose command line or environment names our state folder.
    local left
    left="$(our_procs)"
    if [ -n "$left" ]; then
      log "killing leftover processes: $(echo $left)"
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null || true
    fi
  fi
  seen="$seen $(pgrep -u rabbitmq -x epmd 2>/dev/null || true)"
  stop_epmd
  # Wait (briefly) until they are all gone, zombies included.
  local p any
  for _ in $(seq 1 50); do
    any=0
    for p in $seen; do pid_alive "$p" && any=1; done
    [ $any = 0 ] && break
    sleep 0.1
  done
  if [ -d "$STATE" ]; then
    rm -rf "$STATE"
    log "removed $STATE"
  fi
  log "stopped"
}

# epmd is started by the first node (as the rabbitmq user). Stop it once no
# node is registered any more; leave an epmd of other users alone.
stop_epmd() {
  local epids
  epids="$(pgrep -u rabbitmq -x epmd 2>/dev/null || true)"
  [ -n "$epids" ] || return 0
  if [[ "$(epmd -names 2>/dev/null || true)" == *"name "* ]]; then
    log "epmd still has registered nodes, leaving it running:"
    epmd -names >&2 || true
    return 0
  fi
  epmd -kill >/dev/null 2>&1 || true
  sleep 0.2
  epids="$(pgrep -u rabbitmq -x epmd 2>/dev/null || true)"
  # shellcheck disable=SC2086
  [ -n "$epids" ] && kill -KILL $epids 2>/dev/null || true
}

cmd_status() {
  local n i pid all=0 line
  if [ ! -e "$MARKER" ]; then
    echo "services: not started ($STATE does not exist)"
    return 1
  fi
  n="$(rabbit_node_count)"
  local nodes=() k
  for i in $(seq 1 "$n"); do nodes+=("$i"); done
  for k in $(seq 1 "$(cluster_node_count)"); do nodes+=("$(cluster_node "$k")"); done
  for i in "${nodes[@]}"; do
    pid="$(node_pid "$i")"
    line="rabbitmq node $i $(node_name "$i") amqp 127.0.0.1:$(amqp_port "$i") mgmt $(mgmt_port "$i"):"
    if [ -n "$pid" ] && node_amqp_ok "$i" && node_mgmt_ok "$i"; then
      echo "$line up (pid $pid)"
    elif [ -n "$pid" ]; then
      echo "$line starting or unhealthy (pid $pid)"; all=1
    else
      echo "$line down"; all=1
    fi
  done
  local port
  port="$(pg_port)"
  pid="$(pg_postmaster_pid)"
  if [ -n "$pid" ] && [ -n "$port" ] && [ "$(pg_psql -d patterns -Atqc 'select 1' 2>/dev/null)" = 1 ]; then
    echo "postgresql 127.0.0.1:$port: up (pid $pid)"
  elif [ -n "$pid" ]; then
    echo "postgresql 127.0.0.1:${port:-?}: starting or unhealthy (pid $pid)"; all=1
  else
    echo "postgresql 127.0.0.1:${port:-?}: down"; all=1
  fi
  return $all
}

cmd_env() {
  if [ -s "$STATE/env.sh" ]; then
    cat "$STATE/env.sh"
  else
    die "services not started ($STATE/env.sh missing); run: $SCRIPT_PATH start"
  fi
}

node_index_arg() {
  local i=${1:-}
  [[ "$i" =~ ^[0-9]+$ ]] || die "expected a node number, got '${i}'"
  local n
  n="$(rabbit_node_count)"
  [ "$i" -ge 1 ] && [ "$i" -le "$n" ] || die "node $i is not one of the $n configured nodes (start --rabbit-nodes N first)"
  echo "$i"
}

cmd_rabbit_kill() {
  require_root
  [ -e "$MARKER" ] || die "services not started"
  local i
  i="$(node_index_arg "${1:-}")"
  kill_node "$i"
}

# kill -9 node $1 (an index) and wait until it is gone.
kill_node() {
  local i=$1 pid
  take_lock
  pid="$(node_pid "$i")"
  if [ -z "$pid" ]; then
    log "node $(node_name "$i") is not running"
    return 0
  fi
  log "kill -9 RabbitMQ node $(node_name "$i") (beam pid $pid)"
  kill -KILL "$pid"
  for _ in $(seq 1 50); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  pid_alive "$pid" && die "beam pid $pid is still alive after kill -9"
  # Wait for the launcher shell to notice, and the port to close.
  for _ in $(seq 1 50); do
    [ -z "$(launcher_pid "$i")" ] && ! port_in_use "$(amqp_port "$i")" && break
    sleep 0.1
  done
  log "node $(node_name "$i") killed"
}

cmd_rabbit_start() {
  require_root
  [ -e "$MARKER" ] || die "services not started"
  local i
  i="$(node_index_arg "${1:-}")"
  restart_node "$i"
}

# Start node $1 (an index) again with its data and wait until it is ready.
restart_node() {
  local i=$1
  take_lock
  ensure_cookie
  if [ -n "$(node_pid "$i")" ]; then
    log "node $(node_name "$i") already running"
  else
    local lp
    lp="$(launcher_pid "$i")"
    if [ -n "$lp" ]; then kill -KILL "$lp" 2>/dev/null || true; fi
    launch_node "$i"
  fi
  wait_node "$i"
}

cluster_index_arg() {
  local k=${1:-} n
  [[ "$k" =~ ^[0-9]+$ ]] || die "expected a cluster node number, got '${k}'"
  n="$(cluster_node_count)"
  [ "$k" -ge 1 ] && [ "$k" -le "$n" ] || die "node $k is not one of the $n cluster nodes (start --cluster N first)"
  cluster_node "$k"
}

cmd_cluster_kill() {
  require_root
  [ -e "$MARKER" ] || die "services not started"
  local i
  i="$(cluster_index_arg "${1:-}")"
  kill_node "$i"
}

cmd_cluster_start() {
  require_root
  [ -e "$MARKER" ] || die "services not started"
  local i
  i="$(cluster_index_arg "${1:-}")"
  restart_node "$i"
  # A clustered node rejoins by itself on boot; wait until it runs as a member again.
  wait_cluster "$i" "$(cluster_node_count)"
  log "$(node_name "$i") is a running member of the cluster again"
}

cmd_pg_kill() {
  require_root
  [ -e "$MARKER" ] || die "services not started"
  take_lock
  if [ -z "$(pg_postmaster_pid)" ]; then
    log "PostgreSQL is not running"
    return 0
  fi
  pg_stop immediate
  log "PostgreSQL stopped (immediate)"
}

cmd_pg_start() {
  require_root
  [ -e "$MARKER" ] || die "services not started"
  [ -f "$(PG_DATA)/PG_VERSION" ] || die "no PostgreSQL data in $(PG_DATA); run start"
  take_lock
  if pg_running; then
    log "PostgreSQL already running"
  else
    pg_start
  fi
  pg_ensure_db
  log "PostgreSQL is ready on 127.0.0.1:$(pg_port)"
}

main() {
  cd /
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case "$cmd" in
    start) cmd_start "$@";;
    stop) cmd_stop;;
    status) cmd_status;;
    env) cmd_env;;
    rabbit-kill) cmd_rabbit_kill "$@";;
    rabbit-start) cmd_rabbit_start "$@";;
    cluster-kill) cmd_cluster_kill "$@";;
    cluster-start) cmd_cluster_start "$@";;
    pg-kill) cmd_pg_kill;;
    pg-start) cmd_pg_start;;
    -h|--help|help) usage;;
    *) usage; die "unknown command '${cmd}'";;
  esac
}

# On one line, so bash never reads past it: editing this file while a
# command runs (git checkout, ...) cannot make the running bash execute
# whatever then sits after the old end.
main "$@"; exit $?
