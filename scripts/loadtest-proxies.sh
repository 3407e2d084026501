# loadtest-proxies.sh: the proxy comparison of make loadtest, sourced by
# scripts/loadtest.sh after its own runs (it uses that script's helpers:
# start_bench, start_jwtgate, num, children, work, the CPU pinning).
#
# The same loopback upstream (bench/upstream) answers the same chat completion
# directly and through each reverse proxy: nginx and Caddy from Debian's packages
# when they are installed (command -v nginx caddy; nothing is installed here),
# jwtgate's /chat (token verified, key injected) and, as jwtgate's floor,
# jwtgate's /healthz. Every proxy sets one request header (the upstream key),
# keeps connections to the upstream alive and logs nothing per request.
# Upstream and proxies run on the servers' core, the load generator on the
# other. Targets are measured in interleaved rounds (the order rotates each
# round); each figure is the median over the rounds of the per-round value, and
# each ratio the median of the per-round ratios (paired medians):
#
#   requests/s at PROXY_CONNS connections, and its ratio to direct's;
#   proxy CPU per request: utime+stime of the proxy's process over the measured
#     window (/proc/<pid>/stat, read by loadgen -pid) over the requests;
#   added p50 at one connection: the target's p50 less direct's, same round;
#   CPU per streamed event: a stream of STREAM_EVENTS events, EVENT_DELAY apart
#     (so that each event is a write of its own, as a chat backend's tokens are,
#     not several coalesced into one read), proxy CPU per stream over the events.
#
# Every generated configuration lives under $work (removed on exit); all traffic
# is on 127.0.0.1.
#
# Environment (besides loadtest.sh's):
#   LOADTEST_PROXY_CONNS           connections of the throughput runs (default 16)
#   LOADTEST_PROXY_ROUNDS          interleaved rounds (default 5)
#   LOADTEST_PROXY_ROUND_DURATION  measured time of each throughput run (default 3s)
#   LOADTEST_PROXY_LAT_DURATION    measured time of each one-connection run (default 2s)
#   LOADTEST_PROXY_STREAM_EVENTS   events of the streamed run (default 100)
#   LOADTEST_PROXY_EVENT_DELAY     pause between its events (default 1ms)
#   LOADTEST_PROXIES=0             skip the comparison
#   LOADTEST_PROXY_SKIP="nginx caddy healthz"  targets left out (any of these)
#   LOADTEST_BASE_REF=REF          also measure jwtgate built from git REF (git archive
#                                  into the temporary directory) as a target of its
#                                  own, for a before/after of a change in the same rounds
#   LOADTEST_PPROF=1               then profile jwtgate under the same loads: a
#                                  -tags pprof build serves net/http/pprof on a
#                                  loopback port; CPU profiles of LOADTEST_PPROF_SECONDS
#                                  (default 10) of /chat (c=PROXY_CONNS) and of the
#                                  stream are written to bin/pprof/ and summarised

PROXY_CONNS=${LOADTEST_PROXY_CONNS:-16}
PROXY_ROUNDS=${LOADTEST_PROXY_ROUNDS:-5}
PROXY_ROUND_DURATION=${LOADTEST_PROXY_ROUND_DURATION:-3s}
PROXY_LAT_DURATION=${LOADTEST_PROXY_LAT_DURATION:-2s}
STREAM_EVENTS=${LOADTEST_PROXY_STREAM_EVENTS:-100}
EVENT_DELAY=${LOADTEST_PROXY_EVENT_DELAY:-1ms}
PROXY_KEY='loadtest-upstream-key'
json_h=${json_h:-'Content-Type: application/json'}
PPROF=${LOADTEST_PPROF:-0}
BASE_REF=${LOADTEST_BASE_REF:-}
PROXY_SKIP=" ${LOADTEST_PROXY_SKIP:-} "
PPROF_SECONDS=${LOADTEST_PPROF_SECONDS:-10}

declare -A CMP_URL CMP_PID CMP_HDR CMP_LABEL
cmp_targets=()

