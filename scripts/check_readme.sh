#!/bin/sh
# Run the README's examples as written: the C block (compiled and run), the command-line block and the
# Python block.
# Prints `N passed, N failed` like the other test programs.
cd "$(dirname "$0")/.." || exit 1
pass=0; fail=0
tmp=$(mktemp -d)
# make NO_SLEEF=1 test passes NO_SLEEF=1: the C example then builds the README's other way
if [ "${NO_SLEEF:-}" = 1 ]; then sleef="-DENTK_NO_SLEEF"; libs="-lm"; else sleef=""; libs="-lsleef -lm"; fi
awk '/^```c$/{f=1;next} /^```$/{f=0} f' README.md > "$tmp/readme.c"
if ${CC:-cc} -O2 -std=c99 -pedantic -Wall -Wextra -Werror $sleef -I. "$tmp/readme.c" -o "$tmp/readme" $libs \
   && "$tmp/readme" > "$tmp/out.txt" && grep -q 'Theta' "$tmp/out.txt"; then
    pass=$((pass + 1))
else
    echo "FAIL: README C example"; fail=$((fail + 1))
fi
# the EXAMPLE of each header's manual (the lines between " * EXAMPLE" and the end of the comment)
for h in entk.h entk_cn.h entk_so3.h; do
    awk '/^ \* EXAMPLE/{f=1;next} f&&/^ \*\//{exit} f{sub(/^ \*   ?/,""); print}' "$h" > "$tmp/example.c"
    if [ -s "$tmp/example.c" ] && ${CC:-cc} -O2 -std=c99 -pedantic -Wall -Wextra -Werror $sleef -I. "$tmp/example.c" \
           -o "$tmp/example" $libs && "$tmp/example" > /dev/null; then
        pass=$((pass + 1))
    else
        echo "FAIL: the EXAMPLE in $h"; fail=$((fail + 1))
    fi
done
# the sh block that starts with `make` and runs bin/entk (the first block is `make demo/test`)
awk '/^```sh$/{f=1;b="";next} /^```$/{if(f&&b~/bin\/entk info/)printf "%s",b;f=0} f{b=b $0 "\n"}' README.md > "$tmp/readme.sh"
if [ -s "$tmp/readme.sh" ] && sh -e "$tmp/readme.sh" > "$tmp/sh.txt" 2>&1; then
    pass=$((pass + 1))
else
    echo "FAIL: README command-line example"; cat "$tmp/sh.txt"; fail=$((fail + 1))
fi
# the Python block, from the source tree, with Debian's python3 (its output must hold the error line)
awk '/^```python$/{f=1;next} /^```$/{f=0} f' README.md > "$tmp/readme.py"
if [ -s "$tmp/readme.py" ] && PYTHONPATH=python /usr/bin/python3 "$tmp/readme.py" > "$tmp/py.txt" 2>&1 \
   && grep -q '^x1: image layers need' "$tmp/py.txt"; then
    pass=$((pass + 1))
else
    echo "FAIL: README Python example"; cat "$tmp/py.txt"; fail=$((fail + 1))
fi
rm -rf "$tmp"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
