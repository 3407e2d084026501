#!/usr/bin/env bash
# loadtest.sh: load runs for jwtgate (make loadtest). Not part of make test.
#
# Builds bin/jwtgate and the tools of the separate bench module (bench/: loadgen,
# ginjwt, upstream, probe), starts the servers on free 127.0.0.1 ports and drives
# each route with the closed-loop load generator, then prints requests/s, p50
# and p99 per route and the ratios the performance targets are stated in.
# With taskset and two or more CPUs, servers run on one core and the load
# generator on another. Everything stays on loopback; every child is stopped on
# exit. JWTGATE_* variables of the caller's environment are ignored.
#
# Environment:
#   LOADTEST_DURATION       measured time per run (default 10s)
#   LOADTEST_CONNS          concurrent connections for throughput runs (default 32)
#   LOADTEST_WARMUP         unmeasured warm-up per run (default 2s)
#   LOADTEST_LATENCY_CONNS  connections for the proxy latency runs (default 1)
#   LOADTEST_SERVER_CPUS    taskset CPU list for the servers (default 0)
#   LOADTEST_LOADGEN_CPUS   taskset CPU list for the load generator (default 1)
#   LOADTEST_ONLY=dpop      run only DPoP against Bearer (scripts/loadtest-dpop.sh)
#   LOADTEST_SOAK=1         also run a 60 s protected-route load and print jwtgate's
#                           heap in use (go_memstats_heap_inuse_bytes) along the way
#   LOADTEST_SOAK_DURATION  length of that run (default 60s)
#   LOADTEST_ROUNDS         rounds of the paired runs behind each target ratio (default 5)
#   LOADTEST_ROUND_DURATION measured time of each run in a round (default 3s)
#   LOADTEST_ONLY=counting  run only the usage-counting pairs (scripts/loadtest-counting.sh)
#   LOADTEST_ONLY=proxies   run only the proxy comparison (nginx, Caddy, jwtgate;
#                           scripts/loadtest-proxies.sh, which lists its settings)
set -euo pipefail

cd "$(dirname "$0")/.."

# Runs are reproducible: no JWTGATE_* setting of the caller's environment applies.
while read -r var; do
	unset "$var"
done < <(compgen -e | grep '^JWTGATE_' || true)

GO=${GO:-go}
DURATION=${LOADTEST_DURATION:-10s}
CONNS=${LOADTEST_CONNS:-32}
WARMUP=${LOADTEST_WARMUP:-2s}
LAT_CONNS=${LOADTEST_LATENCY_CONNS:-1}
SERVER_CPUS=${LOADTEST_SERVER_CPUS:-0}
LOADGEN_CPUS=${LOADTEST_LOADGEN_CPUS:-1}
SOAK=${LOADTEST_SOAK:-0}
SOAK_DURATION=${LOADTEST_SOAK_DURATION:-60s}
ROUNDS=${LOADTEST_ROUNDS:-5}
ROUND_DURATION=${LOADTEST_ROUND_DURATION:-3s}

# A fixed benchmark-only secret, so that every jwtgate instance of the run
# verifies every other one's tokens. Never use it anywhere else.
SECRET='jwtgate-loadtest-only-secret-0123456789abcdef'
API_KEY='loadtest-api-key'
CHAT_BODY='{"model":"bench","messages":[{"role":"user","content":"ping"}]}'
STREAM_BODY='{"model":"bench","stream":true,"messages":[{"role":"user","content":"ping"}]}'

work=$(mktemp -d "${TMPDIR:-/tmp}/jwtgate-loadtest.XXXXXX")
children=()

cleanup() {
	local pid alive
	for pid in "${children[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	# Servers shut down gracefully on SIGTERM; whatever still runs after 6 s is killed.
	for _ in $(seq 60); do
		alive=0
		for pid in "${children[@]}"; do
			if kill -0 "$pid" 2>/dev/null; then alive=1; fi
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "${children[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
	echo "loadtest: $*" >&2
	exit 1
}

# --- build -------------------------------------------------------------------

