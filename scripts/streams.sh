#!/usr/bin/env bash
# streams.sh: many concurrent streamed chat completions through jwtgate (make
# streams). Not part of make test.
#
# bench/upstream streams an event every STREAMS_EVENT_DELAY (100ms), each
# stamped with its number and the time it was written; `loadgen streams` holds
# STREAMS_N (10000) streams open at once and records every event's delay (read
# time less written time) and whether it came in order. Three runs, one after
# the other, each with its own connections:
#
#   direct   the client reads the upstream's streams itself: the baseline;
#   via h2   through jwtgate, whose upstream is the same server over TLS with
#            HTTP/2 (a self-signed certificate for 127.0.0.1, trusted through
#            SSL_CERT_FILE), as providers' APIs are reached: one client
#            connection per stream, the upstream side multiplexed;
#   via h1   through jwtgate to the upstream over plain HTTP/1.1: two sockets
#            per stream in jwtgate, so the run is capped at what the open-files
#            limit allows (ulimit -Hn; the script raises the soft limit to it).
#
# jwtgate runs alone on LOADTEST_SERVER_CPUS (0); the upstream and the client
# share LOADTEST_LOADGEN_CPUS (1). Reported: the delays, the added delay against
# direct (p50, p99), jwtgate's resident memory before the streams and with all
# of them open (VmRSS) and the difference per stream, and jwtgate's CPU per
# event. Everything on 127.0.0.1, in a temporary directory; bounded in time.
#
# Environment:
#   STREAMS_N            streams open at once (default 10000)
#   STREAMS_EVENT_DELAY  pause between a stream's events (default 100ms)
#   STREAMS_RAMP         streams opened per second (default 2000)
#   STREAMS_SETTLE       wait after the last one opened (default 5s)
#   STREAMS_DURATION     measured window (default 10s)
#   STREAMS_RUNS         runs to make, of direct, h2, h1 (default all three)
set -euo pipefail
export GOTOOLCHAIN=auto # go.mod's toolchain line, as the Makefile does
cd "$(dirname "$0")/.."

while read -r var; do unset "$var"; done < <(compgen -e | grep '^JWTGATE_' || true)

GO=${GO:-go}
N=${STREAMS_N:-10000}
EVENT_DELAY=${STREAMS_EVENT_DELAY:-100ms}
RAMP=${STREAMS_RAMP:-2000}
SETTLE=${STREAMS_SETTLE:-5s}
DURATION=${STREAMS_DURATION:-10s}
RUNS=${STREAMS_RUNS:-direct h2 h1}
SERVER_CPUS=${LOADTEST_SERVER_CPUS:-0}
LOADGEN_CPUS=${LOADTEST_LOADGEN_CPUS:-1}
SECRET='jwtgate-loadtest-only-secret-0123456789abcdef'
STREAM_BODY='{"model":"bench","stream":true,"messages":[{"role":"user","content":"ping"}]}'

