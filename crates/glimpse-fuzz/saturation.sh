#!/usr/bin/env bash
# saturation.sh TARGET EARLIER LATER [REPLAYS]: the coverage edges that corpus folder LATER reaches
# and EARLIER does not, past what random hash seeds make replays of one corpus differ by.
#
# libFuzzer's "cov" also counts edges that hang on random hash seeds: hashbrown's probe and rehash
# loops under std's RandomState (ours, zip's name index, and wherever a lookup is inlined). A
# replay of one unchanged corpus reaches a few edges more or fewer each time, so new "cov" never
# stops. This replays each corpus REPLAYS times (default 3) with -print_coverage=1 and compares
# edge counts per function: a function gained edges only where every replay of LATER reaches
# more of them than any replay of EARLIER, which the seeds' noise (a band of a few edges in a
# few functions, which it reports) does not give. fuzz.sh runs it on the corpus at three
# quarters of a run's time and at its end.
set -euo pipefail
target=$1 earlier=$(realpath -e "$2") later=$(realpath -e "$3") replays=${4:-3}
work=${FUZZ_WORK:-/var/tmp/glimpse/fuzz}
binary=${FUZZ_TARGET_DIR:-$work/target}/x86_64-unknown-linux-gnu/release/$target

# "CORPUS<tab>ORDINAL<tab>EDGES<tab>FUNCTION AND SOURCE LINE" for every instrumented function, one
# replay, into file $3. The ordinal tells apart instances that print alike (libFuzzer lists the
# functions in one order); a replay that stops early lists none and fails here.
edges_per_function() {
  # (As cargo-fuzz runs the targets; a replay that fails is told below by its empty list.)
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0} "$binary" -runs=0 -print_coverage=1 -timeout=${FUZZ_TIMEOUT:-10} -rss_limit_mb=4096 -malloc_limit_mb=4096 "$2" 2>&1 |
    sed -n 's|^\(UN\)\?COVERED_FUNC: hits: [0-9]* edges: \([0-9]*\)/[0-9]* \(.*\)$|\2\t\3|p' |
    awk -v corpus="$1" '{ print corpus "\t" NR "\t" $0 }' > "$3" || true
  [ -s "$3" ] || { echo "$target: replaying $2 listed no coverage" >&2; exit 1; }
}

replayed=$(mktemp -d)
trap 'rm -rf "$replayed"' EXIT
for ((i = 0; i < replays; i++)); do
  edges_per_function earlier "$earlier" "$replayed/earlier-$i"
  edges_per_function later "$later" "$replayed/later-$i"
done
[ "$(cat "$replayed"/* | cut -f1,2 | sort -u | wc -l)" -eq $((2 * $(wc -l < "$replayed/earlier-0"))) ] ||
  { echo "$target: the replays list different functions" >&2; exit 1; }
cat "$replayed"/* | awk -F'\t' -v target="$target" -v replays="$replays" '
  { key = $1 SUBSEP $2; n = $3 + 0; name[$2] = $4
    if (!(key in low) || n < low[key]) low[key] = n
    if (!(key in high) || n > high[key]) high[key] = n }
  END {
    for (f in name) {
      e = "earlier" SUBSEP f; l = "later" SUBSEP f
      varies = low[e] != high[e] || low[l] != high[l]
      if (varies) { noisy++; noise += high[e] - low[e] + high[l] - low[l] }
      # Counted only past the band the replays span: more in every replay of LATER than in
      # any of EARLIER.
      if (low[l] > high[e]) {
        gained += low[l] - high[e]
        lines = lines sprintf("  +%d %s%s\n", low[l] - high[e], name[f], varies ? " (a function whose edges vary)" : "")
      }
    }
    printf "%s: %d replays of each corpus; %d functions reach a varying number of edges from one corpus (%d edges in all)\n", target, replays, noisy, noise
    printf "%s: +%d edges that every replay of the later corpus reaches and no replay of the earlier\n%s", target, gained, lines
  }'
