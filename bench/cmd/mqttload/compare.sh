#!/usr/bin/env bash
# compare.sh: Herald's broker against mosquitto, in the same run, with mqttload.
#
# Installs nothing. Needs Go, mosquitto (Debian: apt-get install -y mosquitto)
# and, for the Herald side, ./examples/broker in this repository (without it
# only mosquitto is measured). Each broker runs on its own free loopback port
# (TCP and WebSocket), the shapes run alternately against one then the other
# for ROUNDS rounds (the order flips every round), and the medians go to a
# Markdown table with the ratios Herald/mosquitto and the targets of issue 6.
#
#   bench/cmd/mqttload/compare.sh                 # the full matrix (about 25 minutes)
#   QUICK=1 bench/cmd/mqttload/compare.sh         # 1 round, short runs, QoS 0, 64 B, TCP
#
# Settings (environment):
#   ROUNDS=3 DURATION=3s WARMUP=1s
#   SHAPES="1-1 1-10 1-100 10-10"   saturating shapes (SHAPES= runs none; same for PACED_SHAPES)
#   QOS="0 1" SIZES="64 1024" TRANSPORTS="tcp ws"
#   PACED_SHAPES="1-1 1-10 10-10" RATES="5000 20000" PACED_SIZES=64 PACED_TRANSPORTS=tcp
#   KEYED=1        also run Herald with Emitter keyed topics (compared with mosquitto's plain runs)
#   OUT=bench/results/mqtt.md   RAW=<OUT without .md>.jsonl (one JSON line per run)
#   RAW_APPEND=1   add to RAW instead of starting it afresh, and summarise all of it: run the
#                  matrix in parts (e.g. one transport and QoS at a time) on a shared machine
#   HERALD_BIN=... use this broker binary instead of building ./examples/broker
#   HERALD_DESC="..." how the table's header describes that binary (e.g. the commit it was built from)
#   HERALD_B_BIN=... a second Herald binary (e.g. a change against its base), labelled herald-b:
#                  it runs in the same rounds, and the output gets two more tables, herald-b
#                  against mosquitto and herald-b against herald; HERALD_B_DESC describes it
#   HERALD_B_ARGS="..." herald-b's extra flags instead of HERALD_ARGS (e.g. the same binary with
#                  one limit changed: HERALD_B_BIN=$HERALD_BIN HERALD_B_ARGS="-max-inflight 1024")
#   HERALD_ARGS="..." extra broker flags; MOSQUITTO_CONF_EXTRA="..." extra mosquitto.conf lines
#   MOSQUITTO_NODELAY=1  set_tcp_nodelay true (default): without it mosquitto's Nagle delays
#                  deliveries (p50 2-4 ms instead of 0.2 ms at 5k msg/s 1-10 here), so the latency
#                  targets are measured against mosquitto at its best; 0 keeps Debian's default
#   HERALD_CPUPROFILE=file   profile the broker (if it has -cpuprofile) over the whole comparison
set -euo pipefail
cd "$(dirname "$0")/../../.."
root=$PWD

if [ "${QUICK:-}" = 1 ]; then
  : "${ROUNDS:=1}" "${DURATION:=1s}" "${WARMUP:=300ms}" "${QOS:=0}" "${SIZES:=64}" "${TRANSPORTS:=tcp}"
  # "=" not ":=": PACED_SHAPES= (set and empty) means no paced runs, as it does without QUICK.
  : "${PACED_SHAPES=1-1 1-10}" "${RATES:=5000}"
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}
WARMUP=${WARMUP:-1s}
SHAPES=${SHAPES-1-1 1-10 1-100 10-10}
QOS=${QOS:-0 1}
SIZES=${SIZES:-64 1024}
TRANSPORTS=${TRANSPORTS:-tcp ws}
PACED_SHAPES=${PACED_SHAPES-1-1 1-10 10-10}
RATES=${RATES:-5000 20000}
PACED_SIZES=${PACED_SIZES:-64}
PACED_TRANSPORTS=${PACED_TRANSPORTS:-tcp}
KEYED=${KEYED:-0}
OUT=${OUT:-bench/results/mqtt.md}
RAW=${RAW:-${OUT%.md}.jsonl}

MOSQUITTO=$(command -v mosquitto || true)
[ -z "$MOSQUITTO" ] && [ -x /usr/sbin/mosquitto ] && MOSQUITTO=/usr/sbin/mosquitto
if [ -z "$MOSQUITTO" ]; then
  echo "compare.sh: mosquitto not found; install it: apt-get update && apt-get install -y mosquitto" >&2
  exit 1
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf 'compare.sh: %s\n' "$*" >&2; }

