#!/bin/sh
# `make demo-so3` (and part 4 of `make demo`): test MAE of molecular energies against the training-set
# size for the SO(3) GCNN atom-sum NTK and the MLP atom-sum NTK, on the psi4 conformers in
# data/molecules (randomly oriented; HF/6-31G*). Table to stdout, CSV and plot to out/demo/. Sizes can be
# set with SO3_NMAX (default 800) and SO3_NTEST (default 200).
set -e
cd "$(dirname "$0")/.."
mkdir -p out/demo
echo "== 4. Molecular energies: SO(3)-invariant vs MLP atom networks"
bin/molecules data/molecules/conformers.xyz "${SO3_NMAX:-800}" "${SO3_NTEST:-200}" 4 out/demo/molecules.csv
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    /usr/bin/python3 scripts/plot_demo.py mol out/demo/molecules.csv out/demo/molecules.png && echo "plot written: out/demo/molecules.png"
else
    echo "(matplotlib not installed: no plot; apt-get install python3-matplotlib)"
fi
