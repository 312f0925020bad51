#!/usr/bin/env bash
# Private PostgreSQL 15 and MariaDB 10.11 servers for Conexor's tests.
#
# The machine's own PostgreSQL (5432) and MariaDB (3306) trust everyone and are
# shared by every run, so they cannot test logins or privilege checks. This
# script starts throw-away servers in a temp directory, on free loopback ports,
# with password authentication really enforced, and loads the "shop" fixture
# (scripts/fixtures/shop.{pg,mysql}.sql) plus three logins per engine:
#
#   cx_writer  owns / has ALL on shop: the attack suite uses it so that it is
#              Conexor's guard, not the database's permissions, that stops
#              writes.
#   cx_reader  CONNECT + USAGE + SELECT only.
#   cx_admin   superuser (PG SUPERUSER; MariaDB ALL ON *.* incl. SUPER, FILE)
#              for privilege-check tests.
#
# Usage (execute it; do not source it):
#
#   eval "$(CONEXOR_TEST_OWNER_PID=$$ scripts/test-env.sh start)"
#   trap 'scripts/test-env.sh stop' EXIT     # stop uses $CONEXOR_TEST_DIR
#   ...
#
# `start` prints only `export VAR=...` lines on stdout (progress and errors go
# to stderr). On failure it cleans up and prints `false`, so the eval fails
# too, and under `set -e` the caller stops there.
#
#   scripts/test-env.sh env                  # re-print the exports
#   scripts/test-env.sh stop [DIR]           # kill both servers, remove DIR
#   scripts/test-env.sh run CMD [ARG...]     # start, run CMD with the env, stop
#   scripts/test-env.sh status [DIR]         # exit 0 if the servers answer
#
# Environment (all optional):
#   CONEXOR_TEST_DIR        where to put everything (default
#                           /tmp/conexor-test-<pid>). If it already holds a
#                           live environment, `start` reuses it and only
#                           prints its exports.
#   CONEXOR_TEST_SERVERS    which servers to start: "pg mysql" (default),
#                           "pg" or "mysql".
#   CONEXOR_TEST_OWNER_PID  if set, a watchdog stops the servers once that
#                           process is gone: a test run killed with SIGKILL
#                           (no EXIT trap) still leaves nothing behind.
#                           `run` sets it to itself.
#
# Exported variables (also written to $CONEXOR_TEST_DIR/env):
#   CONEXOR_TEST_DIR
#   CONEXOR_TEST_PG_HOST  CONEXOR_TEST_PG_PORT  CONEXOR_TEST_PG_DATADIR
#   CONEXOR_TEST_PG_WRITER_URL  CONEXOR_TEST_PG_READER_URL  CONEXOR_TEST_PG_ADMIN_URL
#   CONEXOR_TEST_MYSQL_HOST  CONEXOR_TEST_MYSQL_PORT  CONEXOR_TEST_MYSQL_DATADIR
#   CONEXOR_TEST_MYSQL_WRITER_URL  CONEXOR_TEST_MYSQL_READER_URL  CONEXOR_TEST_MYSQL_ADMIN_URL
# URLs look like postgres://cx_reader:<hex>@127.0.0.1:<port>/shop and
# mysql://cx_reader:<hex>@127.0.0.1:<port>/shop. Passwords are random hex, so
# they need no percent-encoding.
#
# Must run as root (it is how these machines and CI run): initdb refuses root,
# so PostgreSQL runs as the `postgres` system user; mariadbd runs with
# --user=root. The system servers on 5432/3306 are never touched.
set -euo pipefail

readonly PG_BIN=/usr/lib/postgresql/15/bin
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
SCRIPT="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
readonly SCRIPT
readonly FIXTURES="$SCRIPT_DIR/fixtures"
# Marker file: `stop` only deletes a directory that this script created, so a
# mistyped CONEXOR_TEST_DIR=/ can never be rm -rf'ed.
readonly MARKER=.conexor-test-env

log() { printf 'test-env: %s\n' "$*" >&2; }
die() { printf 'test-env: ERROR: %s\n' "$*" >&2; exit 1; }

