#!/bin/sh
# `make demo`: infinite-width kernel regression on Fashion-MNIST.
# Uses the full data set from Debian's dataset-fashion-mnist when installed (converted once to .npy
# under build/), else the 2000 + 1000 image subset shipped in data/.
set -e
cd "$(dirname "$0")/.."
data=data/fashion-mnist-subset
if [ -d /usr/share/datasets/fashion-mnist ] && [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    if [ ! -f build/fashion-mnist/test_y.npy ]; then
        /usr/bin/python3 scripts/fashion_mnist.py build/fashion-mnist 10000 2000 >/dev/null
    fi
    data=build/fashion-mnist
fi
echo "== MLP NTK and NNGP on Fashion-MNIST (data: $data)"
bin/fashion_mlp "$data" 2000 1000
