#!/usr/bin/env bash
# Instructions per record, counted by valgrind's callgrind, so that the figures do not
# depend on how busy the machine is: each case runs twice (N and 2N iterations) and the
# difference, divided by the records it added, leaves out start-up and set-up.
#
#   benches/instructions.sh [N]      # N iterations (default 2000)
#
# Cases: the decode bench's three 2 KB Lead records (schema envelope, plain JSON,
# Avro) and the request bench's 200-record Collections upsert (bodies built from the
# describe, then serialised). Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"

# The bench executables, built without running them.
executable() {
  cargo bench --bench "$1" --no-run 2>&1 | sed -n "s/.*Executable benches\/$1.rs (\(.*\))/\1/p" | tail -1
}
decode="$(executable decode)"
request="$(executable request)"

# Instructions a program executed, as callgrind counts them: instructions BIN VAR=VALUE...
instructions() {
  local bin="$1"
  shift
  env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 >/dev/null \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

per_record() { # label records-per-iteration binary env...
  local label="$1" per="$2" bin="$3"
  shift 3
  local once twice
  once="$(instructions "$bin" BENCH_ITERATIONS="$n" "$@")"
  twice="$(instructions "$bin" BENCH_ITERATIONS="$((2 * n))" "$@")"
  printf '%-34s %10d instructions per record\n' "$label" "$(((twice - once) / (n * per)))"
}

per_record "decode: schema envelope" 1 "$decode" BENCH_CASE=envelope
per_record "decode: plain JSON" 1 "$decode" BENCH_CASE=plain
per_record "decode: Avro" 1 "$decode" BENCH_CASE=avro
per_record "request: Collections upsert (200)" 200 "$request"
