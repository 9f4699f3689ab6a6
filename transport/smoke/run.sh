#!/usr/bin/env bash
# transport/smoke/run.sh: cross-client smoke test of Herald's MQTT broker.
#
# Builds and starts ./examples/broker (fresh data folder, plain MQTT topics on,
# a free loopback port) and checks it with clients that are not ours:
#   - mosquitto_sub/mosquitto_pub over TCP: plain topic at QoS 0, at QoS 1, and a retained message;
#   - MQTT.js (npm mqtt@5) over WebSocket: subscribe, publish, receive;
#   - Emitter's JavaScript client (npm emitter-io@1.39.0) over WebSocket: keygen with the
#     broker's master secret, subscribe, publish, receive.
# Every check has a timeout and says why it failed; the broker is always stopped.
# Exits non-zero if any check failed. Installs what is missing: Debian's
# mosquitto-clients (and nodejs/npm), and the npm packages pinned by
# package-lock.json (npm ci into a cache folder outside the source tree, so
# that the Go tools never walk a node_modules folder).
#
# Environment:
#   SMOKE_BROKER=herald|mosquitto  broker to test (mosquitto: develop the checks against a
#                                  reference broker; it has no keygen, so the emitter-io check is skipped)
#   SMOKE_TIMEOUT=15               seconds per check
#   HERALD_BIN=...                 a broker binary to test instead of building ./examples/broker
#   SMOKE_NODE_DIR=...             where to install the npm packages
#                                  (default: ${XDG_CACHE_HOME:-~/.cache}/herald-smoke/<lockfile hash>)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

BROKER=${SMOKE_BROKER:-herald}
TIMEOUT=${SMOKE_TIMEOUT:-15}
passed=0 failed=0 skipped=0
tmp=$(mktemp -d)
broker_pid=

say() { printf 'smoke: %s\n' "$*"; }
pass() { passed=$((passed + 1)); say "PASS $1"; }
fail() { failed=$((failed + 1)); say "FAIL $1: $2"; }
skip() { skipped=$((skipped + 1)); say "SKIP $1: $2"; }
die() { say "$*"; say "$passed passed, $((failed + 1)) failed"; exit 1; }