# cmp_add NAME LABEL URL PID [HEADER]: a target of the comparison, unless
# LOADTEST_PROXY_SKIP names it.
cmp_add() {
	[[ $PROXY_SKIP == *" $1 "* ]] && return 0
	cmp_targets+=("$1")
	CMP_LABEL[$1]=$2
	CMP_URL[$1]=$3
	CMP_PID[$1]=$4
	CMP_HDR[$1]=${5:-}
}

# start_nginx UPSTREAM-URL: nginx in one process (master_process off), logging
# only errors, as a keep-alive reverse proxy to the upstream; sets $url, $spid.
start_nginx() {
	local up=${1#http://} dir=$work/nginx port pid
	mkdir -p "$dir"
	port=$(bin/probe freeport)
	cat >"$dir/nginx.conf" <<-EOF
		daemon off;
		master_process off;
		worker_processes 1;
		pid $dir/nginx.pid;
		error_log $dir/error.log warn;
		events { worker_connections 4096; }
		http {
		    access_log off;
		    client_body_temp_path $dir/body;
		    proxy_temp_path $dir/proxy;
		    fastcgi_temp_path $dir/fastcgi;
		    uwsgi_temp_path $dir/uwsgi;
		    scgi_temp_path $dir/scgi;
		    upstream chat { server $up; keepalive 64; }
		    server {
		        listen 127.0.0.1:$port;
		        location / {
		            proxy_pass http://chat;
		            proxy_http_version 1.1;
		            proxy_set_header Connection "";
		            proxy_set_header Authorization "Bearer $PROXY_KEY";
		            # A chat proxy streams: server-sent events must not wait in a buffer.
		            proxy_buffering off;
		        }
		    }
		}
	EOF
	"${server_pin[@]}" nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" 2>"$dir/stderr.log" &
	pid=$!
	children+=("$pid")
	if ! bin/probe wait -url "http://127.0.0.1:$port/healthz" -timeout 10s; then
		cat "$dir/stderr.log" "$dir/error.log" >&2 2>/dev/null || true
		die "nginx did not start"
	fi
	url="http://127.0.0.1:$port" spid=$pid
}

# start_caddy UPSTREAM-URL: Caddy with a JSON configuration (no admin endpoint,
# no automatic HTTPS, storage and home under $work) as a keep-alive reverse
# proxy to the upstream; sets $url, $spid.
start_caddy() {
	local up=${1#http://} dir=$work/caddy port pid
	mkdir -p "$dir/data" "$dir/config" "$dir/home"
	port=$(bin/probe freeport)
	cat >"$dir/caddy.json" <<-EOF
		{
		  "admin": {"disabled": true, "config": {"persist": false}},
		  "storage": {"module": "file_system", "root": "$dir/data"},
		  "logging": {"logs": {"default": {"level": "WARN"}}},
		  "apps": {"http": {"servers": {"bench": {
		    "listen": ["127.0.0.1:$port"],
		    "automatic_https": {"disable": true},
		    "routes": [{"handle": [{
		      "handler": "reverse_proxy",
		      "upstreams": [{"dial": "$up"}],
		      "headers": {"request": {"set": {"Authorization": ["Bearer $PROXY_KEY"]}}},
		      "transport": {"protocol": "http", "keep_alive": {"max_idle_conns_per_host": 64}}
		    }]}]
		  }}}}
		}
	EOF
	env HOME="$dir/home" XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config" \
		"${server_pin[@]}" caddy run --config "$dir/caddy.json" 2>"$dir/stderr.log" &
	pid=$!
	children+=("$pid")
	if ! bin/probe wait -url "http://127.0.0.1:$port/healthz" -timeout 15s; then
		tail -n 20 "$dir/stderr.log" >&2 || true
		die "caddy did not start"
	fi
	url="http://127.0.0.1:$port" spid=$pid
}

# start_jwtgate_binary NAME BINARY [VAR=value...]: starts BINARY (a jwtgate
# build) with loadtest.sh's common settings plus the given environment on a
# free port; sets $url and $spid.
start_jwtgate_binary() {
	local name=$1 bin=$2 port pid
	shift 2
	port=$(bin/probe freeport)
	env JWTGATE_SERVER_ADDR="127.0.0.1:$port" JWTGATE_JWT_SECRET="$SECRET" JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=0 \
		JWTGATE_LOG_LEVEL=warn JWTGATE_CHAT_ECHO_DELAY=0s "$@" \
		"${server_pin[@]}" "$bin" serve 2>"$work/$name.log" &
	pid=$!
	children+=("$pid")
	if ! bin/probe wait -url "http://127.0.0.1:$port/healthz" -timeout 15s; then
		tail -n 5 "$work/$name.log" >&2 || true
		die "$name did not start"
	fi
	url="http://127.0.0.1:$port" spid=$pid
}

# cmp_run NAME CONNS DURATION BODY [QUERY]: one run of target NAME (BODY and
# QUERY are not sent to /healthz), with the target's process passed as -pid;
# prints loadgen's JSON line.
cmp_run() {
	local name=$1 conns=$2 d=$3 body=$4 query=${5:-} path=/v1/chat/completions
	local -a args=(-name "$name" -c "$conns" -d "$d" -warmup 1s -pid "${CMP_PID[$name]}")
	case $name in
	jwtgate | base) path=/chat/chat/completions ;;
	healthz) path=/healthz ;;
	esac
	if [ "$name" = healthz ]; then
		args+=(-url "${CMP_URL[$name]}$path")
	else
		args+=(-method POST -header "$json_h" -body "$body" -url "${CMP_URL[$name]}$path$query")
	fi
	if [ -n "${CMP_HDR[$name]}" ]; then
		args+=(-header "${CMP_HDR[$name]}")
	fi
	"${loadgen_pin[@]}" bin/loadgen "${args[@]}"
}