work=$(mktemp -d "${TMPDIR:-/tmp}/jwtgate-streams.XXXXXX")
children=()
cleanup() {
	local pid
	for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
	for _ in $(seq 100); do
		local alive=0
		for pid in "${children[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "${children[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
die() { echo "streams: $*" >&2; exit 1; }

# Open files: every stream is a socket in the client, and one (h2) or two (h1)
# in jwtgate. The soft limit goes up to the hard one; Go programs raise their
# own soft limit to the hard one as well.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=1048576
spare=200
[ $((N + spare)) -le "$nofile" ] || die "STREAMS_N=$N needs $((N + spare)) open files, the limit is $nofile"
n_h1=$N
if [ $((2 * N + spare)) -gt "$nofile" ]; then
	n_h1=$(((nofile - spare) / 2))
fi

# Streams must outlast the run: opening, settling and the window, plus margin.
secs() { awk -v d="$1" 'BEGIN { n = d + 0; if (d ~ /ms$/) n /= 1000; else if (d ~ /m$/) n *= 60; print n }'; }
total=$(awk -v n="$N" -v r="$RAMP" -v s="$(secs "$SETTLE")" -v d="$(secs "$DURATION")" -v e="$(secs "$EVENT_DELAY")" \
	'BEGIN { t = n / r + s + d + 15; k = int(t / e) + 1; if (k > 1000) k = 1000; print k }')
query="?stamp=1&events=$total&event_delay=$EVENT_DELAY"

echo "building bin/jwtgate and the bench tools" >&2
make --no-print-directory build GO="$GO" >&2
(cd bench && "$GO" build -o ../bin/ ./loadgen ./upstream ./probe)

server_pin=() loadgen_pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(getconf _NPROCESSORS_ONLN)" -ge 2 ]; then
	server_pin=(taskset -c "$SERVER_CPUS")
	loadgen_pin=(taskset -c "$LOADGEN_CPUS")
	pinning="jwtgate on CPU $SERVER_CPUS; upstream and client on CPU $LOADGEN_CPUS (taskset)"
else
	pinning="not pinned"
fi

"${loadgen_pin[@]}" bin/upstream -addr 127.0.0.1:0 -tls-addr 127.0.0.1:0 -tls-cert-out "$work/upstream.pem" \
	2>"$work/upstream.log" &
children+=($!)
for _ in $(seq 100); do
	up=$(sed -n 's/^listening \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$work/upstream.log")
	uptls=$(sed -n 's/^listening-tls \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$work/upstream.log")
	[ -n "$up" ] && [ -n "$uptls" ] && break
	sleep 0.1
done
[ -n "$up" ] && [ -n "$uptls" ] || die "the upstream did not start: $(cat "$work/upstream.log")"

# start_jwtgate NAME UPSTREAM-URL: jwtgate on a free port; sets $url and $spid.
start_jwtgate() {
	local name=$1 upstream=$2 port
	port=$(bin/probe freeport)
	env JWTGATE_SERVER_ADDR="127.0.0.1:$port" JWTGATE_JWT_SECRET="$SECRET" JWTGATE_LOG_LEVEL=warn \
		JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=0 JWTGATE_CHAT_UPSTREAM_URL="$upstream" SSL_CERT_FILE="$work/upstream.pem" \
		"${server_pin[@]}" bin/jwtgate serve 2>"$work/$name.log" &
	spid=$!
	children+=("$spid")
	bin/probe wait -url "http://127.0.0.1:$port/healthz" -timeout 15s || die "$name did not start: $(tail -n 5 "$work/$name.log")"
	url="http://127.0.0.1:$port"
}

declare -A R MEM
# run KEY N URL [JWTGATE-URL LOADGEN-ARGS...]: one streams run; its JSON line
# goes to R[KEY]. With JWTGATE-URL, jwtgate's heap and stacks in use and its
# goroutines are read from its /metrics in the middle of the window, into MEM[KEY].
run() {
	local key=$1 n=$2 u=$3 jg=${4:-} lg mid
	shift 3
	[ $# -gt 0 ] && shift
	echo "streams: $key, $n streams" >&2
	"${loadgen_pin[@]}" bin/loadgen streams -name "$key" -n "$n" -ramp "$RAMP" -settle "$SETTLE" -d "$DURATION" \
		-header 'Content-Type: application/json' -body "$STREAM_BODY" -url "$u$query" "$@" >"$work/run.json" &
	lg=$!
	children+=("$lg")
	if [ -n "$jg" ]; then
		mid=$(awk -v n="$n" -v r="$RAMP" -v s="$(secs "$SETTLE")" -v d="$(secs "$DURATION")" 'BEGIN { print n / r + s + d / 2 }')
		sleep "$mid"
		MEM[$key]=$(for m in go_memstats_heap_inuse_bytes go_memstats_stack_inuse_bytes go_goroutines; do
			bin/probe metric -url "$jg/metrics" -name "$m" 2>/dev/null || echo 0
		done | awk -v n="$n" 'NR == 1 { h = $1 } NR == 2 { st = $1 } NR == 3 { g = $1 }
			END { printf "heap %.1f KiB, stacks %.1f KiB, %.1f goroutines per stream", h / n / 1024, st / n / 1024, g / n }')
	fi
	wait "$lg" || die "loadgen streams failed for $key"
	R[$key]=$(cat "$work/run.json")
	echo "${R[$key]}" >>"$work/streams.jsonl"
}

for r in $RUNS; do
	case $r in
	direct)
		run "direct n=$N" "$N" "http://$up/v1/chat/completions"
		if [ "$n_h1" != "$N" ] && [[ " $RUNS " == *" h1 "* ]]; then
			run "direct n=$n_h1" "$n_h1" "http://$up/v1/chat/completions"
		fi
		;;
	h2)
		start_jwtgate jwtgate-h2 "https://$uptls/v1"
		tok=$(bin/probe json -url "$url/sessions" -method POST -header "X-API-Key: k" -field access_token)
		run "via jwtgate, upstream h2 n=$N" "$N" "$url/chat/chat/completions" "$url" -pid "$spid" -header "Authorization: Bearer $tok"
		kill "$spid"
		;;
	h1)
		start_jwtgate jwtgate-h1 "http://$up/v1"
		tok=$(bin/probe json -url "$url/sessions" -method POST -header "X-API-Key: k" -field access_token)
		run "via jwtgate, upstream h1 n=$n_h1" "$n_h1" "$url/chat/chat/completions" "$url" -pid "$spid" -header "Authorization: Bearer $tok"
		kill "$spid"
		;;
	*) die "STREAMS_RUNS: unknown run $r" ;;
	esac
done

num() { sed -nE "s/.*\"$2\":(-?[0-9.eE+-]+).*/\1/p" <<<"$1"; }

echo
echo "jwtgate streams: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git describe --always --dirty 2>/dev/null || echo unknown)"
echo "$("$GO" version | cut -d' ' -f3-), $(getconf _NPROCESSORS_ONLN) CPUs; $pinning; open files $nofile"
echo "an event every $EVENT_DELAY per stream; opened $RAMP/s, $SETTLE to settle, $DURATION measured"
echo
printf '%-34s %6s %5s %6s %9s %8s %8s %8s %8s %6s %9s %8s %6s %8s\n' run streams open failed "events/s" \
	"p50 ms" "p99 ms" "p99.9 ms" "max ms" "disord" "RSS MiB" "KiB/strm" cores "us/event"
for key in "${!R[@]}"; do echo "$key"; done | sort | while read -r key; do
	l=${R[$key]}
	rss=$(num "$l" rss_open_kib)
	printf '%-34s %6s %5s %6s %9s %8s %8s %8s %8s %6s %9s %8s %6s %8s\n' "$key" "$(num "$l" streams)" "$(num "$l" open_at_end)" \
		"$(num "$l" failed)" "$(num "$l" events_per_s)" "$(num "$l" delay_p50_ms)" "$(num "$l" delay_p99_ms)" \
		"$(num "$l" delay_p999_ms)" "$(num "$l" delay_max_ms)" "$(num "$l" out_of_order)" \
		"$([ -n "$rss" ] && awk -v k="$rss" -v i="$(num "$l" rss_idle_kib)" 'BEGIN { printf "%.0f->%.0f", i / 1024, k / 1024 }' || echo -)" \
		"$(num "$l" rss_per_stream_kib)" "$(num "$l" pid_cores)" "$(num "$l" pid_cpu_us_per_event)"
done
echo
echo "added delay through jwtgate (against direct with as many streams; targets: p99 < 10 ms, <= 40 KiB per stream)"
for key in "${!R[@]}"; do
	[[ $key == via* ]] || continue
	n=${key##*n=}
	d=${R["direct n=$n"]:-}
	[ -n "$d" ] || continue
	v=${R[$key]}
	printf '  %-34s p50 %+.2f ms, p99 %+.2f ms; %s KiB resident per open stream (%s)\n' "$key" \
		"$(awk -v a="$(num "$v" delay_p50_ms)" -v b="$(num "$d" delay_p50_ms)" 'BEGIN { print a - b }')" \
		"$(awk -v a="$(num "$v" delay_p99_ms)" -v b="$(num "$d" delay_p99_ms)" 'BEGIN { print a - b }')" \
		"$(num "$v" rss_per_stream_kib)" "${MEM[$key]:-}"
done
echo
echo "raw results:"
cat "$work/streams.jsonl"