cleanup() {
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -TERM "$broker_pid" 2>/dev/null
    # Bounded wait for a clean shutdown, then force it.
    for _ in $(seq 100); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
apt_install() {
  say "installing $* (apt-get)"
  as_root apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- tools ---
if ! command -v mosquitto_pub >/dev/null || ! command -v mosquitto_sub >/dev/null; then
  apt_install mosquitto-clients || die "cannot install mosquitto-clients"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm || die "cannot install nodejs and npm"
fi
lock_hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
node_dir=${SMOKE_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/herald-smoke/$lock_hash}
if [ ! -f "$node_dir/.installed" ]; then
  say "npm ci (mqtt@5, emitter-io@1.39.0) into $node_dir"
  mkdir -p "$node_dir" && cp "$here/package.json" "$here/package-lock.json" "$node_dir/" &&
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) &&
    touch "$node_dir/.installed" || die "npm ci failed in $node_dir"
fi
export NODE_PATH=$node_dir/node_modules

# free_port prints a loopback port on which nothing accepts connections, below
# the kernel's ephemeral range: a port that an outgoing connection holds as its
# local port (many do during a benchmark) answers no connect but cannot be bound.
eph_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$eph_low" -gt 12000 ] 2>/dev/null || eph_low=32768
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((10000 + RANDOM % (eph_low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# wait_port PORT: until the broker accepts connections on PORT (bounded), or it exits.
wait_port() {
  for _ in $(seq $((TIMEOUT * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$broker_pid" 2>/dev/null || { say "broker exited; its log:"; cat "$tmp/broker.log"; return 1; }
    sleep 0.1
  done
  say "broker does not accept connections on port $1 after ${TIMEOUT}s; its log:"; cat "$tmp/broker.log"
  return 1
}

# --- broker ---
tcp_port=$(free_port) || die "no free port"
master=
case "$BROKER" in
  herald)
    bin=${HERALD_BIN:-$tmp/herald}
    if [ -z "${HERALD_BIN:-}" ]; then
      say "building examples/broker"
      go build -o "$bin" ./examples/broker || die "go build ./examples/broker failed"
    fi
    data=$tmp/data
    "$bin" -listen "127.0.0.1:$tcp_port" -data "$data" -plain >"$tmp/broker.log" 2>&1 &
    broker_pid=$!
    ws_url="ws://127.0.0.1:$tcp_port/mqtt"
    ws_port=$tcp_port
    wait_port "$tcp_port" || die "broker did not start"
    master=$(cat "$data/master.secret" 2>/dev/null) || true
    ;;
  mosquitto)
    ws_port=$(free_port) || die "no free port"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nlistener %s 127.0.0.1\nprotocol websockets\n' \
      "$tcp_port" "$ws_port" >"$tmp/mosquitto.conf"
    mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
    "$mosq" -c "$tmp/mosquitto.conf" >"$tmp/broker.log" 2>&1 &
    broker_pid=$!
    ws_url="ws://127.0.0.1:$ws_port/mqtt"
    wait_port "$tcp_port" && wait_port "$ws_port" || die "mosquitto did not start"
    ;;
  *) die "SMOKE_BROKER must be herald or mosquitto, not $BROKER" ;;
esac
say "$BROKER (pid $broker_pid) on 127.0.0.1:$tcp_port (TCP), $ws_url (WebSocket)"

# --- mosquitto_sub / mosquitto_pub over TCP ---

# wait_file_for FILE PATTERN PID: until FILE contains PATTERN (bounded), or PID exits.
wait_file_for() {
  for _ in $(seq $((TIMEOUT * 20))); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { grep -q -- "$2" "$1" 2>/dev/null; return; }
    sleep 0.05
  done
  return 1
}

# sub_pub NAME QOS: mosquitto_sub subscribes (waits for its SUBACK), mosquitto_pub publishes, the subscriber
# must print exactly the message with the expected QoS.
sub_pub() {
  local name=$1 q=$2 topic=smoke/tcp/q$2/$$ msg="hello qos $2 from mosquitto_pub $$"
  local out=$tmp/$name.out
  # stdbuf: mosquitto_sub's stdout is a file here, which stdio would buffer until exit.
  stdbuf -oL mosquitto_sub -d -h 127.0.0.1 -p "$tcp_port" -i "smoke-sub-q$q-$$" -t "$topic" -q "$q" -C 1 -W "$TIMEOUT" \
    -F 'MSG> %q|%r|%t|%p' >"$out" 2>&1 &
  local sub=$!
  if ! wait_file_for "$out" 'Subscribed (mid' "$sub"; then
    kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null
    fail "$name" "mosquitto_sub got no SUBACK within ${TIMEOUT}s: $(tail -3 "$out" | tr '\n' ' ')"; return
  fi
  if grep -q 'Subscribed (mid: [0-9]*): 128' "$out"; then
    kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null
    fail "$name" "the broker refused the subscription (SUBACK 0x80)"; return
  fi
  if ! timeout "$TIMEOUT" mosquitto_pub -h 127.0.0.1 -p "$tcp_port" -i "smoke-pub-q$q-$$" -t "$topic" -q "$q" -m "$msg" >"$tmp/$name.pub" 2>&1; then
    kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null
    fail "$name" "mosquitto_pub failed: $(tr '\n' ' ' <"$tmp/$name.pub")"; return
  fi
  wait "$sub"
  local got
  got=$(sed -n 's/^MSG> //p' "$out")
  if [ "$got" = "$q|0|$topic|$msg" ]; then
    pass "$name (mosquitto_sub/pub over TCP, QoS $q)"
  elif [ -z "$got" ]; then
    fail "$name" "mosquitto_sub received nothing within ${TIMEOUT}s: $(tail -2 "$out" | tr '\n' ' ')"
  else
    fail "$name" "mosquitto_sub received '$got', want '$q|0|$topic|$msg' (qos|retain|topic|payload)"
  fi
}

retained() {
  local name=tcp-retained topic=smoke/tcp/retained/$$ msg="retained from mosquitto_pub $$"
  local out=$tmp/$name.out
  if ! timeout "$TIMEOUT" mosquitto_pub -h 127.0.0.1 -p "$tcp_port" -t "$topic" -q 1 -r -m "$msg" >"$tmp/$name.pub" 2>&1; then
    fail "$name" "mosquitto_pub -r failed: $(tr '\n' ' ' <"$tmp/$name.pub")"; return
  fi
  # A subscriber that arrives later gets the retained message, flagged as retained.
  timeout $((TIMEOUT + 5)) mosquitto_sub -h 127.0.0.1 -p "$tcp_port" -t "$topic" -q 1 -C 1 -W "$TIMEOUT" \
    -F 'MSG> %r|%t|%p' >"$out" 2>&1
  local got
  got=$(sed -n 's/^MSG> //p' "$out")
  # Clear it (an empty retained message deletes it).
  timeout "$TIMEOUT" mosquitto_pub -h 127.0.0.1 -p "$tcp_port" -t "$topic" -q 1 -r -n >/dev/null 2>&1
  if [ "$got" = "1|$topic|$msg" ]; then
    pass "$name (mosquitto_pub -r, then a new mosquitto_sub receives it with the retain flag)"
  elif [ -z "$got" ]; then
    fail "$name" "a new subscriber received no retained message within ${TIMEOUT}s: $(tail -2 "$out" | tr '\n' ' ')"
  else
    fail "$name" "a new subscriber received '$got', want '1|$topic|$msg' (retain|topic|payload)"
  fi
}

node_check() { # node_check NAME script args...
  local name=$1; shift
  local out
  out=$(timeout $((TIMEOUT + 5)) node "$@" "$((TIMEOUT * 1000))" 2>&1)
  local rc=$?
  if [ $rc = 0 ]; then
    pass "$name ($(printf '%s\n' "$out" | tail -1 | sed 's/^ok: //'))"
  elif [ $rc = 124 ]; then
    fail "$name" "node did not finish within $((TIMEOUT + 5))s: $(printf '%s' "$out" | tail -3 | tr '\n' ' ')"
  else
    fail "$name" "$(printf '%s' "$out" | tail -3 | tr '\n' ' ')"
  fi
}

sub_pub tcp-qos0 0
sub_pub tcp-qos1 1
retained
node_check mqttjs-ws "$here/mqttjs.js" "$ws_url"
if [ "$BROKER" = mosquitto ]; then
  skip emitter-ws "mosquitto has no emitter/keygen/"
elif [ -z "$master" ]; then
  fail emitter-ws "no master secret found in the broker's data folder ($data)"
else
  node_check emitter-ws "$here/emitter.js" 127.0.0.1 "$ws_port" "$master"
fi

if [ "$failed" -gt 0 ]; then
  say "broker log (last 20 lines):"; tail -20 "$tmp/broker.log"
fi
summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
say "$summary"
[ "$failed" = 0 ]
