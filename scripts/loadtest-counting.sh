# shellcheck shell=bash
# loadtest-counting.sh: usage counting against an unlimited session on the
# proxied chat route, sourced by loadtest.sh (whose helpers it uses:
# start_bench, start_jwtgate, login, bearer, pair). LOADTEST_ONLY=counting runs
# only these; otherwise they run after the proxy runs, on their jwtgate.

# run_counting measures the counted routes in paired rounds, starting the
# upstream and the proxying jwtgate when the proxy runs have not.
run_counting() {
	json_h='Content-Type: application/json'
	if [ -z "${JGP:-}" ]; then
		start_bench upstream upstream -event-delay 10ms
		UP=$url UP_PID=$spid
		start_jwtgate jwtgate-proxy JWTGATE_CHAT_UPSTREAM_URL="$UP/v1"
		JGP=$url JGP_PID=$spid
		JGP_TOKEN=$(login "$JGP")
	fi
	if [ -z "${KIB_BODY:-}" ]; then
		KIB_BODY=$(awk 'BEGIN { h = "{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\""; t = "\"}]}";
			s = h; while (length(s) + length(t) < 1024) s = s "x"; print s t }')
	fi
	# Usage counting: the same route for a session with every counted limit, each far
	# out of reach (every request is admitted, counted and charged the usage the
	# upstream reports), against a session without limits; the counters in the
	# replica, then in a redis-server on loopback (targets: local >= 0.95, Redis >= 0.80).
	COUNTED='{"limits":{"requests_per_minute":60000000,"tokens_per_minute":100000000000,"total_tokens":1000000000000,"concurrent_requests":1000}}'
	JGP_COUNTED=$(bin/probe json -url "$JGP/sessions" -method POST -header "X-API-Key: $API_KEY" -header "$json_h" \
		-body "$COUNTED" -field access_token)
	pair "proxied chat, counted (local) / unlimited (1 KiB body)" -url "$JGP/chat/chat/completions" -method POST \
		-header "$(bearer "$JGP_COUNTED")" -header "$json_h" -body "$KIB_BODY" -- \
		-url "$JGP/chat/chat/completions" -method POST -header "$(bearer "$JGP_TOKEN")" -header "$json_h" -body "$KIB_BODY"
	if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
		rport=$(bin/probe freeport)
		"${server_pin[@]}" redis-server --bind 127.0.0.1 --port "$rport" --save "" --appendonly no --daemonize no \
			--dir "$work" >"$work/redis.log" 2>&1 &
		children+=("$!")
		for _ in $(seq 100); do
			[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break
			sleep 0.1
		done
		[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] || die "redis-server did not answer"
		start_jwtgate jwtgate-redis JWTGATE_CHAT_UPSTREAM_URL="$UP/v1" JWTGATE_LIMITS_REDIS_URL="redis://127.0.0.1:$rport/0"
		JGR=$url
		JGR_TOKEN=$(login "$JGR")
		JGR_COUNTED=$(bin/probe json -url "$JGR/sessions" -method POST -header "X-API-Key: $API_KEY" -header "$json_h" \
			-body "$COUNTED" -field access_token)
		pair "proxied chat, counted (Redis) / unlimited (1 KiB body)" -url "$JGR/chat/chat/completions" -method POST \
			-header "$(bearer "$JGR_COUNTED")" -header "$json_h" -body "$KIB_BODY" -- \
			-url "$JGR/chat/chat/completions" -method POST -header "$(bearer "$JGR_TOKEN")" -header "$json_h" -body "$KIB_BODY"
		[ "$(bin/probe json -url "$JGR/readyz" -field limits 2>/dev/null)" = shared ] ||
			echo "loadtest: jwtgate-redis does not report shared counters; the Redis pair is suspect" >&2
	else
		echo "loadtest: redis-server or redis-cli not installed: the Redis pair is left out" >&2
	fi
}
