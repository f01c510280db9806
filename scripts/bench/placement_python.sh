#!/usr/bin/env bash
# Run a command against a fresh OpenStack Placement (Python, from PyPI), then stop it.
#
#   scripts/bench/placement_python.sh [--workers N] [--keep-log FILE] -- COMMAND [ARGS...]
#
# Installs, when missing, a venv at ~/.cache/ferrostack/placement-venv with
# `pip install openstack-placement gunicorn`. In a new temp dir it writes a
# placement.conf (SQLite database in that dir, [api] auth_strategy = noauth2),
# runs `placement-manage db sync`, and starts gunicorn with N sync workers
# (--workers, $BENCH_PLACEMENT_WORKERS, default 2: one per core here) serving
# placement.wsgi.api:application on 127.0.0.1:<free port>. Once GET / answers 200
# it runs COMMAND with
#   BENCH_URL=http://127.0.0.1:PORT   BENCH_TOKEN=admin   BENCH_LABEL=python
#   BENCH_SERVER_PID=<gunicorn master>   BENCH_SERVER_DESC=<versions, workers>
# (noauth2 takes X-Auth-Token "user[:project]" as is, and user "admin" gets the admin
# role; see placement/auth.py NoAuthMiddleware). On exit, also on failure or Ctrl-C,
# it stops the gunicorn it started by PID (SIGTERM, SIGKILL after 10 s, then its
# workers) and removes the temp dir. Exits with COMMAND's status.
set -euo pipefail

CACHE=${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}
VENV=$CACHE/placement-venv
WORKERS=${BENCH_PLACEMENT_WORKERS:-2}
KEEP_LOG=""
while [ $# -gt 0 ]; do
  case $1 in
    --workers) WORKERS=$2; shift 2 ;;
    --keep-log) KEEP_LOG=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--workers N] -- COMMAND [ARGS...]" >&2; exit 2; }

say() { printf '==> %s\n' "$*" >&2; }

if ! { [ -x "$VENV/bin/placement-manage" ] && [ -x "$VENV/bin/gunicorn" ]; }; then
  say "creating $VENV with openstack-placement and gunicorn from PyPI"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip >&2
  "$VENV/bin/pip" install --quiet openstack-placement gunicorn >&2
fi
version() { "$VENV/bin/python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1"; }

WORK=$(mktemp -d /tmp/ferrostack-placement-python.XXXXXX)
PID=""
cleanup() {
  local status=$? kids k
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kids=$(pgrep -P "$PID" || true)   # gunicorn's workers: children of the master we started
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
  fi
  if [ -n "$KEEP_LOG" ] && [ -f "$WORK/placement.log" ]; then cp "$WORK/placement.log" "$KEEP_LOG"; fi
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/placement.conf" <<EOF
[DEFAULT]
debug = false
use_stderr = true
[api]
auth_strategy = noauth2
[placement_database]
connection = sqlite:///$WORK/placement.db
EOF

say "python placement: db sync ($WORK/placement.db)"
# Then build the app once, which fills the traits and resource classes tables: when two
# workers do that at their first start, on SQLite one can fail with "database is locked".
( "$VENV/bin/placement-manage" --config-file "$WORK/placement.conf" db sync
  OS_PLACEMENT_CONFIG_DIR=$WORK "$VENV/bin/python" -c 'import placement.wsgi.api' ) > "$WORK/manage.log" 2>&1 \
  || { tail -30 "$WORK/manage.log" >&2; exit 1; }

say "python placement: gunicorn with $WORKERS sync workers ($(nproc) cores here) on 127.0.0.1:$PORT"
# Placement reads its config from $OS_PLACEMENT_CONFIG_DIR/placement.conf and does not parse
# gunicorn's arguments. A long --timeout: an allocation-candidates request at 10,000
# providers must not be killed as a hung worker.
OS_PLACEMENT_CONFIG_DIR=$WORK "$VENV/bin/gunicorn" --workers "$WORKERS" --bind "127.0.0.1:$PORT" \
  --timeout 900 --no-control-socket --chdir "$WORK" placement.wsgi.api:application \
  < /dev/null > "$WORK/placement.log" 2>&1 &
PID=$!
for i in $(seq 600); do
  if ! kill -0 "$PID" 2>/dev/null; then tail -30 "$WORK/placement.log" >&2; say "gunicorn exited"; exit 1; fi
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")" = 200 ]; then break; fi
  [ "$i" = 600 ] && { say "python placement did not answer in 60 s"; tail -30 "$WORK/placement.log" >&2; exit 1; }
  sleep 0.1
done
# Every worker loads the app when it boots: wait until they all have, and are idle.
python3 "$(dirname "$0")/placement_load.py" settle "$PID"
say "python placement: up, pid $PID"

DESC="openstack-placement $(version openstack-placement) from PyPI (Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')), gunicorn $(version gunicorn) with $WORKERS sync workers, SQLite (SQLAlchemy $(version SQLAlchemy)), auth_strategy noauth2, default [placement] options"
rc=0
BENCH_URL=http://127.0.0.1:$PORT BENCH_TOKEN=admin BENCH_LABEL=python BENCH_SERVER_PID=$PID \
  BENCH_SERVER_DESC=$DESC "$@" || rc=$?
n500=$(grep -c 'status: 500' "$WORK/placement.log" || true)
if [ "$n500" -gt 0 ] || grep -q 'Traceback' "$WORK/placement.log"; then
  say "python placement answered 500 to $n500 requests; the errors in its log:"
  { grep -oE '[A-Za-z_.]+(Error|Exception): [^[]{0,100}' "$WORK/placement.log" | sort | uniq -c | sort -rn | head -5 >&2; } || true
fi
exit $rc
