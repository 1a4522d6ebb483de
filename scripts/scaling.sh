#!/bin/sh
# Part of the cost model of README "Beyond one machine": the per-pair cost of each demo architecture
# with one process and one thread (the image networks on 28 x 28 Fashion-MNIST images and on the
# demo's 7 x 7 pooled ones, the MLP, the two molecule networks on featurised conformers), and, for the
# demo's C4 GCNN on 7 x 7 images, entk-mpi's strong scaling (a 200-image Gram on 1, 2 and 4 ranks) and
# weak scaling (141, 200, 283 images: pairs in proportion to the ranks), one thread per rank. Needs
# bin/entk, bin/entk-mpi (make mpi), mpirun and python3 with numpy (to cut the images).
# More ranks than cores are oversubscribed (--oversubscribe), and the table says so. Usage:
# sh scripts/scaling.sh [OUTDIR]
set -eu
out=${1:-build/scaling}
mkdir -p "$out"
arch="lift(n=4,q=3,pad=circular,sw=1.4142,sb=0.1) relu gconv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gpool dense"
cores=$(nproc)
root=""; [ "$(id -u)" = 0 ] && root="--allow-run-as-root"
py=/usr/bin/python3; [ -x "$py" ] || py=python3
for n in 8 12 16 17 24 2000; do
    "$py" -c "import numpy as np, sys; a = np.load('data/fashion-mnist-subset/train_x.npy')[:$n]; \
np.save(sys.argv[1], a.reshape($n, 1, 28, 28).astype(np.float64))" "$out/x$n.npy"
done
# the demo's inputs: 4 x 4 average pooling to 7 x 7 (examples/rotated_fashion.c)
for n in 141 200 283; do
    "$py" -c "import numpy as np, sys; a = np.load('data/fashion-mnist-subset/train_x.npy')[:$n].astype(np.float64); \
np.save(sys.argv[1], a.reshape($n, 1, 7, 4, 7, 4).mean(axis=(3, 5)) / 255.0)" "$out/p$n.npy"
done
# the first 64 conformers of the molecule demo, featurised as `entk featurize` does (L = 4)
"$py" -c "import sys
lines = open('data/molecules/conformers.xyz').read().splitlines(); out, i = [], 0
for _ in range(64):
    n = int(lines[i]); out += lines[i:i + n + 2]; i += n + 2
open(sys.argv[1], 'w').write('\\n'.join(out) + '\\n')" "$out/mol64.xyz"
bin/entk featurize --xyz "$out/mol64.xyz" --L 4 --out "$out/m64.npy" >/dev/null
secs() { # wall seconds of a command that must succeed
    s=$(date +%s.%N); "$@" >/dev/null 2>"$out/err" || { echo "scaling.sh: failed: $*: $(tail -n 1 "$out/err")" >&2; echo FAILED; return; }
    e=$(date +%s.%N); echo "$s $e" | awk '{printf "%.2f", $2 - $1}'
}
# per-pair cost of each demo architecture, one process, one thread (a symmetric Gram in memory; its
# time over the n(n+1)/2 pairs, the n self records included)
echo "| demo architecture | inputs | Gram | s | ms per pair |"
echo "| --- | --- | --- | --- | --- |"
pair() { # label inputs n seconds
    echo "| $1 | $2 | $3 | $4 | $(echo "$3 $4" | awk '{printf "%.4g", 1000 * $2 / ($1 * ($1 + 1) / 2)}') |"
}
mlp="dense(sw=1.4142,sb=0.1) relu dense(sw=1.4142,sb=0.1) relu dense(sw=1.4142,sb=0.1)"
cnn="conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gap dense"
pair "MLP (fashion_mlp: 3 dense, 2 relu)" "784-d" 2000 "$(secs bin/entk kernel --arch "$mlp" --x1 "$out/x2000.npy" --ntk "$out/p.npy" --threads 1)"
pair "CNN (rotated_fashion: 2 conv, gap)" "28 x 28" 16 "$(secs bin/entk kernel --arch "$cnn" --x1 "$out/x16.npy" --ntk "$out/p.npy" --threads 1)"
pair "CNN, C4 orbit average (--orbit c4)" "28 x 28" 8 "$(secs bin/entk kernel --arch "$cnn" --orbit c4 --x1 "$out/x8.npy" --ntk "$out/p.npy" --threads 1)"
pair "C4 GCNN (rotated_fashion: lift, gconv, gpool)" "28 x 28" 16 "$(secs bin/entk kernel --arch "$arch" --x1 "$out/x16.npy" --ntk "$out/p.npy" --threads 1)"
pair "CNN (the demo's inputs)" "7 x 7" 200 "$(secs bin/entk kernel --arch "$cnn" --x1 "$out/p200.npy" --ntk "$out/p.npy" --threads 1)"
pair "CNN, C4 orbit average" "7 x 7" 200 "$(secs bin/entk kernel --arch "$cnn" --orbit c4 --x1 "$out/p200.npy" --ntk "$out/p.npy" --threads 1)"
pair "C4 GCNN" "7 x 7" 200 "$(secs bin/entk kernel --arch "$arch" --x1 "$out/p200.npy" --ntk "$out/p.npy" --threads 1)"
pair "SO(3) atom-sum (molecules: s2lift, so3conv, so3pool)" "conformers, L = 4" 64 "$(secs bin/entk kernel \
    --arch "s2lift(sw=0.3) erf so3conv erf so3pool dense atomsum" --x1 "$out/m64.npy" --ntk "$out/p.npy" --threads 1)"
