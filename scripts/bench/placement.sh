#!/usr/bin/env bash
# Placement benchmark: ferrostack against OpenStack's Python Placement from PyPI, on
# this machine, in one run. Prints a markdown report on stdout (progress on stderr).
#
#   scripts/bench/placement.sh [options] [ferrostack|python|both] [SIZE...]
#
#   target    which servers (default both)
#   SIZE...   numbers of compute nodes (default: 1000 10000); each size starts
#             from an empty service (new data dir or new SQLite database)
#   --binary PATH       ferrostack binary ($FERROSTACK_BIN); without it the script runs
#                       CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-~/.cache/bench-target} cargo build --release -p ferrostack
#   --duration S        seconds per measured run ($BENCH_DURATION, 10)
#   --min-requests N    a run goes on past --duration until N requests completed ($BENCH_MIN_REQUESTS, 20)
#   --max-time S        but stops after S seconds ($BENCH_MAX_TIME, 180)
#   --workers N         gunicorn sync workers for Python Placement ($BENCH_PLACEMENT_WORKERS, 2)
#   --idle-wait S       before each run, wait up to S seconds for an idle machine ($BENCH_IDLE_WAIT, 300)
#   --retries N         measure a run again, up to N times, when other processes took more
#                       than 0.2 cores during it ($BENCH_RETRIES, 2)
#   --results FILE      keep the raw results, JSON lines ($BENCH_RESULTS)
#
# For each size and server: load the data set through the API (placement_load.py
# load: N compute nodes, one sharing DISK_GB provider per 100, traits on 10%,
# nested NUMA + PGPU children on 10%, allocations on 30%), then time three
# GET /allocation_candidates queries and PUT /allocations claims with 1 and 8
# clients (placement_load.py measure). Python Placement runs under gunicorn
# through placement_python.sh (venv at ~/.cache/ferrostack/placement-venv).
# ferrostack runs as `ferrostack up --listen 127.0.0.1:0` with a fresh
# FERROSTACK_DATA_DIR, and the benchmark uses $URL/placement with an admin token
# from $URL/identity/v3/auth/tokens. Everything binds 127.0.0.1; every process
# started is stopped by its PID on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LOAD="$HERE/placement_load.py"

BIN=${FERROSTACK_BIN:-}
DURATION=${BENCH_DURATION:-10}
MIN_REQUESTS=${BENCH_MIN_REQUESTS:-20}
MAX_TIME=${BENCH_MAX_TIME:-180}
WORKERS=${BENCH_PLACEMENT_WORKERS:-2}
IDLE_WAIT=${BENCH_IDLE_WAIT:-300}
RETRIES=${BENCH_RETRIES:-2}
RESULTS=${BENCH_RESULTS:-}
TARGET=both
SIZES=()
while [ $# -gt 0 ]; do
  case $1 in
    --binary) BIN=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --min-requests) MIN_REQUESTS=$2; shift 2 ;;
    --max-time) MAX_TIME=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --idle-wait) IDLE_WAIT=$2; shift 2 ;;
    --retries) RETRIES=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    ferrostack|python|both) TARGET=$1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *[!0-9]*|'') echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    *) SIZES+=("$1"); shift ;;
  esac
done
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000)
case $TARGET in both) SERVERS=(ferrostack python) ;; *) SERVERS=("$TARGET") ;; esac

say() { printf '==> %s\n' "$*" >&2; }
T_BEGIN=$(date +%s)
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
MEASURE_OPTS=(--duration "$DURATION" --min-requests "$MIN_REQUESTS" --max-time "$MAX_TIME"
              --idle-wait "$IDLE_WAIT" --retries "$RETRIES")

BUILT=""
if [[ " ${SERVERS[*]} " == *" ferrostack "* ]]; then
  if [ -z "$BIN" ]; then
    BUILT="built by this run from the work tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    if [ -n "$(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
      BUILT="$BUILT plus uncommitted changes"
    fi
    say "building ferrostack (release)"
    (cd "$ROOT" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/bench-target} \
       cargo build --release -p ferrostack >&2)
    BIN=${CARGO_TARGET_DIR:-$HOME/.cache/bench-target}/release/ferrostack
  fi
  [ -x "$BIN" ] || { echo "no ferrostack binary at $BIN" >&2; exit 1; }
  BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
