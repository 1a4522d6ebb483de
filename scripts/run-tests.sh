#!/bin/sh
# Run every test binary given (Criterion binaries, the AArch64 check under qemu-user, `readme`, `python:SCRIPT`, and
# `fuzz:NAME` for a short run of a libFuzzer target, FUZZ_SECONDS each), then print
# one closing line `N passed, N failed` (after a line counting the binaries that skipped themselves);
# each binary's wall time follows its output. Exits non-zero if anything failed or crashed.
# A sanitizer report anywhere in a binary's output (ASan, LSan, UBSan) counts as one more failure:
# Criterion ignores a worker's exit status once its test has passed, and LeakSanitizer reports only at
# the worker's exit.
passed=0; failed=0; skipped=0; status=0; t_all=$(date +%s)
for b in "$@"; do
    echo "== $b"; t0=$(date +%s)
    case "$b" in
    readme)
        out=$(sh scripts/check_readme.sh 2>&1); rc=$?
        printf '%s\n' "$out" | tail -n 5
        line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
        p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
        [ -n "$line" ] || { p=0; f=1; } ;;
    python:*)
        # a Python test script (the NumPy front end), run with Debian's python3; prints N passed, N failed
        out=$(ENTK_PY_WATCHDOG=600 timeout -s KILL 900 /usr/bin/python3 "${b#python:}" 2>&1); rc=$?
        printf '%s\n' "$out" | tail -n 15
        line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
        p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
        [ -n "$line" ] || { p=0; f=1; } ;;
    fuzz:*)
        # a libFuzzer target: its past crashes replayed, then FUZZ_SECONDS of fuzzing; one test
        out=$(sh scripts/fuzz.sh "${b#fuzz:}" "${FUZZ_SECONDS:-30}" 2>&1); rc=$?
        printf '%s\n' "$out" | tail -n 15
        if [ "$rc" -eq 0 ]; then p=1; f=0; else p=0; f=1; fi ;;
    build/aarch64/*)
        # Criterion hangs under qemu-user, so this is a plain program; -E gives the loader the
        # multiarch library path where Debian's arm64 libsleef lives.
        out=$(timeout -s KILL 600 qemu-aarch64 -L /usr/aarch64-linux-gnu \
              -E LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu "$b" 2>&1); rc=$?
        printf '%s\n' "$out" | tail -n 5
        line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
        p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
        [ -n "$line" ] || { p=0; f=1; } ;;
    *)
        out=$(timeout -s KILL 900 "$b" --jobs 2 2>&1); rc=$?
        printf '%s\n' "$out" | grep -vE '^\[----\]|^$' | tail -n 15
        line=$(printf '%s\n' "$out" | grep -E 'Synthesis: Tested' | tail -n 1)
        p=$(echo "$line" | sed -E 's/.*Passing: ([0-9]+).*/\1/'); f=$(echo "$line" | sed -E 's/.*Failing: ([0-9]+) \| Crashing: ([0-9]+).*/\1+\2/')
        # a binary of a variant this CPU cannot run (a forced avx2 or avx512 one, tests/testutil.h) exits 0 after
        # one "entk-skip:" line: neither passed nor failed
        if [ -z "$line" ] && [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q '^entk-skip: '; then
            line=skip; p=0; f=0; skipped=$((skipped + 1))
        fi
        [ -n "$line" ] || { p=0; f=1; }
        f=$(( $f )) ;;
    esac
    san=""
    case "$b" in fuzz:*) ;; *) san=$(printf '%s\n' "$out" | grep -E '^==[0-9]+==ERROR: |: runtime error: ' | head -n 5) ;; esac
    if [ -n "$san" ]; then
        printf 'sanitizer report:\n%s\n' "$san"; f=$((f + 1)); status=1
    fi
    [ "$rc" -eq 0 ] || { status=1; [ "$f" -gt 0 ] || f=1; }
    passed=$((passed + p)); failed=$((failed + f))
    echo "   ($(( $(date +%s) - t0 )) s)"
done
[ "$skipped" -eq 0 ] || echo "($skipped binaries skipped: their variant forces a path this machine lacks or the default variant already runs)"
echo "(tests ran $(( $(date +%s) - t_all )) s)"
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
