#!/bin/bash
# Where the engine's time goes in the three-node part of bench/versus: runs that part and,
# once the engine's brokers are up (Kafka's side runs first), samples the whole machine
# with call graphs for 20 s. Needs perf and the release binaries:
#   cargo build --release -p broker-agent -p tideway-bench && bench/versus/profile.sh [OUT_DIR]
# then: perf report -i OUT_DIR/perf.data --no-children --sort comm,dso -g none
set -euo pipefail
out=${1:-/var/tmp/tideway-bench/profile}
bin=${CARGO_TARGET_DIR:-/var/cache/tideway/target}/release
mkdir -p "$out"
"$bin/versus" --part three > "$out/versus.log" 2>&1 &
bench=$!
for _ in $(seq 1 1200); do
    pgrep -f "$bin/broker-agent broker" > /dev/null && break
    sleep 0.5
done
pgrep -f "$bin/broker-agent broker" > /dev/null || { echo "the engine's brokers never started" >&2; exit 1; }
perf record -F 499 -a -g -o "$out/perf.data" -- sleep 20
wait "$bench"
tail -n 14 "$out/versus.log"