echo "building bin/jwtgate and the bench tools" >&2
make --no-print-directory build GO="$GO" >&2
mkdir -p bin
(cd bench && "$GO" build -o ../bin/ ./loadgen ./ginjwt ./upstream ./probe)

# --- CPU pinning --------------------------------------------------------------

server_pin=()
loadgen_pin=()
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
if command -v taskset >/dev/null 2>&1 && [ "$ncpu" -ge 2 ]; then
	server_pin=(taskset -c "$SERVER_CPUS")
	loadgen_pin=(taskset -c "$LOADGEN_CPUS")
	pinning="servers on CPU $SERVER_CPUS, load generator on CPU $LOADGEN_CPUS (taskset)"
else
	pinning="not pinned (taskset missing or a single CPU): figures include contention"
fi

# --- servers ------------------------------------------------------------------

# start_jwtgate NAME [VAR=value ...]: starts jwtgate with the common settings plus
# the given environment on a free port and sets $url to its base URL.
start_jwtgate() {
	local name=$1 attempt port pid
	shift
	for attempt in 1 2 3; do
		port=$(bin/probe freeport)
		env JWTGATE_SERVER_ADDR="127.0.0.1:$port" \
			JWTGATE_JWT_SECRET="$SECRET" \
			JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=0 \
			JWTGATE_LOG_LEVEL=warn \
			JWTGATE_CHAT_ECHO_DELAY=0s \
			"$@" "${server_pin[@]}" bin/jwtgate serve 2>"$work/$name.log" &
		pid=$!
		children+=("$pid")
		if bin/probe wait -url "http://127.0.0.1:$port/healthz" -timeout 15s 2>/dev/null && kill -0 "$pid" 2>/dev/null; then
			url="http://127.0.0.1:$port"
			spid=$pid
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		echo "loadtest: $name did not start (attempt $attempt); its log:" >&2
		tail -n 5 "$work/$name.log" >&2 || true
	done
	die "$name would not start"
}