# Print the last lines of a log file to stderr, for failure messages.
tail_log() {
  local f=$1
  if [[ -s $f ]]; then
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 30 "$f" >&2
    printf -- '-----\n' >&2
  fi
}

now_ms() { date +%s%3N; }

# A free TCP port on 127.0.0.1: bind port 0, read what the kernel chose, close.
# Another process could take it before our server binds it; start_* retry with
# a fresh port when the server fails to come up.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Random password, hex so that it is URL-safe without escaping.
random_password() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }

# ---------------------------------------------------------------------------
# Installation (only when the binaries are missing, e.g. on a fresh machine).
# ---------------------------------------------------------------------------

ensure_packages() {
  local pkgs=()
  if want pg && [[ ! -x $PG_BIN/initdb ]]; then pkgs+=(postgresql); fi
  if want mysql && ! command -v mariadbd >/dev/null; then pkgs+=(mariadb-server); fi
  ((${#pkgs[@]})) || return 0
  [[ $EUID -eq 0 ]] || die "need root to apt-get install ${pkgs[*]}"
  log "installing ${pkgs[*]} (system services are NOT started)"
  # policy-rc.d exit 101 = "action forbidden": the packages' postinst scripts
  # then do not start (or restart) the system services, so the machine's own
  # servers on 5432/3306 are left exactly as they were.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" ||
      { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"; }
  } >&2 || rc=$?
  ((created_policy)) && rm -f "$policy"
  ((rc == 0)) || die "apt-get install ${pkgs[*]} failed (exit $rc)"
}

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------

pg_psql() {
  # Superuser over the private socket; the password is checked (scram) there
  # too, so it is passed in the environment, never on the command line.
  PGPASSWORD="$(cat "$T/pgpw")" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
    -h "$T/pgsock" -p "$PG_PORT" -U postgres "$@"
}

start_pg() {
  local t0 t_init t_up log_file="$T/pg.log" attempt
  t0=$(now_ms)
  [[ -x $PG_BIN/initdb ]] || die "PostgreSQL: $PG_BIN/initdb not found"
  id postgres >/dev/null 2>&1 || die "PostgreSQL: no 'postgres' system user"
  # initdb refuses root, so the cluster belongs to the postgres user (cmd_start
  # checked that it can reach $T).
  mkdir -p "$T/pgsock" "$T/pg"
  random_password >"$T/pgpw"
  # The server (user postgres) appends to its own log file.
  touch "$log_file"
  chown postgres:postgres "$T/pgsock" "$T/pg" "$T/pgpw" "$log_file"
  chmod 700 "$T/pg"
  chmod 600 "$T/pgpw"

  # scram-sha-256 for both local and host lines of pg_hba.conf: every login,
  # even the superuser's over the socket, has its password checked.
  if ! runuser -u postgres -- "$PG_BIN/initdb" -D "$T/pg" -A scram-sha-256 \
      --pwfile="$T/pgpw" -U postgres --no-sync -E UTF8 --locale=C.UTF-8 \
      >"$T/pg-initdb.log" 2>&1; then
    tail_log "$T/pg-initdb.log"
    die "PostgreSQL: initdb failed (log: $T/pg-initdb.log)"
  fi

  t_init=$(now_ms)
  for attempt in 1 2 3; do
    PG_PORT=$(free_port)
    # fsync/full_page_writes off: throw-away data, and the 1M-row fixture
    # loads much faster. Output of pg_ctl itself goes to the log too, so no
    # process keeps the caller's $(...) pipe open.
    if runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/pg" -l "$log_file" -w -t 30 \
        -o "-p $PG_PORT -k $T/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
        start >>"$T/pg-ctl.log" 2>&1 </dev/null 3>&-; then
      break
    fi
    log "PostgreSQL did not start on port $PG_PORT (attempt $attempt)"
    if ((attempt == 3)); then
      tail_log "$T/pg-ctl.log"
      tail_log "$log_file"
      die "PostgreSQL: server failed to start (log: $log_file)"
    fi
  done
  echo "$PG_PORT" >"$T/pg.port"
  t_up=$(now_ms)

  local writer_pw reader_pw admin_pw
  writer_pw=$(random_password)
  reader_pw=$(random_password)
  admin_pw=$(random_password)

  # Roles and database. PUBLIC loses its default CONNECT/TEMPORARY on shop, so
  # the reader has exactly CONNECT + USAGE + SELECT.
  if ! pg_psql -d postgres >>"$T/pg-fixture.log" 2>&1 <<SQL
CREATE ROLE cx_writer LOGIN PASSWORD '$writer_pw';
CREATE ROLE cx_reader LOGIN PASSWORD '$reader_pw';
CREATE ROLE cx_admin LOGIN SUPERUSER PASSWORD '$admin_pw';
CREATE DATABASE shop OWNER cx_writer;
REVOKE ALL ON DATABASE shop FROM PUBLIC;
GRANT CONNECT ON DATABASE shop TO cx_reader;
SQL
  then
    tail_log "$T/pg-fixture.log"
    die "PostgreSQL: creating roles failed (log: $T/pg-fixture.log)"
  fi

  # Objects are created as cx_writer so that it owns them all (and the
  # database, hence the public schema in PG 15); the reader is granted SELECT.
  if ! {
    printf 'SET ROLE cx_writer;\n'
    cat "$FIXTURES/shop.pg.sql"
    printf '%s\n' \
      'REVOKE ALL ON SCHEMA public FROM PUBLIC;' \
      'GRANT USAGE ON SCHEMA public TO cx_reader;' \
      'GRANT SELECT ON ALL TABLES IN SCHEMA public TO cx_reader;' \
      'GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO cx_reader;' \
      'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO cx_reader;'
  } | pg_psql -d shop >>"$T/pg-fixture.log" 2>&1; then
    tail_log "$T/pg-fixture.log"
    die "PostgreSQL: loading the shop fixture failed (log: $T/pg-fixture.log)"
  fi

  local base="127.0.0.1:$PG_PORT/shop"
  {
    env_line CONEXOR_TEST_PG_HOST 127.0.0.1
    env_line CONEXOR_TEST_PG_PORT "$PG_PORT"
    env_line CONEXOR_TEST_PG_DATADIR "$T/pg"
    env_line CONEXOR_TEST_PG_WRITER_URL "postgres://cx_writer:$writer_pw@$base"
    env_line CONEXOR_TEST_PG_READER_URL "postgres://cx_reader:$reader_pw@$base"
    env_line CONEXOR_TEST_PG_ADMIN_URL "postgres://cx_admin:$admin_pw@$base"
  } >"$T/env.pg"
  log "PostgreSQL ready on 127.0.0.1:$PG_PORT in $(($(now_ms) - t0)) ms (initdb $((t_init - t0)), server start $((t_up - t_init)), fixture $(($(now_ms) - t_up)))"
}

stop_pg() {
  [[ -f $T/pg/postmaster.pid ]] || return 0
  local pid
  pid=$(head -n1 "$T/pg/postmaster.pid")
  # Immediate mode: no checkpoint, the data is thrown away anyway.
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/pg" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
  kill_and_wait "$pid" postgres
}

pg_alive() {
  [[ -f $T/pg.port ]] || return 1
  PG_PORT=$(cat "$T/pg.port")
  pg_psql -d shop -tAc 'SELECT 1' >/dev/null 2>&1
}

# ---------------------------------------------------------------------------
# MariaDB
# ---------------------------------------------------------------------------

my_sql() {
  # root has no password but exists only as root@localhost, which (with
  # --skip-name-resolve) matches socket logins only: no password-less account
  # is reachable over TCP.
  mariadb --no-defaults -S "$M/sock" -uroot --default-character-set=utf8mb4 "$@"
}

start_mysql() {
  local t0 t_init t_up attempt pid i
  t0=$(now_ms)
  M="$T/mysql"
  command -v mariadbd >/dev/null || die "MariaDB: mariadbd not found"
  mkdir -p "$M/data" "$M/tmp"

  if ! mariadb-install-db --no-defaults --user=root --datadir="$M/data" \
      --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
      >"$M/install.log" 2>&1; then
    tail_log "$M/install.log"
    die "MariaDB: mariadb-install-db failed (log: $M/install.log)"
  fi

  t_init=$(now_ms)
  for attempt in 1 2 3; do
    MY_PORT=$(free_port)
    # --no-defaults keeps /etc/mysql out. Durability is traded for speed
    # (throw-away data). stdin/stdout/stderr and fd 3 are detached so the
    # server never holds the caller's $(...) pipe open.
    mariadbd --no-defaults --user=root --datadir="$M/data" --socket="$M/sock" \
      --port="$MY_PORT" --bind-address=127.0.0.1 --skip-log-bin --skip-name-resolve \
      --pid-file="$M/mariadbd.pid" --log-error="$M/error.log" --tmpdir="$M/tmp" \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
      --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
      --innodb-buffer-pool-size=256M \
      </dev/null >>"$M/stdout.log" 2>&1 3>&- &
    pid=$!
    echo "$pid" >"$M/server.pid"
    for ((i = 0; i < 300; i++)); do
      if mariadb-admin --no-defaults -S "$M/sock" -uroot ping >/dev/null 2>&1; then
        break 2
      fi
      running "$pid" || break
      sleep 0.1
    done
    log "MariaDB did not start on port $MY_PORT (attempt $attempt)"
    kill_and_wait "$pid" mariadbd
    if ((attempt == 3)); then
      tail_log "$M/error.log"
      die "MariaDB: server failed to start (log: $M/error.log)"
    fi
  done
  echo "$MY_PORT" >"$T/mysql.port"
  t_up=$(now_ms)

  local writer_pw reader_pw admin_pw
  writer_pw=$(random_password)
  reader_pw=$(random_password)
  admin_pw=$(random_password)

  # mariadb-install-db makes password-less root@127.0.0.1, root@::1 and
  # root@<hostname>: reachable over TCP, they would defeat the point of these
  # servers. Keep only root@localhost (socket only under --skip-name-resolve),
  # and drop any anonymous account. Test users are bound to 127.0.0.1, the only
  # address listened on.
  if ! my_sql >>"$M/fixture.log" 2>&1 <<SQL
DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost' OR Proxied_host <> 'localhost';
FLUSH PRIVILEGES;
CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'cx_writer'@'127.0.0.1' IDENTIFIED BY '$writer_pw';
CREATE USER 'cx_reader'@'127.0.0.1' IDENTIFIED BY '$reader_pw';
CREATE USER 'cx_admin'@'127.0.0.1' IDENTIFIED BY '$admin_pw';
GRANT ALL PRIVILEGES ON shop.* TO 'cx_writer'@'127.0.0.1';
GRANT SELECT ON shop.* TO 'cx_reader'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'cx_admin'@'127.0.0.1' WITH GRANT OPTION;
SQL
  then
    tail_log "$M/fixture.log"
    die "MariaDB: creating users failed (log: $M/fixture.log)"
  fi

  if ! my_sql shop <"$FIXTURES/shop.mysql.sql" >>"$M/fixture.log" 2>&1; then
    tail_log "$M/fixture.log"
    die "MariaDB: loading the shop fixture failed (log: $M/fixture.log)"
  fi

  local base="127.0.0.1:$MY_PORT/shop"
  {
    env_line CONEXOR_TEST_MYSQL_HOST 127.0.0.1
    env_line CONEXOR_TEST_MYSQL_PORT "$MY_PORT"
    env_line CONEXOR_TEST_MYSQL_DATADIR "$M/data"
    env_line CONEXOR_TEST_MYSQL_WRITER_URL "mysql://cx_writer:$writer_pw@$base"
    env_line CONEXOR_TEST_MYSQL_READER_URL "mysql://cx_reader:$reader_pw@$base"
    env_line CONEXOR_TEST_MYSQL_ADMIN_URL "mysql://cx_admin:$admin_pw@$base"
  } >"$T/env.mysql"
  log "MariaDB ready on 127.0.0.1:$MY_PORT in $(($(now_ms) - t0)) ms (install-db $((t_init - t0)), server start $((t_up - t_init)), fixture $(($(now_ms) - t_up)))"
}

stop_mysql() {
  local pid
  [[ -f $T/mysql/server.pid ]] || return 0
  pid=$(cat "$T/mysql/server.pid")
  # SIGKILL at once: the data is thrown away, and a clean InnoDB shutdown
  # would spend 1-3 s flushing the buffer pool for nothing.
  kill_and_wait "$pid" mariadbd KILL
}

mysql_alive() {
  M="$T/mysql"
  [[ -S $M/sock ]] && mariadb-admin --no-defaults -S "$M/sock" -uroot ping >/dev/null 2>&1
}

# ---------------------------------------------------------------------------
# Common
# ---------------------------------------------------------------------------

env_line() { printf 'export %s=%q\n' "$1" "$2"; }

# Is pid a live process? A zombie is not: the servers are daemonised, so
# their parent is PID 1, which on some containers reaps only now and then, and
# `kill -0` succeeds on a zombie.
running() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $state && $state != Z* ]]
}