# clean_run JSON: whether a run completed requests without transport errors
# or non-2xx answers.
clean_run() {
	local r e b
	r=$(num "$1" requests) e=$(num "$1" errors) b=$(num "$1" non2xx)
	[ "${r:-0}" -gt 0 ] && [ "${e:-1}" = 0 ] && [ "${b:-1}" = 0 ]
}

# median VALUES...: the middle value (the lower middle of an even count).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# first_pid_cpu JSON: the first entry of pid_cpu_us_per_req.
first_pid_cpu() {
	sed -nE 's/.*"pid_cpu_us_per_req":\[([0-9.eE+-]+).*/\1/p' <<<"$1"
}

run_proxy_comparison() {
	local up_url up_pid name i j k line d_rps d_p50
	start_bench cmp-upstream upstream -event-delay 0s
	up_url=$url up_pid=$spid
	cmp_add direct "direct (no proxy)" "$up_url" "$up_pid"
	if [[ $PROXY_SKIP == *" nginx "* ]]; then
		:
	elif command -v nginx >/dev/null 2>&1; then
		start_nginx "$up_url"
		cmp_add nginx "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///')" "$url" "$spid"
	else
		echo "loadtest: nginx is not installed; the comparison runs without it" >&2
	fi
	if [[ $PROXY_SKIP == *" caddy "* ]]; then
		:
	elif command -v caddy >/dev/null 2>&1; then
		start_caddy "$up_url"
		cmp_add caddy "Caddy $(caddy version | cut -d' ' -f1)" "$url" "$spid"
	else
		echo "loadtest: caddy is not installed; the comparison runs without it" >&2
	fi
	CMP_UPSTREAM=$up_url
	start_jwtgate jwtgate-cmp JWTGATE_CHAT_UPSTREAM_URL="$up_url/v1"
	local jg_url=$url jg_pid=$spid
	cmp_add jwtgate "jwtgate /chat (token verified, key injected)" "$jg_url" "$jg_pid" "$(bearer "$(login "$jg_url")")"
	cmp_add healthz "jwtgate /healthz" "$jg_url" "$jg_pid"
	if [ -n "$BASE_REF" ]; then
		local rev
		rev=$(git rev-parse --short "$BASE_REF")
		mkdir -p "$work/base-src"
		git archive "$BASE_REF" | tar -x -C "$work/base-src"
		(cd "$work/base-src" && "$GO" build -o "$work/jwtgate-base" ./cmd/jwtgate)
		start_jwtgate_binary jwtgate-base "$work/jwtgate-base" JWTGATE_CHAT_UPSTREAM_URL="$up_url/v1"
		cmp_add base "jwtgate@$rev /chat (baseline build)" "$url" "$spid" "$(bearer "$(login "$url")")"
	fi

	declare -gA CMP_RPS CMP_RATIO CMP_CPU CMP_P50 CMP_ADDED CMP_EVCPU CMP_REL
	local -A rps cpu p50 added ev rel
	local cpurel="" bad dropped=0
	local n=${#cmp_targets[@]} order
	for ((i = 0; i < PROXY_ROUNDS; i++)); do
		echo "proxies: round $((i + 1)) of $PROXY_ROUNDS" >&2
		declare -A r_rps=() r_p50=() r_cpu=() r_ev=()
		bad=""
		for ((j = 0; j < n; j++)); do
			name=${cmp_targets[$(((i + j) % n))]}
			line=$(cmp_run "$name" "$PROXY_CONNS" "$PROXY_ROUND_DURATION" "$CHAT_BODY" || true)
			echo "$line" >>"$work/proxies.jsonl"
			clean_run "$line" || bad+=" $name"
			r_rps[$name]=$(num "$line" rps)
			r_cpu[$name]=$(first_pid_cpu "$line")
			line=$(cmp_run "$name" 1 "$PROXY_LAT_DURATION" "$CHAT_BODY" || true)
			echo "$line" >>"$work/proxies.jsonl"
			clean_run "$line" || bad+=" $name(c=1)"
			r_p50[$name]=$(num "$line" p50_ms)
			if [ "$name" != healthz ]; then
				line=$(cmp_run "$name" "$PROXY_CONNS" "$PROXY_ROUND_DURATION" "$STREAM_BODY" "?events=$STREAM_EVENTS&event_delay=$EVENT_DELAY" || true)
				echo "$line" >>"$work/proxies.jsonl"
				clean_run "$line" || bad+=" $name(stream)"
				r_ev[$name]=$(awk -v c="$(first_pid_cpu "$line")" -v e="$STREAM_EVENTS" 'BEGIN { printf "%.3f", c / e }')
			fi
		done
		if [ -n "$bad" ]; then
			# A run with failed requests or none at all (the machine stalled it)
			# would skew every ratio of its round: the round is dropped whole.
			echo "proxies: round $((i + 1)) dropped: transport errors, non-2xx answers or no request in:$bad" >&2
			dropped=$((dropped + 1))
			unset r_rps r_p50 r_cpu r_ev
			continue
		fi
		for name in "${cmp_targets[@]}"; do
			cpu[$name]+=" ${r_cpu[$name]}"
			if [ -n "${r_ev[$name]:-}" ]; then ev[$name]+=" ${r_ev[$name]}"; fi
		done
		d_rps=${r_rps[direct]} d_p50=${r_p50[direct]}
		for name in "${cmp_targets[@]}"; do
			rps[$name]+=" ${r_rps[$name]}"
			rel[$name]+=" $(ratio "${r_rps[$name]}" "$d_rps")"
			p50[$name]+=" ${r_p50[$name]}"
			added[$name]+=" $(awk -v a="${r_p50[$name]}" -v b="$d_p50" 'BEGIN { printf "%.0f", (a - b) * 1000 }')"
			for k in nginx caddy base; do
				if [ -n "${r_rps[$k]:-}" ]; then
					rel[$name/$k]+=" $(ratio "${r_rps[$name]}" "${r_rps[$k]}")"
				fi
			done
		done
		if [ -n "${r_cpu[base]:-}" ]; then
			cpurel+=" $(ratio "${r_cpu[jwtgate]}" "${r_cpu[base]}")"
		fi
		unset r_rps r_p50 r_cpu r_ev
	done
	CMP_DROPPED=$dropped
	[ "$dropped" -lt "$PROXY_ROUNDS" ] || die "proxies: every round was dropped (see the raw runs)"
	for name in "${cmp_targets[@]}"; do
		# shellcheck disable=SC2086 # the lists are space-separated numbers
		CMP_RPS[$name]=$(median ${rps[$name]})
		CMP_RATIO[$name]=$(median ${rel[$name]})
		CMP_CPU[$name]=$(median ${cpu[$name]})
		CMP_P50[$name]=$(median ${p50[$name]})
		CMP_ADDED[$name]=$(median ${added[$name]})
		CMP_EVCPU[$name]=$(median ${ev[$name]:-})
		for k in nginx caddy base; do
			if [ -n "${rel[$name/$k]:-}" ]; then
				CMP_REL[$name/$k]=$(median ${rel[$name/$k]})
				CMP_REL[$name/$k/rounds]=${rel[$name/$k]}
			fi
		done
		CMP_REL[$name/rounds]=${rel[$name]}
	done
	if [ -n "$cpurel" ]; then
		# shellcheck disable=SC2086
		CMP_REL[cpu/base]=$(median $cpurel)
		CMP_REL[cpu/base/rounds]=$cpurel
	fi
}

report_proxy_comparison() {
	local name k
	echo
	echo "proxies: the same loopback upstream's chat completion, direct and through each proxy"
	echo "  (median of $((PROXY_ROUNDS - CMP_DROPPED)) interleaved rounds ($CMP_DROPPED of $PROXY_ROUNDS dropped for failed runs); $PROXY_ROUND_DURATION at c=$PROXY_CONNS, $PROXY_LAT_DURATION at c=1;"
	echo "   streamed: $STREAM_EVENTS events $EVENT_DELAY apart; CPU is the proxy process's, from /proc/<pid>/stat)"
	printf '  %-46s %9s %8s %11s %9s %10s %12s\n' "target" "req/s" "x direct" "CPU/req us" "p50 c=1" "added p50" "CPU/event us"
	for name in "${cmp_targets[@]}"; do
		if [ "$name" = direct ]; then
			printf '  %-46s %9s %8s %11s %9s %10s %12s\n' "${CMP_LABEL[$name]}" "${CMP_RPS[$name]}" "1.00" \
				"(${CMP_CPU[$name]})" "${CMP_P50[$name]}" "-" "(${CMP_EVCPU[$name]})"
		else
			printf '  %-46s %9s %8s %11s %9s %10s %12s\n' "${CMP_LABEL[$name]}" "${CMP_RPS[$name]}" "${CMP_RATIO[$name]}" \
				"${CMP_CPU[$name]}" "${CMP_P50[$name]}" "+${CMP_ADDED[$name]} us" "${CMP_EVCPU[$name]:--}"
		fi
	done
	echo "  (direct's CPU figures, in parentheses, are the upstream's own)"
	echo
	echo "  ratios (median of the per-round ratios)                      value  target  rounds"
	for k in caddy nginx; do
		if [ -n "${CMP_REL[jwtgate/$k]:-}" ]; then
			local tgt=">= 2.0"
			[ "$k" = nginx ] && tgt=">= 0.5"
			printf '    %-58s %5s  %-6s  %s\n' "jwtgate /chat req/s / ${CMP_LABEL[$k]} req/s" "${CMP_REL[jwtgate/$k]}" "$tgt" "${CMP_REL[jwtgate/$k/rounds]}"
			printf '    %-58s %5s\n' "jwtgate /chat CPU per request / ${CMP_LABEL[$k]}'s" "$(ratio "${CMP_CPU[jwtgate]}" "${CMP_CPU[$k]}")"
			printf '    %-58s %5s  %-6s\n' "jwtgate CPU per streamed event / ${CMP_LABEL[$k]}'s" "$(ratio "${CMP_EVCPU[jwtgate]}" "${CMP_EVCPU[$k]}")" \
				"$([ "$k" = caddy ] && echo "<= 1.0")"
		fi
	done
	if [ -n "${CMP_REL[jwtgate/base]:-}" ]; then
		printf '    %-58s %5s  %-6s  %s\n' "jwtgate /chat req/s / ${CMP_LABEL[base]%% /chat*}'s" "${CMP_REL[jwtgate/base]}" "" "${CMP_REL[jwtgate/base/rounds]}"
		printf '    %-58s %5s  %-6s  %s\n' "jwtgate /chat CPU per request / ${CMP_LABEL[base]%% /chat*}'s" "${CMP_REL[cpu/base]}" "" "${CMP_REL[cpu/base/rounds]}"
	fi
	printf '    %-58s %5s  %-6s\n' "jwtgate /chat CPU per request (us)" "${CMP_CPU[jwtgate]}" "<= 35"
	printf '    %-58s %5s  %-6s\n' "jwtgate /chat added p50 at c=1 (us)" "${CMP_ADDED[jwtgate]}" "<= 80"
	printf '    %-58s %5s  %-6s  %s\n' "jwtgate /chat req/s / direct" "${CMP_RATIO[jwtgate]}" "" "${CMP_REL[jwtgate/rounds]}"
	if [ -n "${CMP_RATIO[healthz]:-}" ]; then
		printf '    %-58s %5s  %-6s  %s\n' "jwtgate /healthz req/s / direct" "${CMP_RATIO[healthz]}" "" "${CMP_REL[healthz/rounds]}"
	fi
}

# report_proxy_runs: loadgen's JSON line of every run of the comparison.
report_proxy_runs() {
	echo
	echo "raw proxy comparison runs (one JSON line per run):"
	cat "$work/proxies.jsonl"
}

# profile_jwtgate: CPU profiles of a -tags pprof build of jwtgate in front of
# the comparison's upstream, under the comparison's JSON load and its stream.
profile_jwtgate() {
	local port pport pid tok kind query body lg
	mkdir -p bin/pprof
	"$GO" build -tags pprof -o bin/jwtgate-pprof ./cmd/jwtgate
	pport=$(bin/probe freeport)
	start_jwtgate_binary jwtgate-pprof bin/jwtgate-pprof JWTGATE_CHAT_UPSTREAM_URL="$CMP_UPSTREAM/v1" JWTGATE_PPROF_ADDR="127.0.0.1:$pport"
	pid=$spid port=${url##*:}
	tok=$(login "http://127.0.0.1:$port")
	for kind in chat stream; do
		query="" body=$CHAT_BODY
		if [ "$kind" = stream ]; then
			query="?events=$STREAM_EVENTS&event_delay=$EVENT_DELAY" body=$STREAM_BODY
		fi
		echo "profiling jwtgate: $kind, ${PPROF_SECONDS}s at c=$PROXY_CONNS" >&2
		"${loadgen_pin[@]}" bin/loadgen -name "pprof $kind" -c "$PROXY_CONNS" -d "$((PPROF_SECONDS + 2))s" -warmup 1s -pid "$pid" \
			-method POST -header "$json_h" -header "$(bearer "$tok")" -body "$body" \
			-url "http://127.0.0.1:$port/chat/chat/completions$query" >"$work/pprof-$kind.json" &
		lg=$!
		children+=("$lg")
		sleep 1.5
		"$GO" tool pprof -proto -output "bin/pprof/$kind.pb.gz" -seconds "$PPROF_SECONDS" \
			"http://127.0.0.1:$pport/debug/pprof/profile" 2>/dev/null || die "fetching the $kind profile"
		wait "$lg" || die "the load generator failed while profiling"
		PPROF_RUN[$kind]=$(cat "$work/pprof-$kind.json")
	done
}

# report_profiles: the top of each profile written by profile_jwtgate.
report_profiles() {
	local kind
	for kind in chat stream; do
		echo
		echo "profile of jwtgate under the $kind load (bin/pprof/$kind.pb.gz; go tool pprof -top bin/jwtgate-pprof bin/pprof/$kind.pb.gz)"
		echo "  load: ${PPROF_RUN[$kind]}"
		"$GO" tool pprof -top -nodecount 30 bin/jwtgate-pprof "bin/pprof/$kind.pb.gz" 2>/dev/null | sed -n '4,40p' || true
		echo "  cumulative, jwtgate's and net/http's frames:"
		"$GO" tool pprof -top -cum -nodecount 400 bin/jwtgate-pprof "bin/pprof/$kind.pb.gz" 2>/dev/null |
			awk '/jwtgate|net\/http\.|httputil|gin|prometheus|slog/ && n++ < 40' || true
	done
}
declare -A PPROF_RUN
