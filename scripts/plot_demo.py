#!/usr/bin/python3
"""Plots for `make demo` (matplotlib from Debian; scripts only, never a library dependency).

plot_demo.py curves CSV PNG   learning curves written by bin/rotated_fashion
plot_demo.py mc CSV PNG       Monte-Carlo convergence written by bin/mc_convergence
"""
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))

def curves(src, dst):
    r = rows(src)
    n = [int(x["n_train"]) for x in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(n, [100 * float(x["cnn"]) for x in r], "o-", label="CNN NTK")
    ax.plot(n, [100 * float(x["cnn_aug"]) for x in r], "s-", ms=9, mfc="none", label="CNN NTK + full rot90 augmentation")
    ax.plot(n, [100 * float(x["gcnn"]) for x in r], "x--", ms=7, label="C4-GCNN NTK")
    ax.set_xscale("log")
    ax.set_xlabel("training images (upright)")
    ax.set_ylabel("test accuracy on rotated images (%)")
    ax.set_title("Fashion-MNIST, test images turned by k x 90 deg")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(dst, dpi=120)

def mc(src, dst):
    r = rows(src)
    w = [int(x["width"]) for x in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("ntk", "empirical NTK"), ("nngp", "empirical NNGP")):
        if key in r[0]:
            ax.loglog(w, [float(x[key]) for x in r], "o-", label=label)
    ax.loglog(w, [float(r[0].get("ntk", r[0].get("nngp"))) * (w[0] / v) ** 0.5 for v in w], "k:", label="1/sqrt(width)")
    ax.set_xlabel("channels per layer")
    ax.set_ylabel("relative Frobenius error vs analytic kernel")
    ax.set_title("Finite-width C4 GCNN vs entk")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(dst, dpi=120)

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("curves", "mc"):
        raise SystemExit(__doc__)
    (curves if sys.argv[1] == "curves" else mc)(sys.argv[2], sys.argv[3])
