#!/bin/sh
# `make demo`: infinite-width kernel regression on Fashion-MNIST.
#  1. the main demo: trained on upright images, tested on images turned by random multiples of 90 deg;
#     learning curves of the CNN NTK, the CNN NTK with full rot90 augmentation and the C4-GCNN NTK;
#  2. Monte-Carlo: finite-width C4 GCNN kernels converge to entk's as the width grows;
#  3. an MLP NTK/NNGP at several training times;
#  4. molecular energies: the SO(3)-invariant atom-sum NTK against the MLP-atom one (examples/so3_demo.sh);
#  5. finite width: ensembles of CNNs trained with rot90 augmentation against C4-GCNN ensembles (a reduced
#     run of examples/aug_ensembles.c; the full one is `make experiment-ens`).
# Uses the full data set from Debian's dataset-fashion-mnist when installed (converted once to .npy
# under build/), else the 2000 + 1000 image subset shipped in data/. Tables go to stdout, plots and
# CSV to out/demo/. Sizes can be set with DEMO_NMAX (default 2000) and DEMO_NTEST (default 300).
set -e
cd "$(dirname "$0")/.."
data=data/fashion-mnist-subset
if [ -d /usr/share/datasets/fashion-mnist ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    if [ ! -f build/fashion-mnist/test_y.npy ]; then
        /usr/bin/python3 scripts/fashion_mnist.py build/fashion-mnist 10000 2000 >/dev/null
    fi
    data=build/fashion-mnist
fi
mkdir -p out/demo
plot() {
    if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
        /usr/bin/python3 scripts/plot_demo.py "$@" && echo "plot written: $3"
    else
        echo "(matplotlib not installed: no plot; apt-get install python3-matplotlib)"
    fi
}
echo "== 1. Rotated Fashion-MNIST (data: $data)"
bin/rotated_fashion "$data" "${DEMO_NMAX:-2000}" "${DEMO_NTEST:-300}" 4 out/demo/learning_curves.csv
plot curves out/demo/learning_curves.csv out/demo/learning_curves.png
echo
echo "== 2. Finite-width C4 GCNNs converge to the infinite-width kernels"
bin/mc_convergence 16 512 | tee out/demo/mc_convergence.txt
plot mc out/demo/mc_convergence.txt out/demo/mc_convergence.png
echo
echo "== 3. MLP NTK and NNGP at several training times"
bin/fashion_mlp "$data" 1000 1000
echo
sh examples/so3_demo.sh
echo
echo "== 5. Finite-width ensembles: augmented CNNs against C4 GCNNs (reduced; full: make experiment-ens)"
bin/aug_ensembles "$data" 16 2 8,16 8 1000 out/demo/aug_ensembles.csv
plot ens out/demo/aug_ensembles.csv out/demo/aug_ensembles.png
