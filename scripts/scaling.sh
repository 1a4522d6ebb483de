#!/bin/sh
# Part of the cost model of README "Beyond one machine": the per-pair cost of the C4 GCNN of the demos
# on 28 x 28 Fashion-MNIST images with one process, and entk-mpi's strong scaling (a 16-image Gram on
# 1, 2 and 4 ranks) and weak scaling (12, 17, 24 images: pairs in proportion to the ranks), one thread
# per rank. Needs bin/entk, bin/entk-mpi (make mpi), mpirun and python3 with numpy (to cut the images).
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
secs() { s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$s $e" | awk '{printf "%.2f", $2 - $1}'; }
# per-pair cost of each demo architecture, one process, one thread (a symmetric Gram in memory; its
# time over the n(n+1)/2 pairs, the n self records included)
echo "| demo architecture (28 x 28 Fashion-MNIST) | Gram | s | ms per pair |"
echo "| --- | --- | --- | --- |"
pair() { # label n seconds
    echo "| $1 | $2 images | $3 | $(echo "$2 $3" | awk '{printf "%.4g", 1000 * $2 / ($1 * ($1 + 1) / 2)}') |"
}
mlp="dense(sw=1.4142,sb=0.1) relu dense(sw=1.4142,sb=0.1) relu dense(sw=1.4142,sb=0.1)"
cnn="conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gap dense"
pair "MLP (fashion_mlp: 3 dense, 2 relu; 784-d)" 2000 "$(secs bin/entk kernel --arch "$mlp" --x1 "$out/x2000.npy" --ntk "$out/p.npy" --threads 1)"
pair "CNN (rotated_fashion: 2 conv, gap)" 16 "$(secs bin/entk kernel --arch "$cnn" --x1 "$out/x16.npy" --ntk "$out/p.npy" --threads 1)"
pair "CNN, C4 orbit average (--orbit c4)" 8 "$(secs bin/entk kernel --arch "$cnn" --orbit c4 --x1 "$out/x8.npy" --ntk "$out/p.npy" --threads 1)"
t1=$(secs bin/entk kernel --arch "$arch" --x1 "$out/x16.npy" --ntk "$out/ref.npy" --threads 1)
echo "one process, one thread, 16 images (136 pairs): $t1 s, $(echo "$t1" | awk '{printf "%.1f", 1000 * $1 / 136}') ms per pair"
echo "load average before (other jobs on the machine): $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| ranks | strong: 16 images, 136 pairs (s) | speed-up | weak: images, pairs | weak (s) | note |"
echo "| --- | --- | --- | --- | --- | --- |"
for p in 1 2 4; do
    case $p in 1) w=12 ;; 2) w=17 ;; 4) w=24 ;; esac
    rm -f "$out"/s.npy* "$out"/w.npy*
    ts=$(secs timeout -s KILL 600 mpirun --oversubscribe $root -np $p bin/entk-mpi kernel --arch "$arch" \
         --x1 "$out/x16.npy" --ntk "$out/s.npy" --tile 2 --threads 1)
    cmp -s "$out/s.npy" "$out/ref.npy" || { echo "entk-mpi -np $p: not the one-process file" >&2; exit 1; }
    tw=$(secs timeout -s KILL 600 mpirun --oversubscribe $root -np $p bin/entk-mpi kernel --arch "$arch" \
         --x1 "$out/x$w.npy" --ntk "$out/w.npy" --tile 2 --threads 1)
    note="$p of $cores cores"; [ "$p" -gt "$cores" ] && note="oversubscribed: $p ranks on $cores cores"
    [ $p = 1 ] && s1=$ts
    ut=$(cut -d' ' -f1 /proc/loadavg)
    echo "| $p | $ts | $(echo "$s1 $ts" | awk '{printf "%.2f", $1 / $2}') | $w, $((w * (w + 1) / 2)) | $tw | $note; load average $ut |"
done
