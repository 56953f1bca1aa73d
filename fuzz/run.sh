#!/usr/bin/env bash
# Builds every fuzz target and runs each for N executions (default 10 million), one after
# the other, at the lowest CPU priority. Usage: fuzz/run.sh [N] [target...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain take the nightly-only flags cargo fuzz passes. The code is safe Rust,
# so the targets are built without a sanitizer (`-s none`), which runs them several times
# faster; set FUZZ_SANITIZER=address to build with AddressSanitizer instead.
#
# The working corpus grows in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>);
# crashes land in fuzz/artifacts/<target>; libFuzzer's output in fuzz/logs/<target>.log,
# whose last lines give the executions run and the executions per second.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
export RUSTC_BOOTSTRAP=1

runs="${1:-10000000}"
shift || true
sanitizer="${FUZZ_SANITIZER:-none}"
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p logs
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "==> $target: $runs executions"
  # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: 2 GB is out of memory.
  nice -n 19 cargo fuzz run -s "$sanitizer" "$target" "corpus/$target" "seeds/$target" -- \
    -runs="$runs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    >"logs/$target.log" 2>&1 || {
      echo "    $target failed; see fuzz/logs/$target.log and fuzz/artifacts/$target/"
      exit 1
    }
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|Done)' "logs/$target.log" \
    | sed 's/^/    /'
done
