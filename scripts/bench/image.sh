#!/usr/bin/env bash
# Image data benchmark: upload and download of one large image through the
# Image API (curl, and the openstack CLI), against a plain `cp` of the same
# file on the same disk, in one run; and the server's peak RSS growth.
# Prints a markdown report on stdout (progress on stderr).
#
#   scripts/bench/image.sh [--binary PATH] [--size-mib N] [--venv DIR] [--dir DIR]
#
#   --binary PATH   ferrostack binary ($FERROSTACK_BIN); without it the script runs
#                   cargo build --release -p ferrostack
#   --client PATH   the Rust client, crates/image/examples/image_transfer.rs; without
#                   it the script runs cargo build --release -p image --example image_transfer
#   --size-mib N    image size in MiB (2048)
#   --venv DIR      venv with python-openstackclient (~/.cache/ferrostack/venv);
#                   the CLI runs are skipped when it is missing
#   --dir DIR       work directory, on the disk to measure (a new one under /var/tmp)
#   --rounds N      rounds of cp, upload and download, interleaved (3); the report
#                   gives the median of each
#
# Every copy starts after a sync and a 2 s pause and ends with the destination
# file synced to disk (`sync FILE`), as the
# image store fsyncs each upload: cp = `cp SRC DST && sync DST`; upload = PUT
# of the file (the server hashes md5 + sha512, inspects the content, writes and
# fsyncs); download = GET into a file, then sync. Both run with two clients:
# curl, and a Rust client with 4 MiB buffers (curl moves 16-64 KiB per call,
# which costs the client more than the server on this kind of machine). The file is random data
# declared raw. For the download there is a second baseline: the same curl GET
# of the same file from Python's static file server (`python3 -m http.server`,
# which uses sendfile), to tell what HTTP over loopback into a file costs on this
# machine from what ferrostack adds. ferrostack runs as `ferrostack up --listen 127.0.0.1:0` on a
# fresh data dir in the work directory and is stopped by its PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FERROSTACK_BIN:-}
CLIENT=
SIZE_MIB=2048
VENV=${HOME}/.cache/ferrostack/venv
WORK=
ROUNDS=3
while [ $# -gt 0 ]; do
  case $1 in
    --binary) BIN=$2; shift 2 ;;
    --client) CLIENT=$2; shift 2 ;;
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --venv) VENV=$2; shift 2 ;;
    --dir) WORK=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
say() { printf '[image-bench] %s\n' "$*" >&2; }

if [ -z "$BIN" ]; then
  say "building ferrostack (release)"
  (cd "$ROOT" && cargo build --release -p ferrostack >&2)
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/ferrostack
fi
if [ -z "$CLIENT" ]; then
  say "building the Rust client (release)"
  (cd "$ROOT" && cargo build --release -p image --example image_transfer >&2)
  CLIENT=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/image_transfer
