#!/usr/bin/env bash
# benchcmp.sh: before/after benchmarks in one run (make benchcmp).
#
#   scripts/benchcmp.sh [-ref REF] [-count N] [-time D] [-cpu LIST] PACKAGE BENCH-REGEXP
#
# Builds the test binary of PACKAGE twice, from git REF (default HEAD; taken
# with git archive into a temporary directory) and from the working tree, then
# runs the two binaries in turn N times (default 8), one -count 1 run each time,
# so that both sides see the same machine load, and prints benchstat's
# comparison (REF is the baseline). Nothing is left behind but the two result
# files in bin/benchcmp/.
set -euo pipefail
export GOTOOLCHAIN=auto # go.mod's toolchain line, as the Makefile does
cd "$(dirname "$0")/.."

GO=${GO:-go}
BENCHSTAT=${BENCHSTAT:-golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da}
ref=HEAD count=8 benchtime=1s cpu=""
while [ $# -gt 2 ]; do
	case $1 in
	-ref) ref=$2 ;;
	-count) count=$2 ;;
	-time) benchtime=$2 ;;
	-cpu) cpu=$2 ;;
	*) echo "benchcmp: unknown flag $1" >&2; exit 2 ;;
	esac
	shift 2
done
[ $# -eq 2 ] || { echo "usage: $0 [-ref REF] [-count N] [-time D] [-cpu LIST] PACKAGE BENCH-REGEXP" >&2; exit 2; }
pkg=$1 bench=$2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jwtgate-benchcmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=bin/benchcmp
mkdir -p "$out" "$tmp/old"

git archive "$ref" | tar -x -C "$tmp/old"
echo "building $pkg at $ref ($(git rev-parse --short "$ref")) and in the working tree" >&2
(cd "$tmp/old" && "$GO" test -c -o "$tmp/old.test" "$pkg")
"$GO" test -c -o "$tmp/new.test" "$pkg"

# The benchmarks run in the package's directory, as go test runs them.
dir_old="$tmp/old/${pkg#./}" dir_new="./${pkg#./}"
args=(-test.run '^$' -test.bench "$bench" -test.benchmem -test.count 1 -test.benchtime "$benchtime")
[ -n "$cpu" ] && args+=(-test.cpu "$cpu")
: >"$out/old.txt"
: >"$out/new.txt"
for ((i = 1; i <= count; i++)); do
	echo "round $i of $count" >&2
	if ((i % 2)); then
		(cd "$dir_old" && "$tmp/old.test" "${args[@]}") >>"$out/old.txt"
		(cd "$dir_new" && "$tmp/new.test" "${args[@]}") >>"$out/new.txt"
	else
		(cd "$dir_new" && "$tmp/new.test" "${args[@]}") >>"$out/new.txt"
		(cd "$dir_old" && "$tmp/old.test" "${args[@]}") >>"$out/old.txt"
	fi
done
echo "benchstat $out/old.txt ($ref) $out/new.txt (working tree)"
"$GO" run "$BENCHSTAT" "$out/old.txt" "$out/new.txt"