pair "MLP atom-sum (molecules)" "conformers, L = 4" 64 "$(secs bin/entk kernel \
    --arch "dense(sw=1) erf dense erf dense atomsum" --x1 "$out/m64.npy" --ntk "$out/p.npy" --threads 1)"
# scaling: the demo's C4 GCNN on its 7 x 7 inputs, tiles of 25 (36 tiles in the strong run's upper
# triangle: many more than ranks, so the dynamic schedule can balance; a tile's 50 self records cost
# up to 8 % of its 625 pairs, so 1 rank is slower than one process in memory)
t1=$(secs bin/entk kernel --arch "$arch" --x1 "$out/p200.npy" --ntk "$out/ref.npy" --threads 1)
echo "one process, one thread, 200 images (20100 pairs) in memory: $t1 s, $(echo "$t1" | awk '{printf "%.3f", 1000 * $1 / 20100}') ms per pair"
echo "load average before (other jobs on the machine): $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| ranks | strong: 200 images, 20100 pairs (s) | speed-up | weak: images, pairs | weak (s) | weak efficiency | note |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for p in 1 2 4; do
    case $p in 1) w=141 ;; 2) w=200 ;; 4) w=283 ;; esac
    rm -f "$out"/s.npy* "$out"/w.npy*
    ts=$(secs timeout -s KILL 600 mpirun --oversubscribe $root -np $p bin/entk-mpi kernel --arch "$arch" \
         --x1 "$out/p200.npy" --ntk "$out/s.npy" --tile 25 --threads 1)
    cmp -s "$out/s.npy" "$out/ref.npy" || { echo "entk-mpi -np $p: not the one-process file" >&2; exit 1; }
    tw=$(secs timeout -s KILL 600 mpirun --oversubscribe $root -np $p bin/entk-mpi kernel --arch "$arch" \
         --x1 "$out/p$w.npy" --ntk "$out/w.npy" --tile 25 --threads 1)
    note="$p of $cores cores"; [ "$p" -gt "$cores" ] && note="oversubscribed: $p ranks on $cores cores"
    [ $p = 1 ] && { s1=$ts; w1=$tw; }
    ut=$(cut -d' ' -f1 /proc/loadavg)
    echo "| $p | $ts | $(echo "$s1 $ts" | awk '{printf "%.2f", $1 / $2}') | $w, $((w * (w + 1) / 2)) | $tw | $(echo "$w1 $tw" | awk '{printf "%.2f", $1 / $2}') | $note; load average $ut |"
done