# free_port prints a loopback port on which nothing accepts connections, below
# the kernel's ephemeral range: a port that an outgoing connection holds as its
# local port (many do during a benchmark) answers no connect but cannot be bound.
eph_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$eph_low" -gt 12000 ] 2>/dev/null || eph_low=32768
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((10000 + RANDOM % (eph_low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "compare.sh: no free port" >&2; exit 1
}

# wait_port PORT PID NAME: until PORT accepts connections (at most 20 s) or PID dies.
wait_port() {
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { log "$3 exited before listening; its log:"; cat "$tmp/$3.log" >&2; exit 1; }
    sleep 0.1
  done
  log "$3 did not listen on port $1 within 20 s; its log:"; cat "$tmp/$3.log" >&2; exit 1
}

log "building mqttload"
(cd bench && go build -o "$tmp/mqttload" ./cmd/mqttload)
load=$tmp/mqttload

# mosquitto: plain TCP and WebSocket listeners, TCP_NODELAY, otherwise Debian's defaults.
mq_tcp=$(free_port); mq_ws=$(free_port)
mq_settings="default settings plus a WebSocket listener"
nodelay=
if [ "${MOSQUITTO_NODELAY:-1}" = 1 ]; then
  nodelay="set_tcp_nodelay true"; mq_settings="default settings plus set_tcp_nodelay true and a WebSocket listener"
fi
cat >"$tmp/mosquitto.conf" <<EOF
$nodelay
listener $mq_tcp 127.0.0.1
allow_anonymous true
listener $mq_ws 127.0.0.1
protocol websockets
${MOSQUITTO_CONF_EXTRA:-}
EOF
"$MOSQUITTO" -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
mq_pid=$!; pids+=("$mq_pid")
wait_port "$mq_tcp" "$mq_pid" mosquitto
wait_port "$mq_ws" "$mq_pid" mosquitto
mq_version=$({ "$MOSQUITTO" -h 2>&1 || true; } | sed -n 's/^mosquitto version \([^ ]*\).*/\1/p' | head -1)
log "mosquitto $mq_version pid $mq_pid on $mq_tcp (tcp) and $mq_ws (ws)"

# Herald: one port for TCP and WebSocket, plain MQTT topics on, a fresh data folder.
brokers=(mosquitto)
herald_master=
if [ -n "${HERALD_BIN:-}" ] || [ -d examples/broker ]; then
  if [ -z "${HERALD_BIN:-}" ]; then
    log "building examples/broker"
    go build -o "$tmp/herald" ./examples/broker
    HERALD_BIN=$tmp/herald
    rev=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
    if [ -n "$(git status --porcelain -- . ':!bench' 2>/dev/null)" ]; then rev="$rev plus uncommitted changes"; fi
    : "${HERALD_DESC:=examples/broker built from this tree (commit $rev)}"
  fi
  : "${HERALD_DESC:=$HERALD_BIN}"
  h_port=$(free_port)
  # shellcheck disable=SC2086
  "$HERALD_BIN" -listen "127.0.0.1:$h_port" -data "$tmp/herald-data" -plain \
    ${HERALD_CPUPROFILE:+-cpuprofile "$HERALD_CPUPROFILE"} ${HERALD_ARGS:-} >"$tmp/herald.log" 2>&1 &
  h_pid=$!; pids+=("$h_pid")
  wait_port "$h_port" "$h_pid" herald
  brokers=(herald mosquitto)
  log "herald pid $h_pid on $h_port (tcp and ws)"
  if [ -n "${HERALD_B_BIN:-}" ]; then
    : "${HERALD_B_DESC:=$HERALD_B_BIN}"
    hb_port=$(free_port)
    # shellcheck disable=SC2086
    "$HERALD_B_BIN" -listen "127.0.0.1:$hb_port" -data "$tmp/herald-b-data" -plain ${HERALD_B_ARGS-${HERALD_ARGS:-}} >"$tmp/herald-b.log" 2>&1 &
    hb_pid=$!; pids+=("$hb_pid")
    wait_port "$hb_port" "$hb_pid" herald-b
    brokers=(herald herald-b mosquitto)
    log "herald-b pid $hb_pid on $hb_port (tcp and ws)"
  fi
  if [ "$KEYED" = 1 ]; then
    herald_master=$(cat "$tmp/herald-data/master.secret" 2>/dev/null || true)
    [ -n "$herald_master" ] || { log "KEYED=1: no master secret found in $tmp/herald-data"; exit 1; }
  fi
else
  log "no examples/broker in this tree: measuring mosquitto only"
fi

url() { # url BROKER TRANSPORT
  case "$1:$2" in
    mosquitto:tcp) echo "tcp://127.0.0.1:$mq_tcp" ;;
    mosquitto:ws) echo "ws://127.0.0.1:$mq_ws/mqtt" ;;
    herald:tcp) echo "tcp://127.0.0.1:$h_port" ;;
    herald:ws) echo "ws://127.0.0.1:$h_port/mqtt" ;;
    herald-b:tcp) echo "tcp://127.0.0.1:$hb_port" ;;
    herald-b:ws) echo "ws://127.0.0.1:$hb_port/mqtt" ;;
  esac
}
pid_of() {
  case "$1" in
    herald) echo "$h_pid" ;;
    herald-b) echo "$hb_pid" ;;
    *) echo "$mq_pid" ;;
  esac
}