fi
[ -n "$WORK" ] || WORK=$(mktemp -d /var/tmp/ferrostack-image-bench.XXXXXX)
mkdir -p "$WORK"
FS_PID=
PY_PID=
cleanup() {
  [ -n "$FS_PID" ] && kill "$FS_PID" 2>/dev/null && wait "$FS_PID" 2>/dev/null || true
  [ -n "$PY_PID" ] && kill "$PY_PID" 2>/dev/null && wait "$PY_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{$SIZE_MIB / (float(sys.argv[1])):.0f}')" "$1"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

SRC=$WORK/src.raw
say "writing a ${SIZE_MIB} MiB file of random data"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$SRC"
sync "$SRC"
t0=$(date +%s.%N); MD5=$(md5sum "$SRC" | cut -d' ' -f1); t1=$(date +%s.%N)
MD5_S=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$t1")

# Dirty pages of the previous copy slow down the next one's writes on this
# kind of disk; every measured copy starts after a sync and a pause.
settle() { sync; sleep 2; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
DATA=$WORK/data
mkdir -p "$DATA"
FERROSTACK_DATA_DIR=$DATA "$BIN" up --listen 127.0.0.1:0 < /dev/null > "$WORK/out" 2> "$WORK/log" &
FS_PID=$!
for i in $(seq 600); do
  URL=$(sed -n 's/^ferrostack is up at \(http[^ ]*\)$/\1/p' "$WORK/out")
  [ -n "$URL" ] && break
  kill -0 "$FS_PID" 2>/dev/null || { tail -20 "$WORK/log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { say "ferrostack did not start"; exit 1; }
PASSWORD=$(cat "$DATA/admin-password")
TOKEN=$(curl -si -H 'Content-Type: application/json' "$URL/identity/v3/auth/tokens" -d "{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"admin\", \"domain\": {\"id\": \"default\"}, \"password\": \"$PASSWORD\"}}}, \"scope\": {\"project\": {\"name\": \"admin\", \"domain\": {\"id\": \"default\"}}}}}" \
  | awk 'tolower($1) == "x-subject-token:" { print $2 }' | tr -d '\r')
IMG=$URL/image/v2/images
RSS0=$(kib "$FS_PID" VmRSS)
say "ferrostack up at $URL (pid $FS_PID, RSS $((RSS0 / 1024)) MiB)"

new_image() {
  curl -sf -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' "$IMG" \
    -d "{\"name\": \"$1\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

PY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$WORK" && exec python3 -m http.server "$PY_PORT" --bind 127.0.0.1 > /dev/null 2>&1) &
PY_PID=$!
sleep 1
CPS=(); UPS=(); DOWNS=(); STATICS=(); RUPS=(); RDOWNS=()
for round in $(seq "$ROUNDS"); do
  say "round $round of $ROUNDS: cp, upload and download with curl and with the Rust client"
  rm -f "$WORK/cp.raw"; settle
  t0=$(now); cp "$SRC" "$WORK/cp.raw"; sync "$WORK/cp.raw"; t1=$(now)
  CPS+=("$(elapsed "$t0" "$t1")"); rm -f "$WORK/cp.raw"

  ID=$(new_image "bench-curl-$round")
  settle
  t0=$(now)
  curl -sf -X PUT -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/octet-stream' -T "$SRC" "$IMG/$ID/file"
  t1=$(now); UPS+=("$(elapsed "$t0" "$t1")")
  SUM=$(curl -sf -H "X-Auth-Token: $TOKEN" "$IMG/$ID" | python3 -c 'import json, sys; print(json.load(sys.stdin)["checksum"])')
  [ "$SUM" = "$MD5" ] || { say "checksum $SUM is not the file's $MD5"; exit 1; }

  settle
  t0=$(now)
  curl -sf -H "X-Auth-Token: $TOKEN" -o "$WORK/down.raw" "$IMG/$ID/file"; sync "$WORK/down.raw"
  t1=$(now); DOWNS+=("$(elapsed "$t0" "$t1")")
  [ "$(md5sum "$WORK/down.raw" | cut -d' ' -f1)" = "$MD5" ] || { say "the download differs"; exit 1; }
  rm -f "$WORK/down.raw"

  settle
  t0=$(now)
  curl -sf -o "$WORK/static.raw" "http://127.0.0.1:$PY_PORT/src.raw"; sync "$WORK/static.raw"
  t1=$(now); STATICS+=("$(elapsed "$t0" "$t1")")
  rm -f "$WORK/static.raw"
  curl -sf -X DELETE -H "X-Auth-Token: $TOKEN" "$IMG/$ID"

  ID=$(new_image "bench-rust-$round")
  settle
  t0=$(now); "$CLIENT" upload "$IMG/$ID/file" "$TOKEN" "$SRC"; t1=$(now)
  RUPS+=("$(elapsed "$t0" "$t1")")
  SUM=$(curl -sf -H "X-Auth-Token: $TOKEN" "$IMG/$ID" | python3 -c 'import json, sys; print(json.load(sys.stdin)["checksum"])')
  [ "$SUM" = "$MD5" ] || { say "checksum $SUM is not the file's $MD5"; exit 1; }
  settle
  t0=$(now); "$CLIENT" download "$IMG/$ID/file" "$TOKEN" "$WORK/down.raw"; t1=$(now)
  RDOWNS+=("$(elapsed "$t0" "$t1")")
  [ "$(md5sum "$WORK/down.raw" | cut -d' ' -f1)" = "$MD5" ] || { say "the download differs"; exit 1; }
  rm -f "$WORK/down.raw"
  curl -sf -X DELETE -H "X-Auth-Token: $TOKEN" "$IMG/$ID"
done
CP_S=$(median "${CPS[@]}"); UP_S=$(median "${UPS[@]}"); DOWN_S=$(median "${DOWNS[@]}")
STATIC_S=$(median "${STATICS[@]}"); RUP_S=$(median "${RUPS[@]}"); RDOWN_S=$(median "${RDOWNS[@]}")

CLI_UP=–; CLI_DOWN=–
if [ -x "$VENV/bin/openstack" ]; then
  export OS_CLOUD=ferrostack OS_CLIENT_CONFIG_FILE=$DATA/clouds.yaml
  say "upload and download with the openstack CLI"
  settle
  t0=$(now)
  CID=$("$VENV/bin/openstack" image create --file "$SRC" --disk-format raw --container-format bare -f value -c id bench-cli)
  t1=$(now); CLI_UP=$(elapsed "$t0" "$t1")
  settle
  t0=$(now)
  "$VENV/bin/openstack" image save --file "$WORK/cli.raw" "$CID"; sync "$WORK/cli.raw"
  t1=$(now); CLI_DOWN=$(elapsed "$t0" "$t1")
  [ "$(md5sum "$WORK/cli.raw" | cut -d' ' -f1)" = "$MD5" ] || { say "the CLI download differs"; exit 1; }
  rm -f "$WORK/cli.raw"
fi
HWM=$(kib "$FS_PID" VmHWM)

pct() { python3 -c "import sys; print(f'{100 * float(sys.argv[1]) / float(sys.argv[2]):.0f}')" "$1" "$2"; }
cat <<EOF
## Image data benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')

- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr); work dir on $(df --output=source "$WORK" | tail -1)
- command: \`scripts/bench/image.sh --size-mib $SIZE_MIB\`; ferrostack $("$BIN" version | awk '{print $2}') (\`ferrostack up\`, SQLite, filesystem store)
- file: $SIZE_MIB MiB of random data, \`disk_format\` raw; every copy ends with the destination synced
- curl, Rust client and cp rows: median of $ROUNDS interleaved rounds (cp ${CPS[*]} s; curl upload ${UPS[*]} s, download ${DOWNS[*]} s; static server ${STATICS[*]} s; Rust client upload ${RUPS[*]} s, download ${RDOWNS[*]} s); CLI rows: one run

| copy | seconds | MiB/s | of cp |
|---|---:|---:|---:|
| \`cp\` + \`sync\` | $CP_S | $(rate "$CP_S") | 100% |
| \`md5sum\` of the file (the floor of any upload with its md5) | $MD5_S | $(rate "$MD5_S") | $(pct "$CP_S" "$MD5_S")% |
| upload, curl \`PUT /v2/images/{id}/file\` (md5 + sha512 + inspection + fsync) | $UP_S | $(rate "$UP_S") | $(pct "$CP_S" "$UP_S")% |
| download, curl \`GET /v2/images/{id}/file\` + \`sync\` | $DOWN_S | $(rate "$DOWN_S") | $(pct "$CP_S" "$DOWN_S")% |
| upload, Rust client (sendfile) | $RUP_S | $(rate "$RUP_S") | $(pct "$CP_S" "$RUP_S")% |
| download, Rust client (1 MiB buffer) + sync | $RDOWN_S | $(rate "$RDOWN_S") | $(pct "$CP_S" "$RDOWN_S")% |
| download, curl from \`python3 -m http.server\` + \`sync\` (baseline) | $STATIC_S | $(rate "$STATIC_S") | $(pct "$CP_S" "$STATIC_S")% |
| upload, \`openstack image create --file\` | $CLI_UP | $( [ "$CLI_UP" = – ] && echo – || rate "$CLI_UP") | $( [ "$CLI_UP" = – ] && echo – || echo "$(pct "$CP_S" "$CLI_UP")%") |
| download, \`openstack image save --file\` + \`sync\` | $CLI_DOWN | $( [ "$CLI_DOWN" = – ] && echo – || rate "$CLI_DOWN") | $( [ "$CLI_DOWN" = – ] && echo – || echo "$(pct "$CP_S" "$CLI_DOWN")%") |

ferrostack's download against the static file server: $(pct "$STATIC_S" "$DOWN_S")% of its throughput.

Server memory: RSS $((RSS0 / 1024)) MiB after start, peak (VmHWM) $((HWM / 1024)) MiB over all the copies: growth $(((HWM - RSS0) / 1024)) MiB.
EOF
