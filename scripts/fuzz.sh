#!/bin/sh
# Run one libFuzzer target: scripts/fuzz.sh NAME SECONDS. The target is build/fuzz/fuzz_NAME (from
# fuzz/fuzz_NAME.c). First every input in fuzz/regress/NAME/ (past crashes) is replayed; then the
# target fuzzes for SECONDS seconds in one process (one core) on a copy of fuzz/corpus/NAME/ and
# fuzz/regress/NAME/ in build/fuzz/run-NAME/, so runs never write into fuzz/. A crash, leak or
# timeout leaves its input in build/fuzz/run-NAME/artifacts/ and fails the run. Prints one summary
# line: executions, exec/s, cov and ft at the end.
set -u
name=$1; secs=${2:-600}
bin=build/fuzz/fuzz_$name
work=build/fuzz/run-$name
[ -x "$bin" ] || { echo "fuzz $name: $bin missing (make fuzz builds it)"; exit 1; }
[ -d "fuzz/corpus/$name" ] || { echo "fuzz $name: no seed corpus fuzz/corpus/$name/"; exit 1; }
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
if [ -d "fuzz/regress/$name" ] && [ -n "$(ls "fuzz/regress/$name")" ]; then
    if ! "$bin" -runs=1 "fuzz/regress/$name"/* > "$work/replay.log" 2>&1; then
        echo "fuzz $name: a past crash in fuzz/regress/$name/ fails again:"
        grep -E 'ERROR|check failed|runtime error|Running:' "$work/replay.log" | tail -n 10
        exit 1
    fi
    echo "fuzz $name: $(ls "fuzz/regress/$name" | wc -l) regression inputs replayed"
    cp "fuzz/regress/$name"/* "$work/corpus/"
fi
cp "fuzz/corpus/$name"/* "$work/corpus/"
# -timeout: an input that takes longer than 20 s is a hang (all seeds take milliseconds)
"$bin" -max_total_time="$secs" -timeout=20 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" > "$work/fuzz.log" 2>&1
rc=$?
last=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -n 1)
runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$work/fuzz.log")
eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$work/fuzz.log")
cov=$(echo "$last" | sed -nE 's/.* cov: ([0-9]+).*/\1/p'); ft=$(echo "$last" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
echo "fuzz $name: ${secs} s, ${runs:-?} executions, ${eps:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus $(ls "$work/corpus" | wc -l) files"
if [ "$rc" -ne 0 ] || [ -n "$(ls "$work/artifacts")" ]; then
    grep -E 'ERROR|check failed|runtime error|SUMMARY|#[0-9]+ 0x' "$work/fuzz.log" | head -n 12
    echo "fuzz $name: FAILED (exit $rc); the inputs (add each to fuzz/regress/$name/ with its fix):"
    ls "$work/artifacts" | sed "s|^|    $work/artifacts/|"
    exit 1
fi