fi

WORK=$(mktemp -d /tmp/ferrostack-placement-bench.XXXXXX)
RES=$WORK/results.jsonl
: > "$RES"
FS_PID=""
stop_ferrostack() {
  if [ -n "$FS_PID" ] && kill -0 "$FS_PID" 2>/dev/null; then
    kill -TERM "$FS_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$FS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$FS_PID" 2>/dev/null || true
  fi
  FS_PID=""
}
cleanup() {
  local status=$?
  stop_ferrostack
  if [ -n "$RESULTS" ] && [ -s "$RES" ]; then cp "$RES" "$RESULTS"; fi
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# with_ferrostack COMMAND...: a ferrostack on a new data dir, COMMAND run with the same
# BENCH_* variables placement_python.sh sets, then the server stopped.
with_ferrostack() {
  local data out url token rc=0
  data=$(mktemp -d "$WORK/ferrostack-data.XXXXXX")
  out=$data.out
  say "ferrostack: up on an empty data dir ($data)"
  # No compute agent: its host would add a provider of its own to the data set.
  FERROSTACK_AGENT__ENABLED=false FERROSTACK_DATA_DIR=$data "$BIN" up --listen 127.0.0.1:0 < /dev/null > "$out" 2> "$data.log" &
  FS_PID=$!
  for i in $(seq 600); do
    kill -0 "$FS_PID" 2>/dev/null || { tail -30 "$data.log" >&2; say "ferrostack exited"; exit 1; }
    url=$(sed -n 's/^ferrostack is up at \(http[^ ]*\)$/\1/p' "$out")
    [ -n "$url" ] && break
    [ "$i" = 600 ] && { say "ferrostack did not start in 60 s"; tail -30 "$data.log" >&2; exit 1; }
    sleep 0.1
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthcheck")" = 200 ] || { say "$url/healthcheck is not 200"; exit 1; }
  token=$(python3 "$LOAD" token --auth-url "$url/identity/v3" --password "$(cat "$data/admin-password")")
  say "ferrostack: up at $url, pid $FS_PID; Placement at $url/placement"
  BENCH_URL=$url/placement BENCH_TOKEN=$token BENCH_LABEL=ferrostack BENCH_SERVER_PID=$FS_PID \
    BENCH_SERVER_DESC="ferrostack $("$BIN" version | awk '{print $2}'), ${BUILT:-$BIN}; \`ferrostack up\`, SQLite" \
    "$@" || rc=$?
  if grep -qiE 'panic|ERROR' "$data.log"; then
    say "ferrostack log has errors:"; { grep -iE 'panic|ERROR' "$data.log" | sort | uniq -c | sort -rn | head -20 >&2; } || true
  fi
  stop_ferrostack
  return $rc
}

for n in "${SIZES[@]}"; do
  for server in "${SERVERS[@]}"; do
    say "$server, $n compute nodes"
    bench=(python3 "$LOAD" --providers "$n" --results "$RES" all "${MEASURE_OPTS[@]}")
    case $server in
      ferrostack) with_ferrostack "${bench[@]}" ;;
      python) "$HERE/placement_python.sh" --workers "$WORKERS" -- "${bench[@]}" ;;
    esac
  done
done

cat <<EOF
## Placement benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')

- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)
- command: \`scripts/bench/placement.sh $TARGET ${SIZES[*]}\` (${DURATION} s per run, at least $MIN_REQUESTS requests, at most ${MAX_TIME} s); client: scripts/bench/placement_load.py (Python $(python3 -c 'import platform; print(platform.python_version())'), one thread and one HTTP/1.1 connection per client, on the same cores)
EOF
python3 "$LOAD" report "$RES"
echo
echo "Full run: $(( $(date +%s) - T_BEGIN )) s."
