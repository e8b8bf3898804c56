#!/usr/bin/env bash
# Fuzzes the named targets (default: all six) with libFuzzer, each for FUZZ_SECONDS (default
# 600; 0 only repacks), then repacks corpus/<target>.zip: the named inputs kept by hand (seeds,
# and every crash, leak or hang ever found: `seed-*`, `leak-*`, `crash-*`, …) and, smallest
# first up to FUZZ_PACK_KIB compressed, the fewest inputs that reach every edge the fuzzer
# reached (`min-*`). After a run, saturation.sh counts the edges its last quarter added (leaving out
# edges that hang on random hash seeds). The growing corpus lives in $FUZZ_WORK/corpus/<target>.
# FUZZ_TIMEOUT (default 10) is the seconds one input may take before it counts as a hang: raise
# it on a machine busy with other work, where the sanitised build runs many times slower. Needs the nightly
# toolchain, cargo-fuzz, zip and unzip (see README.md).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-600}
work=${FUZZ_WORK:-/var/tmp/glimpse/fuzz}
pack_kib=${FUZZ_PACK_KIB:-768}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pth import bundle image dataset caption)
fuzz() { cargo +nightly fuzz "$1" --release --target-dir "${FUZZ_TARGET_DIR:-$work/target}" "${@:2}"; }
# -timeout and -rss_limit_mb are the failure lines: an input slower than FUZZ_TIMEOUT seconds
# or taking more than 4 GiB (half the independent campaign's limit) is a finding, saved to
# artifacts/.
limits=(-timeout=${FUZZ_TIMEOUT:-10} -rss_limit_mb=4096 -malloc_limit_mb=4096)

# The named inputs of corpus/<target>.zip (or fresh seeds) into folder $2.
named_inputs() {
  if [ -f "corpus/$1.zip" ]; then
    unzip -q -o "corpus/$1.zip" -x 'min-*' -d "$2"
  else
    cargo run -q --release -p glimpse-fuzz --example write_seeds -- "$work/seeds"
    cp "$work/seeds/$1"/* "$2"/
  fi
}

# corpus/<target>.zip from the named inputs in $2 and the merged ones in $3, smallest first.
pack() {
  local archive="$work/$1.zip" kept file sum
  rm -f "$archive"
  (cd "$2" && zip -q -9 -X "$archive" ./*)
  kept=$(sha1sum "$2"/* | cut -c1-40)
  while IFS= read -r file; do
    sum=$(sha1sum < "$file" | cut -c1-40)
    grep -qx "$sum" <<< "$kept" && continue
    cp "$file" "$work/min-${sum:0:16}"
    (cd "$work" && zip -q -9 -X "$archive" "min-${sum:0:16}")
    rm "$work/min-${sum:0:16}"
    if [ "$(stat -c %s "$archive")" -gt $((pack_kib * 1024)) ]; then
      zip -q -d "$archive" "min-${sum:0:16}"
      echo "$1: stopped packing at $pack_kib KiB"
      break
    fi
  done < <(find "$3" -type f -printf '%s %p\n' | sort -n | cut -d' ' -f2-)
  mv "$archive" "corpus/$1.zip"
}

for target in "${targets[@]}"; do
  full="$work/corpus/$target" artifacts="$work/artifacts/$target"
  named=$(mktemp -d) merged=$(mktemp -d) packed=$(mktemp -d)
  mkdir -p "$full" "$artifacts" "$work/logs"
  named_inputs "$target" "$named"
  # The committed corpus's minimised inputs join the grown corpus (never overwriting it), so a
  # fresh machine starts where the last round ended, not from the seeds (round 19 did).
  if [ -f "corpus/$target.zip" ]; then
    unzip -q -n "corpus/$target.zip" 'min-*' -d "$full" 2>/dev/null || true
  fi
  # A target's dictionary (dicts/<target>.dict: its formats' markers and chunk names), if any.
  dict=()
  [ -f "dicts/$target.dict" ] && dict=(-dict="$PWD/dicts/$target.dict")
  if [ "$seconds" -gt 0 ]; then
    # The corpus at three quarters of the time (hard links: libFuzzer only adds and removes
    # files), for saturation.sh to tell what the last quarter added.
    snapshot="$work/snapshots/$target"
    rm -rf "$snapshot"
    (sleep $((seconds * 3 / 4)) && mkdir -p "$work/snapshots" && cp -al "$full" "$snapshot") &
    snapper=$!
    fuzz run "$target" "$full" "$named" -- "${limits[@]}" "${dict[@]}" -max_total_time="$seconds" \
      -artifact_prefix="$artifacts/" -print_final_stats=1 -report_slow_units=2 \
      > "$work/logs/$target.log" 2>&1 || echo "$target: a finding, see $artifacts and $work/logs/$target.log"
    kill "$snapper" 2> /dev/null || true
    grep -E '^(stat::(number_of_executed_units|peak_rss_mb|slowest_unit_time_sec)|Done)' "$work/logs/$target.log" || true
    if [ -d "$snapshot" ]; then
      ./saturation.sh "$target" "$snapshot" "$full" | tee "$work/logs/$target.saturation" ||
        echo "$target: saturation.sh failed; the corpus is repacked all the same"
    fi
  fi
  # Edges only (no hit counts): far fewer inputs than libFuzzer's own minimisation keeps.
  fuzz run "$target" "$merged" "$named" "$full" -- "${limits[@]}" -merge=1 -use_counters=0 \
    > "$work/logs/$target.merge.log" 2>&1
  pack "$target" "$named" "$merged"
  unzip -q "corpus/$target.zip" -d "$packed"
  for corpus in "$full" "$packed"; do
    # (tail, not grep -m1: an early close would kill the fuzzer with SIGPIPE and this script.)
    fuzz run "$target" "$corpus" -- "${limits[@]}" -runs=0 2>&1 | grep -o 'INITED cov: [0-9]*' |
      tail -n 1 | sed "s|^|$target: $(ls "$corpus" | wc -l) inputs of $corpus: |"
  done
  rm -rf "$named" "$merged" "$packed"
done