# start_bench NAME BINARY [ARGS...]: starts a bench server on 127.0.0.1:0 and
# sets $url from the "listening <addr>" line it prints on stderr.
start_bench() {
	local name=$1 bin=$2 pid addr
	shift 2
	"${server_pin[@]}" "bin/$bin" -addr 127.0.0.1:0 "$@" 2>"$work/$name.log" &
	pid=$!
	children+=("$pid")
	for _ in $(seq 150); do
		addr=$(sed -n 's/^listening \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$work/$name.log")
		if [ -n "$addr" ]; then
			url="http://$addr"
			spid=$pid
			bin/probe wait -url "$url/healthz" -timeout 5s || die "$name does not answer GET /healthz"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$work/$name.log" >&2
	die "$name did not start"
}

# --- measuring ------------------------------------------------------------------

declare -A RPS P50 P99 BAD SCPU GCPU
order=()
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# cpu_ticks PID...: CPU time (user + system, in clock ticks) the processes used so far.
cpu_ticks() {
	local pid total=0 t
	for pid in "$@"; do
		# Fields 14 and 15 of /proc/PID/stat, counted after the ")" closing the name.
		t=$(sed -E 's/.*\) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

# measure KEY CONNS "SERVER-PIDS" LOADGEN-ARGS...: one load run; stores its figures
# under KEY, with the cores the servers (SERVER-PIDS) used during the whole run.
measure() {
	local key=$1 conns=$2 line pid t0 t1 s0 s1
	local -a spids
	read -r -a spids <<<"$3"
	shift 3
	echo "run: $key (c=$conns, $DURATION)" >&2
	t0=$(date +%s%N)
	s0=$(cpu_ticks "${spids[@]}")
	"${loadgen_pin[@]}" bin/loadgen -name "$key" -c "$conns" -d "$DURATION" -warmup "$WARMUP" "$@" >"$work/run.json" &
	pid=$!
	children+=("$pid")
	wait "$pid" || die "load generator failed for $key"
	unset 'children[-1]'
	s1=$(cpu_ticks "${spids[@]}")
	t1=$(date +%s%N)
	line=$(cat "$work/run.json")
	echo "$line" >>"$work/results.jsonl"
	RPS[$key]=$(num "$line" rps)
	P50[$key]=$(num "$line" p50_ms)
	P99[$key]=$(num "$line" p99_ms)
	BAD[$key]=$(($(num "$line" errors) + $(num "$line" non2xx)))
	GCPU[$key]=$(num "$line" cpu)
	SCPU[$key]=$(awk -v d="$((s1 - s0))" -v hz="$CLK_TCK" -v ns="$((t1 - t0))" \
		'BEGIN { printf "%.2f", d / hz / (ns / 1e9) }')
	order+=("$key")
}

# num JSON FIELD: the number in FIELD of loadgen's one-line JSON.
num() {
	sed -nE "s/.*\"$2\":(-?[0-9.eE+-]+).*/\1/p" <<<"$1"
}

# ratio A B: A/B with two decimals.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'
}

# added A B: how much larger A is than B, in percent.
added() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%+.1f%%", (a - b) * 100 / b; else printf "n/a" }'
}

# Paired rounds (see "paired rounds" below for why).
declare -A PAIR PAIRS
pair_order=()

# quick_rps LOADGEN-ARGS...: requests/s of one short run.
quick_rps() {
	"${loadgen_pin[@]}" bin/loadgen -name round -c "$CONNS" -d "$ROUND_DURATION" -warmup 1s "$@" >"$work/round.json"
	num "$(cat "$work/round.json")" rps
}

# pair NAME A-ARGS... -- B-ARGS...: the median over ROUNDS rounds of A's
# requests/s over B's.
pair() {
	local name=$1 side=a arg i ra rb
	local -a a=() b=() rs=()
	shift
	for arg in "$@"; do
		if [ "$arg" = "--" ]; then
			side=b
		elif [ "$side" = a ]; then
			a+=("$arg")
		else
			b+=("$arg")
		fi
	done
	echo "pair: $name ($ROUNDS rounds of $ROUND_DURATION each side)" >&2
	for ((i = 0; i < ROUNDS; i++)); do
		if ((i % 2 == 0)); then
			ra=$(quick_rps "${a[@]}")
			rb=$(quick_rps "${b[@]}")
		else
			rb=$(quick_rps "${b[@]}")
			ra=$(quick_rps "${a[@]}")
		fi
		rs+=("$(ratio "$ra" "$rb")")
	done
	PAIRS[$name]="${rs[*]}"
	PAIR[$name]=$(printf '%s\n' "${rs[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	pair_order+=("$name")
}

# report_pairs prints the paired rounds' medians.
report_pairs() {
	echo
	echo "paired rounds (median of $ROUNDS rounds; A and B back to back, $ROUND_DURATION each)"
	for name in "${pair_order[@]}"; do
		printf '  %-56s %5s  (rounds: %s)\n' "$name" "${PAIR[$name]}" "${PAIRS[$name]}"
	done
}

bearer() {
	printf 'Authorization: Bearer %s' "$1"
}

login() { # login URL: a jwtgate session token
	bin/probe json -url "$1/sessions" -method POST -header "X-API-Key: $API_KEY" -field access_token
}

# report_header: the first lines of the report (when, what, where).
report_header() {
	echo
	echo "jwtgate load test: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git describe --always --dirty 2>/dev/null || echo unknown)"
	echo "$("$GO" version | cut -d' ' -f3-), $ncpu CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1))"
	echo "duration $DURATION per run after $WARMUP warm-up, $CONNS connections (proxy latency runs: $LAT_CONNS); $pinning"
}

# DPoP against Bearer: with the other runs, or alone.
# shellcheck source=scripts/loadtest-dpop.sh
source scripts/loadtest-dpop.sh
if [ "${LOADTEST_ONLY:-}" = dpop ]; then
	run_dpop
	report_header
	report_dpop
	exit 0
fi

# Usage counting, counted against unlimited: with the other runs, or alone.
# shellcheck source=scripts/loadtest-counting.sh
source scripts/loadtest-counting.sh
if [ "${LOADTEST_ONLY:-}" = counting ]; then
	run_counting
	report_header
	report_pairs
	exit 0
fi

# The comparison with nginx and Caddy: run after jwtgate's own runs, or alone.
# shellcheck source=scripts/loadtest-proxies.sh
source scripts/loadtest-proxies.sh
if [ "${LOADTEST_ONLY:-}" = proxies ]; then
	run_proxy_comparison
	if [ "$PPROF" = 1 ]; then profile_jwtgate; fi
	report_header
	report_proxy_comparison
	if [ "$PPROF" = 1 ]; then report_profiles; fi
	report_proxy_runs
	exit 0
fi

# --- jwtgate and gin-jwt ---------------------------------------------------------

start_jwtgate jwtgate
JG=$url JG_PID=$spid
start_jwtgate jwtgate-nocache JWTGATE_JWT_VERIFY_CACHE_SIZE=0
JGNC=$url JGNC_PID=$spid
export GINJWT_SECRET="$SECRET"
start_bench ginjwt ginjwt
GJ=$url GJ_PID=$spid

JG_TOKEN=$(login "$JG")
JGNC_TOKEN=$(login "$JGNC")
GJ_TOKEN=$(bin/probe json -url "$GJ/login" -method POST -header 'Content-Type: application/json' \
	-body "{\"api_key\":\"$API_KEY\"}" -field token)

measure "jwtgate GET /healthz" "$CONNS" "$JG_PID" -url "$JG/healthz"
measure "jwtgate GET /sessions/current" "$CONNS" "$JG_PID" -url "$JG/sessions/current" -header "$(bearer "$JG_TOKEN")"
measure "jwtgate nocache GET /healthz" "$CONNS" "$JGNC_PID" -url "$JGNC/healthz"
measure "jwtgate nocache GET /sessions/current" "$CONNS" "$JGNC_PID" -url "$JGNC/sessions/current" -header "$(bearer "$JGNC_TOKEN")"
measure "jwtgate POST /sessions" "$CONNS" "$JG_PID" -url "$JG/sessions" -method POST \
	-header 'Content-Type: application/json' -body "{\"api_key\":\"$API_KEY\"}"
measure "jwtgate POST /chat/completions (echo)" "$CONNS" "$JG_PID" -url "$JG/chat/completions" -method POST \
	-header "$(bearer "$JG_TOKEN")" -header 'Content-Type: application/json' -body "$CHAT_BODY"
measure "gin-jwt GET /healthz" "$CONNS" "$GJ_PID" -url "$GJ/healthz"
measure "gin-jwt GET /sessions/current" "$CONNS" "$GJ_PID" -url "$GJ/sessions/current" -header "$(bearer "$GJ_TOKEN")"
measure "gin-jwt POST /login" "$CONNS" "$GJ_PID" -url "$GJ/login" -method POST \
	-header 'Content-Type: application/json' -body "{\"api_key\":\"$API_KEY\"}"

# --- paired rounds ------------------------------------------------------------------
# On a shared machine throughput drifts by tens of percent over minutes, so one run
# of A and a later run of B can disagree about A/B. Each target ratio is therefore
# also measured in ROUNDS short rounds of A and B back to back (alternating which
# goes first), and the median of the per-round ratios is reported.

session_body="{\"api_key\":\"$API_KEY\"}"
pair "protected / unprotected, cache on" -url "$JG/sessions/current" -header "$(bearer "$JG_TOKEN")" -- -url "$JG/healthz"
pair "protected / unprotected, cache off" -url "$JGNC/sessions/current" -header "$(bearer "$JGNC_TOKEN")" -- -url "$JGNC/healthz"
pair "jwtgate protected / gin-jwt protected" -url "$JG/sessions/current" -header "$(bearer "$JG_TOKEN")" -- \
	-url "$GJ/sessions/current" -header "$(bearer "$GJ_TOKEN")"
pair "jwtgate POST /sessions / gin-jwt login" -url "$JG/sessions" -method POST -header 'Content-Type: application/json' \
	-body "$session_body" -- -url "$GJ/login" -method POST -header 'Content-Type: application/json' -body "$session_body"
pair "jwtgate /healthz / gin-jwt /healthz" -url "$JG/healthz" -- -url "$GJ/healthz"

# --- DPoP ----------------------------------------------------------------------------

run_dpop

# --- proxy ------------------------------------------------------------------------

start_bench upstream upstream -event-delay 10ms
UP=$url UP_PID=$spid
start_jwtgate jwtgate-proxy JWTGATE_CHAT_UPSTREAM_URL="$UP/v1"
JGP=$url JGP_PID=$spid
JGP_TOKEN=$(login "$JGP")
json_h='Content-Type: application/json'

measure "direct JSON c=$LAT_CONNS" "$LAT_CONNS" "$UP_PID" -url "$UP/v1/chat/completions" -method POST -header "$json_h" -body "$CHAT_BODY"
measure "via jwtgate JSON c=$LAT_CONNS" "$LAT_CONNS" "$JGP_PID $UP_PID" -url "$JGP/chat/chat/completions" -method POST \
	-header "$(bearer "$JGP_TOKEN")" -header "$json_h" -body "$CHAT_BODY"
measure "direct JSON c=$CONNS" "$CONNS" "$UP_PID" -url "$UP/v1/chat/completions" -method POST -header "$json_h" -body "$CHAT_BODY"
measure "via jwtgate JSON c=$CONNS" "$CONNS" "$JGP_PID $UP_PID" -url "$JGP/chat/chat/completions" -method POST \
	-header "$(bearer "$JGP_TOKEN")" -header "$json_h" -body "$CHAT_BODY"
measure "direct stream first event c=$LAT_CONNS" "$LAT_CONNS" "$UP_PID" -first-byte -url "$UP/v1/chat/completions" \
	-method POST -header "$json_h" -body "$STREAM_BODY"
measure "via jwtgate stream first event c=$LAT_CONNS" "$LAT_CONNS" "$JGP_PID $UP_PID" -first-byte -url "$JGP/chat/chat/completions" \
	-method POST -header "$(bearer "$JGP_TOKEN")" -header "$json_h" -body "$STREAM_BODY"
# The same small JSON from an upstream that takes 20 ms to answer, as any real chat
# backend takes at least that long: what jwtgate adds, relative to a realistic call.
start_bench upstream-slow upstream -response-delay 20ms
UPS=$url UPS_PID=$spid
start_jwtgate jwtgate-proxy-slow JWTGATE_CHAT_UPSTREAM_URL="$UPS/v1"
JGPS=$url JGPS_PID=$spid
JGPS_TOKEN=$(login "$JGPS")
measure "direct JSON 20ms backend c=$LAT_CONNS" "$LAT_CONNS" "$UPS_PID" -url "$UPS/v1/chat/completions" -method POST -header "$json_h" -body "$CHAT_BODY"
measure "via jwtgate JSON 20ms backend c=$LAT_CONNS" "$LAT_CONNS" "$JGPS_PID $UPS_PID" -url "$JGPS/chat/chat/completions" -method POST \
	-header "$(bearer "$JGPS_TOKEN")" -header "$json_h" -body "$CHAT_BODY"
# Session limits: the same proxied route with a 1 KiB chat body, for a session
# without limits and for one whose limits make jwtgate read the body, check its
# model and add the output cap (target: limits / no limits >= 0.95).
KIB_BODY=$(awk 'BEGIN { h = "{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\""; t = "\"}]}";
	s = h; while (length(s) + length(t) < 1024) s = s "x"; print s t }')
JGP_LIMITED=$(bin/probe json -url "$JGP/sessions" -method POST -header "X-API-Key: $API_KEY" -header "$json_h" \
	-body '{"limits":{"models":["bench","claude-*"],"paths":["/chat/completions"],"max_output_tokens":1024}}' -field access_token)
measure "via jwtgate 1 KiB JSON c=$CONNS" "$CONNS" "$JGP_PID" -url "$JGP/chat/chat/completions" -method POST \
	-header "$(bearer "$JGP_TOKEN")" -header "$json_h" -body "$KIB_BODY"
measure "via jwtgate 1 KiB JSON, limits c=$CONNS" "$CONNS" "$JGP_PID" -url "$JGP/chat/chat/completions" -method POST \
	-header "$(bearer "$JGP_LIMITED")" -header "$json_h" -body "$KIB_BODY"
pair "proxied chat, limits / no limits (1 KiB body)" -url "$JGP/chat/chat/completions" -method POST \
	-header "$(bearer "$JGP_LIMITED")" -header "$json_h" -body "$KIB_BODY" -- \
	-url "$JGP/chat/chat/completions" -method POST -header "$(bearer "$JGP_TOKEN")" -header "$json_h" -body "$KIB_BODY"
run_counting
stream_total_direct=$(num "$(grep -F "\"direct stream first event" "$work/results.jsonl")" total_p50_ms)
stream_total_proxy=$(num "$(grep -F "\"via jwtgate stream first event" "$work/results.jsonl")" total_p50_ms)
if [ "${LOADTEST_PROXIES:-1}" != 0 ]; then
	run_proxy_comparison
	if [ "$PPROF" = 1 ]; then profile_jwtgate; fi
fi

# --- report -------------------------------------------------------------------------

report_header
echo
printf '%-44s %10s %8s %8s %5s %8s %8s\n' "run" "req/s" "p50 ms" "p99 ms" "bad" "srv cpu" "gen cpu"
for key in "${order[@]}"; do
	printf '%-44s %10s %8s %8s %5s %8s %8s\n' "$key" "${RPS[$key]}" "${P50[$key]}" "${P99[$key]}" "${BAD[$key]}" \
		"${SCPU[$key]}" "${GCPU[$key]}"
done
echo "bad: transport errors + non-2xx responses (non-zero makes the row suspect)."
echo "srv cpu / gen cpu: cores used by the server(s) / the load generator; with pinning, a"
echo "server near 1.00 was the limit, a generator near 1.00 means the generator was."

h="jwtgate GET /healthz"
p="jwtgate GET /sessions/current"
hn="jwtgate nocache GET /healthz"
pn="jwtgate nocache GET /sessions/current"
echo
echo "ratios (requests/s)                                        value  target"
printf '  %-56s %5s  %s\n' "protected / unprotected, cache on" "$(ratio "${RPS[$p]}" "${RPS[$h]}")" ">= 0.95"
printf '  %-56s %5s  %s\n' "protected / unprotected, cache off" "$(ratio "${RPS[$pn]}" "${RPS[$hn]}")" ">= 0.80"
printf '  %-56s %5s  %s\n' "jwtgate protected / gin-jwt protected" "$(ratio "${RPS[$p]}" "${RPS["gin-jwt GET /sessions/current"]}")" ">= 1.50"
printf '  %-56s %5s  %s\n' "jwtgate protected (cache off) / gin-jwt protected" "$(ratio "${RPS[$pn]}" "${RPS["gin-jwt GET /sessions/current"]}")" ""
printf '  %-56s %5s  %s\n' "jwtgate POST /sessions / gin-jwt login" "$(ratio "${RPS["jwtgate POST /sessions"]}" "${RPS["gin-jwt POST /login"]}")" ">= 1.30"
printf '  %-56s %5s  %s\n' "jwtgate unprotected / gin-jwt unprotected (server floor)" "$(ratio "${RPS[$h]}" "${RPS["gin-jwt GET /healthz"]}")" ">= 0.95"

report_pairs

dl="direct JSON c=$LAT_CONNS"
vl="via jwtgate JSON c=$LAT_CONNS"
dt="direct JSON c=$CONNS"
vt="via jwtgate JSON c=$CONNS"
ds="direct stream first event c=$LAT_CONNS"
vs="via jwtgate stream first event c=$LAT_CONNS"
echo
echo "proxy (loopback upstream: small JSON; stream of 5 events 10ms apart)"
printf '  %-56s %s\n' "added p50, small JSON, c=$LAT_CONNS (target < 15%)" \
	"$(added "${P50[$vl]}" "${P50[$dl]}") (${P50[$dl]} -> ${P50[$vl]} ms)"
printf '  %-56s %s\n' "added p99, small JSON, c=$LAT_CONNS" \
	"$(added "${P99[$vl]}" "${P99[$dl]}") (${P99[$dl]} -> ${P99[$vl]} ms)"
dr="direct JSON 20ms backend c=$LAT_CONNS"
vr="via jwtgate JSON 20ms backend c=$LAT_CONNS"
printf '  %-56s %s\n' "added p50, small JSON, 20ms backend, c=$LAT_CONNS" \
	"$(added "${P50[$vr]}" "${P50[$dr]}") (${P50[$dr]} -> ${P50[$vr]} ms)"
printf '  %-56s %s\n' "throughput via jwtgate / direct, c=$CONNS" "$(ratio "${RPS[$vt]}" "${RPS[$dt]}")"
kl="via jwtgate 1 KiB JSON, limits c=$CONNS"
kn="via jwtgate 1 KiB JSON c=$CONNS"
printf '  %-56s %s\n' "1 KiB JSON, limits / no limits, c=$CONNS (target >= 0.95)" "$(ratio "${RPS[$kl]}" "${RPS[$kn]}")"
# jwtgate's CPU per request (its cores over its requests/s) moves less with the
# machine's load than requests/s do: no limits / limits is the throughput ratio of
# a jwtgate that is the bottleneck.
printf '  %-56s %s\n' "jwtgate CPU per request, no limits / limits" \
	"$(awk -v a="${SCPU[$kn]}" -v ra="${RPS[$kn]}" -v b="${SCPU[$kl]}" -v rb="${RPS[$kl]}" \
		'BEGIN { if (a > 0 && b > 0 && ra > 0 && rb > 0) printf "%.2f (%.1f -> %.1f us)", (a / ra) / (b / rb), a / ra * 1e6, b / rb * 1e6; else printf "n/a" }')"
printf '  %-56s %s\n' "added p50, small JSON, c=$CONNS" \
	"$(added "${P50[$vt]}" "${P50[$dt]}") (${P50[$dt]} -> ${P50[$vt]} ms)"
printf '  %-56s %s\n' "time to first event p50, direct -> via jwtgate" \
	"${P50[$ds]} -> ${P50[$vs]} ms ($(added "${P50[$vs]}" "${P50[$ds]}"))"
printf '  %-56s %s\n' "whole stream p50, direct -> via jwtgate" "$stream_total_direct -> $stream_total_proxy ms"
echo "  (the first event is not held back when its time stays far below the whole stream's)"
if [ "${LOADTEST_PROXIES:-1}" != 0 ]; then
	report_proxy_comparison
	if [ "$PPROF" = 1 ]; then report_profiles; fi
fi

report_dpop

# --- soak -----------------------------------------------------------------------------

if [ "$SOAK" = 1 ]; then
	echo
	echo "soak: GET /sessions/current for $SOAK_DURATION, c=$CONNS; jwtgate heap in use (go_memstats_heap_inuse_bytes)"
	soak_s=$(awk -v d="$SOAK_DURATION" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60; print int(n) }')
	[ "$soak_s" -ge 10 ] || die "LOADTEST_SOAK_DURATION must be at least 10s"
	heap() {
		bin/probe metric -url "$JG/metrics" -name go_memstats_heap_inuse_bytes |
			awk '{ printf "%.2f MiB (%d bytes)", $1 / 1048576, $1 }'
	}
	printf '  %-22s %s\n' "before" "$(heap)"
	"${loadgen_pin[@]}" bin/loadgen -name soak -c "$CONNS" -d "${soak_s}s" -warmup 0s \
		-url "$JG/sessions/current" -header "$(bearer "$JG_TOKEN")" >"$work/soak.json" &
	soak_pid=$!
	children+=("$soak_pid")
	last_at=0
	for at in 5 $((soak_s / 2)) $((soak_s - 2)); do
		[ "$at" -gt "$last_at" ] || continue
		sleep $((at - last_at))
		last_at=$at
		printf '  %-22s %s\n' "at ${at}s" "$(heap)"
	done
	wait "$soak_pid" || die "soak load generator failed"
	printf '  %-22s %s\n' "after" "$(heap)"
	echo "  $(cat "$work/soak.json")"
fi

echo
echo "raw results (one JSON line per run):"
cat "$work/results.jsonl"
[ "${LOADTEST_PROXIES:-1}" = 0 ] || report_proxy_runs