mkdir -p "$(dirname "$OUT")"
[ "${RAW_APPEND:-0}" = 1 ] || : >"$RAW"
failures=0
one() { # one BROKER TRANSPORT mqttload-args...
  local b=$1 tr=$2; shift 2
  local line
  if line=$("$load" -url "$(url "$b" "$tr")" -broker-pid "$(pid_of "$b")" -label "$b" \
      -duration "$DURATION" -warmup "$WARMUP" -json "$@" 2>>"$tmp/runs.log"); then :; else
    failures=$((failures + 1)); log "run failed: $b $tr $*"; tail -3 "$tmp/runs.log" >&2
  fi
  [ -n "$line" ] && printf '%s\n' "$line" >>"$RAW"
  return 0
}

for ((round = 1; round <= ROUNDS; round++)); do
  # The order rotates every round (with two brokers: flips).
  order=()
  for ((i = 0; i < ${#brokers[@]}; i++)); do order+=("${brokers[(i + round - 1) % ${#brokers[@]}]}"); done
  log "round $round/$ROUNDS (${order[*]})"
  for tr in $TRANSPORTS; do for q in $QOS; do for sz in $SIZES; do for sh in $SHAPES; do
    for b in "${order[@]}"; do
      one "$b" "$tr" -shape "$sh" -qos "$q" -size "$sz"
      if [ "$b" = herald ] && [ -n "$herald_master" ]; then
        one "$b" "$tr" -shape "$sh" -qos "$q" -size "$sz" -master "$herald_master"
      fi
    done
  done; done; done; done
  for tr in $PACED_TRANSPORTS; do for q in $QOS; do for sz in $PACED_SIZES; do for r in $RATES; do for sh in $PACED_SHAPES; do
    for b in "${order[@]}"; do
      one "$b" "$tr" -shape "$sh" -qos "$q" -size "$sz" -rate "$r"
    done
  done; done; done; done; done
done

{
  echo "# MQTT brokers under load: Herald vs mosquitto"
  echo
  echo "Generated by \`bench/cmd/mqttload/compare.sh\` on $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
  [ -n "${HERALD_DESC:-}" ] && echo "Herald: ${HERALD_DESC}, flags -plain${HERALD_ARGS:+ $HERALD_ARGS} (bbolt store, Emitter matcher, other defaults)."
  echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(uname -sr), $(go version | cut -d' ' -f3);"
  echo "mosquitto $mq_version (Debian package, $mq_settings${MOSQUITTO_CONF_EXTRA:+; extra: $MOSQUITTO_CONF_EXTRA})."
  echo "Each figure is the median of $ROUNDS round(s) of $DURATION measured after $WARMUP of warmup; brokers alternate within each round."
  echo "Load generator: \`mqttload\` (raw-socket MQTT 3.1.1 client in this directory, window 1000 messages per publisher);"
  echo "broker CPU is utime+stime from /proc/<pid>/stat (10 ms ticks) over the measured window, divided by deliveries."
  if [ "${RAW_APPEND:-0}" = 1 ]; then
    echo "Runs accumulated over several invocations (RAW_APPEND=1); the last one: SHAPES='$SHAPES' QOS='$QOS' SIZES='$SIZES' TRANSPORTS='$TRANSPORTS' PACED_SHAPES='$PACED_SHAPES' RATES='$RATES'."
  else
    echo "Settings: SHAPES='$SHAPES' QOS='$QOS' SIZES='$SIZES' TRANSPORTS='$TRANSPORTS' PACED_SHAPES='$PACED_SHAPES' RATES='$RATES' KEYED=$KEYED."
  fi
  echo "Shapes: 1-N is one publisher and N subscribers on one topic; 10-10 is ten publisher/subscriber pairs on ten topics."
  echo "The machine is shared: other jobs compete for its CPUs, so absolute figures move between runs; compare within a row."
  echo
  "$load" summarize -a herald -b mosquitto "$RAW"
  if [ -n "${HERALD_B_BIN:-}" ]; then
    echo
    echo "## herald-b: ${HERALD_B_DESC}"
    echo
    "$load" summarize -a herald-b -b mosquitto "$RAW"
    echo
    echo "## herald-b against herald"
    echo
    "$load" summarize -a herald-b -b herald "$RAW"
  fi
  if ((failures > 0)); then echo; echo "$failures run(s) failed; see the notes column and $RAW."; fi
  echo
  echo "Reproduce: \`bench/cmd/mqttload/compare.sh\` (needs \`mosquitto\`); one run by hand:"
  echo "\`(cd bench && go run ./cmd/mqttload -url tcp://127.0.0.1:1883 -shape 1-10 -qos 0 -size 64 -broker-pid \$(pgrep -x mosquitto))\`."
} >"$OUT"
log "wrote $OUT (raw runs in $RAW)"
