#!/usr/bin/env bash
# Runs every fuzz target of the module, one at a time, for FUZZTIME each
# with FUZZ_PARALLEL workers, and prints per target the CPU time it used,
# its executions, the new interesting inputs it found and its result.
#
# Targets are found by reading the test files of every package of the
# module (go list ./...), so a new Fuzz function is fuzzed without being
# listed anywhere. FUZZ_TARGETS, a regexp on "<package>.<Target>" (e.g.
# 'keys\.FuzzParse$'), narrows the campaign.
#
# A crasher is written by the testing package into the target's
# testdata/fuzz/<Target>/ in the package's folder: committed, it is a seed
# that plain `go test` (and so `make test`) runs from then on.
set -euo pipefail

FUZZTIME="${FUZZTIME:-10m}"
FUZZ_PARALLEL="${FUZZ_PARALLEL:-$(nproc)}"
FUZZ_TARGETS="${FUZZ_TARGETS:-.}"

cd "$(dirname "$0")/.."
module="$(go list -m)"
cachedir="$(go env GOCACHE)/fuzz"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Prints "<Target> <number of f.Add calls>" for each fuzz function of a
# test file: a target without f.Add needs seed files in testdata/fuzz.
fuzz_functions() {
  awk '/^func Fuzz[A-Za-z0-9_]*\(/ { name = $2; sub(/\(.*/, "", name); adds = 0; inside = 1; next }
       inside && /f\.Add\(/ { adds++ }
       inside && /^}/ { print name, adds; inside = 0 }' "$1"
}

# Go before 1.27 can fail a target with a bare "context deadline exceeded"
# when -fuzztime ends while a worker is busy (go.dev/issue/75804): no input
# failed then, and none was written.
deadline_race() {
  ! grep -q 'Failing input written to' "$1" &&
    grep -A1 -- "^--- FAIL: $2 " "$1" | tail -n 1 | grep -qx '[[:space:]]*context deadline exceeded'
}

declare -a rows=()
failed=0
found=0
while IFS=' ' read -r importpath dir; do
  shopt -s nullglob
  files=("$dir"/*_test.go)
  shopt -u nullglob
  [ ${#files[@]} -gt 0 ] || continue
  pkg="${importpath#"$module"/}"
  binary=""
  while read -r target adds; do
    [ -n "$target" ] || continue
    echo "$pkg.$target" | grep -Eq -- "$FUZZ_TARGETS" || continue
    found=$((found + 1))
    if [ "$adds" -eq 0 ] && [ ! -d "$dir/testdata/fuzz/$target" ]; then
      echo "fuzz: $pkg $target has no seed corpus: add f.Add calls or files in $pkg/testdata/fuzz/$target/" >&2
      rows+=("$pkg|$target|-|-|-|no seed corpus")
      failed=1
      continue
    fi
    if [ -z "$binary" ]; then
      # Built once per package with the coverage instrumentation that
      # -fuzz asks for, so that the CPU time measured below is fuzzing
      # alone, not compiling.
      binary="$work/$(echo "$pkg" | tr / _).test"
      go test -c -fuzz "^$target\$" -o "$binary" "$importpath"
    fi
    log="$work/$(echo "$pkg" | tr / _).$target.log"
    echo "fuzz: $pkg $target for $FUZZTIME with $FUZZ_PARALLEL workers"
    status=0
    TIMEFORMAT='%U %S'
    # The test binary's rusage of reaped children covers its fuzz
    # workers, so user+sys is the campaign's CPU time.
    { time (cd "$dir" && "$binary" -test.run "^$target\$" -test.fuzz "^$target\$" \
        -test.fuzztime "$FUZZTIME" -test.parallel "$FUZZ_PARALLEL" \
        -test.fuzzcachedir "$cachedir/$importpath" >"$log" 2>&1) ; } 2>"$log.time" || status=$?
    read -r user sys <"$log.time"
    cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", (u + s) / 60 }')"
    last="$(grep -E 'fuzz: elapsed: .*execs: ' "$log" | tail -n 1 || true)"
    execs="$(echo "$last" | sed -nE 's/.*execs: ([0-9]+).*/\1/p')"
    interesting="$(echo "$last" | sed -nE 's/.*new interesting: ([0-9]+).*/\1/p')"
    if [ "$status" -eq 0 ]; then
      result=pass
    elif deadline_race "$log" "$target"; then
      result="pass (the coordinator's deadline race, go.dev/issue/75804)"
    else
      failed=1
      crasher="$(sed -nE 's/.*Failing input written to (testdata\/fuzz\/[^ ]+).*/\1/p' "$log" | tail -n 1)"
      if [ -n "$crasher" ]; then
        result="crasher $pkg/$crasher"
      else
        result="failed (exit $status)"
      fi
      tail -n 40 "$log" >&2
    fi
    rows+=("$pkg|$target|$cpu|${execs:-0}|${interesting:-0}|$result")
  done < <(for f in "${files[@]}"; do fuzz_functions "$f"; done)
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)

if [ "$found" -eq 0 ]; then
  echo "fuzz: no fuzz target matches FUZZ_TARGETS=$FUZZ_TARGETS" >&2
  exit 1
fi

echo
echo "fuzz campaign: FUZZTIME=$FUZZTIME per target, FUZZ_PARALLEL=$FUZZ_PARALLEL"
{
  echo "package|target|CPU-minutes|executions|new interesting|result"
  printf '%s\n' "${rows[@]}"
} | column -t -s '|'
exit "$failed"
