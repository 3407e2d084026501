# shellcheck shell=bash
# loadtest-dpop.sh: DPoP against Bearer on a protected route, sourced by
# loadtest.sh (whose helpers it uses: start_jwtgate, login, bearer, measure,
# pair, num, ratio). LOADTEST_ONLY=dpop runs only these.
#
# One jwtgate serves both sides, so the only difference is the presentation:
# "Authorization: Bearer <token>" of an unbound session, against
# "Authorization: DPoP <token>" of a session bound to the load generator's
# P-256 key with a fresh ES256 proof per request (loadgen -dpop es256, which
# binds its session at POST /sessions and signs proofs ahead of the requests,
# bench/loadgen/dpop.go). Two routes: GET /sessions/current (the middleware and
# a small answer) and the echo chat completion (the whole chat handler).
#
# jwtgate remembers every proof's jti for dpop.max_age plus jwt.leeway (90 s by
# default) and refuses proofs once its replay cache is full, so the cache is
# sized for the load: 2,000,000 entries, room for 22,000 proofs a second; the
# default (100,000) would fill within seconds at the rates measured here.

# run_dpop starts the DPoP jwtgate and measures its routes, one run each and in
# paired rounds.
run_dpop() {
	local chat=(-method POST -header 'Content-Type: application/json' -body "$CHAT_BODY")
	local dpop=(-dpop es256 -dpop-api-key "$API_KEY")
	start_jwtgate jwtgate-dpop JWTGATE_DPOP_REPLAY_CACHE_SIZE=2000000
	JGD=$url JGD_PID=$spid
	JGD_TOKEN=$(login "$JGD")
	measure "dpop GET /sessions/current, Bearer" "$CONNS" "$JGD_PID" -url "$JGD/sessions/current" \
		-header "$(bearer "$JGD_TOKEN")"
	measure "dpop GET /sessions/current, DPoP" "$CONNS" "$JGD_PID" -url "$JGD/sessions/current" "${dpop[@]}"
	measure "dpop POST /chat/completions (echo), Bearer" "$CONNS" "$JGD_PID" -url "$JGD/chat/completions" \
		"${chat[@]}" -header "$(bearer "$JGD_TOKEN")"
	measure "dpop POST /chat/completions (echo), DPoP" "$CONNS" "$JGD_PID" -url "$JGD/chat/completions" \
		"${chat[@]}" "${dpop[@]}"
	pair "DPoP / Bearer, GET /sessions/current" -url "$JGD/sessions/current" "${dpop[@]}" -- \
		-url "$JGD/sessions/current" -header "$(bearer "$JGD_TOKEN")"
	pair "DPoP / Bearer, POST /chat/completions (echo)" -url "$JGD/chat/completions" "${chat[@]}" "${dpop[@]}" -- \
		-url "$JGD/chat/completions" "${chat[@]}" -header "$(bearer "$JGD_TOKEN")"
}

# report_dpop prints what run_dpop measured: the runs, the DPoP/Bearer ratios
# (single runs and the median of the paired rounds), and jwtgate's CPU time per
# request on each side, whose difference is what the proof costs the server.
report_dpop() {
	local route key line b d
	echo
	echo "DPoP (ES256 proof per request) against Bearer, one jwtgate, c=$CONNS"
	printf '  %-44s %10s %8s %8s %5s %8s %8s %10s %6s\n' "run" "req/s" "p50 ms" "p99 ms" "bad" "srv cpu" "gen cpu" "srv us/req" "waits"
	for route in "GET /sessions/current" "POST /chat/completions (echo)"; do
		for key in "dpop $route, Bearer" "dpop $route, DPoP"; do
			line=$(grep -F "\"name\":\"$key\"" "$work/results.jsonl")
			printf '  %-44s %10s %8s %8s %5s %8s %8s %10s %6s\n' "$key" "${RPS[$key]}" "${P50[$key]}" "${P99[$key]}" \
				"${BAD[$key]}" "${SCPU[$key]}" "${GCPU[$key]}" \
				"$(awk -v c="${SCPU[$key]}" -v r="${RPS[$key]}" 'BEGIN { if (r > 0) printf "%.1f", c / r * 1e6; else printf "n/a" }')" \
				"$(num "$line" waits)"
		done
	done
	for route in "GET /sessions/current" "POST /chat/completions (echo)"; do
		b="dpop $route, Bearer" d="dpop $route, DPoP"
		printf '  %-56s %5s  (single runs)\n' "DPoP / Bearer req/s, $route" "$(ratio "${RPS[$d]}" "${RPS[$b]}")"
		printf '  %-56s %5s  (rounds: %s)\n' "  paired, median of $ROUNDS rounds of $ROUND_DURATION" \
			"${PAIR["DPoP / Bearer, $route"]}" "${PAIRS["DPoP / Bearer, $route"]}"
		printf '  %-56s %s\n' "  jwtgate CPU per request, DPoP - Bearer" \
			"$(awk -v a="${SCPU[$d]}" -v ra="${RPS[$d]}" -v b="${SCPU[$b]}" -v rb="${RPS[$b]}" \
				'BEGIN { if (ra > 0 && rb > 0) printf "%+.1f us (%.1f -> %.1f us)", (a / ra - b / rb) * 1e6, b / rb * 1e6, a / ra * 1e6; else printf "n/a" }')"
	done
	echo "  srv us/req: jwtgate's CPU time per request (its cores over its requests/s); the"
	echo "  difference is the proof (an ES256 signature check, parsing, claims, the replay cache)."
	echo "  waits: DPoP requests that found no proof signed ahead (the generator's signing was late)."
}
