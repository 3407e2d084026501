#!/usr/bin/env bash
# syscalls.sh: system calls per proxied request, counted with strace -c (make
# syscalls). Unlike times on a shared machine, the counts do not move with
# the machine's load, so they show what a change to the proxy's I/O does.
#
#   scripts/syscalls.sh [-ref REF] [-n REQUESTS]
#
# Starts bench/upstream and jwtgate (the working tree's build, and with -ref
# also a build of git REF, taken with git archive into a temporary directory)
# on 127.0.0.1, sends REQUESTS (default 2000) small chat requests at one
# connection through each, with strace -c -f attached to jwtgate only, and
# prints the calls per request by name; then the same for streams of 10 events.
# Needs strace (Debian: apt-get install strace); not part of make test.
set -euo pipefail
export GOTOOLCHAIN=auto # go.mod's toolchain line, as the Makefile does
cd "$(dirname "$0")/.."

GO=${GO:-go}
ref="" n=2000
while [ $# -gt 0 ]; do
	case $1 in
	-ref) ref=$2 ;;
	-n) n=$2 ;;
	*) echo "usage: $0 [-ref REF] [-n REQUESTS]" >&2; exit 2 ;;
	esac
	shift 2
done
command -v strace >/dev/null || { echo "syscalls: strace is not installed" >&2; exit 1; }

while read -r var; do unset "$var"; done < <(compgen -e | grep '^JWTGATE_' || true)
SECRET='jwtgate-loadtest-only-secret-0123456789abcdef'
CHAT_BODY='{"model":"bench","messages":[{"role":"user","content":"ping"}]}'
STREAM_BODY='{"model":"bench","stream":true,"messages":[{"role":"user","content":"ping"}]}'

work=$(mktemp -d "${TMPDIR:-/tmp}/jwtgate-syscalls.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

make --no-print-directory build GO="$GO" >&2
(cd bench && "$GO" build -o ../bin/ ./loadgen ./upstream ./probe)
builds=("working tree:bin/jwtgate")
if [ -n "$ref" ]; then
	mkdir -p "$work/src"
	git archive "$ref" | tar -x -C "$work/src"
	(cd "$work/src" && "$GO" build -o "$work/jwtgate-ref" ./cmd/jwtgate)
	builds=("$ref ($(git rev-parse --short "$ref")):$work/jwtgate-ref" "${builds[@]}")
fi

bin/upstream -addr 127.0.0.1:0 -event-delay 1ms 2>"$work/upstream.log" &
pids+=($!)
for _ in $(seq 50); do
	up=$(sed -n 's/^listening //p' "$work/upstream.log")
	[ -n "$up" ] && break
	sleep 0.1
done
[ -n "$up" ] || { echo "syscalls: the upstream did not start" >&2; exit 1; }

# count LABEL BINARY: prints the per-request counts of both loads.
count() {
	local label=$1 bin=$2 port jg tok kind body query st
	port=$(bin/probe freeport)
	env JWTGATE_SERVER_ADDR="127.0.0.1:$port" JWTGATE_JWT_SECRET="$SECRET" JWTGATE_LOG_LEVEL=warn \
		JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=0 JWTGATE_CHAT_UPSTREAM_URL="http://$up/v1" \
		"$bin" serve 2>"$work/jwtgate.log" &
	jg=$!
	pids+=("$jg")
	bin/probe wait -url "http://127.0.0.1:$port/healthz" -timeout 15s
	tok=$(bin/probe json -url "http://127.0.0.1:$port/sessions" -method POST -header "X-API-Key: k" -field access_token)
	for kind in json stream; do
		body=$CHAT_BODY query=""
		if [ "$kind" = stream ]; then body=$STREAM_BODY query="?events=10"; fi
		lg() {
			bin/loadgen -c 1 -d 5m -warmup 0s -n "$1" -method POST -header "Authorization: Bearer $tok" \
				-header 'Content-Type: application/json' -body "$body" -url "http://127.0.0.1:$port/chat/chat/completions$query" >/dev/null
		}
		lg 200 # warm: connections open, pools filled
		strace -c -f -p "$jg" -o "$work/strace.txt" 2>/dev/null &
		st=$!
		sleep 0.5
		lg "$n"
		sleep 0.3
		kill -INT "$st"
		wait "$st" 2>/dev/null || true
		echo "$label, $kind ($([ "$kind" = stream ] && echo "10 events a stream" || echo "small JSON")): system calls per request"
		awk -v n="$n" '$NF != "total" && $NF ~ /^[a-z_0-9]+$/ && NF >= 5 { c[$NF] = $4 } $NF == "total" { t = $4 }
			END { for (k in c) if (c[k] / n >= 0.05) printf "  %-14s %7.2f\n", k, c[k] / n; printf "  %-14s %7.2f\n", "all", t / n }' \
			"$work/strace.txt" | sort -k2 -rn
	done
	kill "$jg"
	wait "$jg" 2>/dev/null || true
}
for b in "${builds[@]}"; do
	count "${b%%:*}" "${b#*:}"
done