# Signal a server process (TERM unless told otherwise), give it up to 5 s,
# then KILL. Only the pid we recorded is signalled, and only if its command
# name is what we started (the pid may have been reused since).
kill_and_wait() {
  local pid=$1 name=$2 sig=${3:-TERM} i
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  running "$pid" || return 0
  [[ "$(ps -o comm= -p "$pid" 2>/dev/null)" == "$name"* ]] || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    running "$pid" || return 0
    sleep 0.05
  done
  log "$name (pid $pid) still running 5 s after SIG$sig; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

want() { [[ " $SERVERS " == *" $1 "* ]]; }

env_alive() {
  [[ -f $T/$MARKER && -f $T/env ]] || return 1
  if want pg; then pg_alive || return 1; fi
  if want mysql; then mysql_alive || return 1; fi
  return 0
}

# Background watchdog: stop everything once the owning process has gone.
start_watchdog() {
  local owner=$1
  kill -0 "$owner" 2>/dev/null || die "CONEXOR_TEST_OWNER_PID=$owner is not a running process"
  # setsid + closed fds: it must not keep the caller's terminal or pipes.
  # The single quotes are deliberate: $1/$2 belong to the inner bash.
  # shellcheck disable=SC2016
  CONEXOR_TEST_DIR="$T" setsid bash -c '
    while kill -0 "$1" 2>/dev/null; do sleep 2; done
    exec "$2" stop
  ' conexor-test-watchdog "$owner" "$SCRIPT" </dev/null >>"$T/watchdog.log" 2>&1 3>&- &
  echo $! >"$T/watchdog.pid"
}

# EXIT trap of `start`. On failure: remove what was half started, and print
# `false` as the only "export" line, so that eval "$(scripts/test-env.sh start)"
# fails too (eval of an empty string would succeed and the caller would run
# its tests against nothing).
START_CREATED=0
on_start_exit() {
  local rc=$?
  ((rc == 0)) && return 0
  printf 'false\n' >&3 2>/dev/null || true
  if ((START_CREATED)); then
    log "start failed; cleaning up $T"
    do_stop || true
  fi
  exit "$rc"
}

cmd_start() {
  # Everything but the final export lines goes to stderr, so that
  # eval "$(scripts/test-env.sh start)" sees only the exports. fd 3 keeps the
  # real stdout; every background process is started with 3>&-.
  exec 3>&1 1>&2
  trap on_start_exit EXIT
  # Turn Ctrl-C / kill into a normal exit so the EXIT trap cleans up.
  trap 'exit 130' INT
  trap 'exit 143' TERM

  if [[ -n ${CONEXOR_TEST_DIR:-} ]] && env_alive; then
    log "reusing the live environment in $T"
    cat "$T/env" >&3
    return 0
  fi
  if [[ -e $T ]]; then
    [[ -f $T/$MARKER ]] || die "$T exists and was not made by this script; refusing to use it"
    log "$T holds a dead or partial environment; recreating it"
    do_stop
  fi

  [[ $EUID -eq 0 ]] || die "run as root (PostgreSQL runs as user postgres via runuser; mariadbd as root)"
  ensure_packages

  local t0
  t0=$(now_ms)
  mkdir -p "$T"
  touch "$T/$MARKER"
  START_CREATED=1
  # The postgres user must traverse $T to reach its data and socket dirs.
  chmod 755 "$T"
  if want pg && ! runuser -u postgres -- test -x "$T"; then
    die "PostgreSQL: user postgres cannot enter $T (a parent directory is not world-executable); choose another CONEXOR_TEST_DIR"
  fi

  # Both servers start in parallel (2 cores; each is mostly waiting on the
  # other's I/O). Each job's failure message is already printed by die().
  local pg_job="" my_job="" failed=()
  if want pg; then start_pg & pg_job=$!; fi
  if want mysql; then start_mysql & my_job=$!; fi
  if [[ -n $pg_job ]] && ! wait "$pg_job"; then failed+=(PostgreSQL); fi
  if [[ -n $my_job ]] && ! wait "$my_job"; then failed+=(MariaDB); fi
  ((${#failed[@]} == 0)) || die "could not start: ${failed[*]} (logs in $T)"

  {
    env_line CONEXOR_TEST_DIR "$T"
    if want pg; then cat "$T/env.pg"; fi
    if want mysql; then cat "$T/env.mysql"; fi
  } >"$T/env"
  chmod 600 "$T/env"

  if [[ -n ${CONEXOR_TEST_OWNER_PID:-} ]]; then start_watchdog "$CONEXOR_TEST_OWNER_PID"; fi

  log "environment ready in $T in $(($(now_ms) - t0)) ms"
  cat "$T/env" >&3
}

do_stop() {
  [[ -d $T ]] || return 0
  [[ -f $T/$MARKER ]] || die "$T was not made by this script (no $MARKER); not touching it"
  # Both stops are attempted even if one fails.
  stop_pg || true
  stop_mysql || true
  if [[ -f $T/watchdog.pid ]]; then
    local wd
    wd=$(cat "$T/watchdog.pid")
    # The watchdog itself calls `stop` via exec, i.e. with our pid.
    if [[ $wd =~ ^[0-9]+$ && $wd != "$$" ]]; then kill "$wd" 2>/dev/null || true; fi
  fi
  rm -rf -- "$T"
}

cmd_stop() {
  do_stop
  log "stopped and removed $T"
}

cmd_env() {
  [[ -f $T/env ]] || die "no environment in $T (run: eval \"\$($SCRIPT start)\")"
  cat "$T/env"
}

cmd_status() {
  if env_alive; then
    log "alive: $T"
  else
    log "not running: $T"
    return 1
  fi
}

cmd_run() {
  (($#)) || die "usage: $0 run CMD [ARG...]"
  local exports owned=1
  # An already running environment named by CONEXOR_TEST_DIR is reused and
  # left running; one started here is stopped when CMD ends.
  if [[ -n ${CONEXOR_TEST_DIR:-} ]] && env_alive; then owned=0; fi
  export CONEXOR_TEST_OWNER_PID=$$
  exports=$(cmd_start) || exit 1
  # Servers must die with the run, whatever way it ends.
  if ((owned)); then trap 'do_stop' EXIT; fi
  trap 'exit 130' INT
  trap 'exit 143' TERM
  eval "$exports"
  "$@"
}

usage() {
  sed -n '2,/^set -euo pipefail/{/^set/d;s/^# \{0,1\}//;p}' "$SCRIPT"
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  SERVERS=" ${CONEXOR_TEST_SERVERS:-pg mysql} "
  local s
  for s in $SERVERS; do
    [[ $s == pg || $s == mysql ]] || die "CONEXOR_TEST_SERVERS: unknown server '$s' (use pg, mysql)"
  done

  case $cmd in
    start)
      T=${CONEXOR_TEST_DIR:-/tmp/conexor-test-$$}
      cmd_start
      ;;
    stop | env | status)
      T=${1:-${CONEXOR_TEST_DIR:-}}
      [[ -n $T ]] || die "$cmd: set CONEXOR_TEST_DIR or pass the directory"
      "cmd_$cmd"
      ;;
    run)
      T=${CONEXOR_TEST_DIR:-/tmp/conexor-test-$$}
      cmd_run "$@"
      ;;
    -h | --help | help)
      usage
      ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

# Globals set by main / start_*.
T="" M="" SERVERS="" PG_PORT="" MY_PORT=""
main "$@"
