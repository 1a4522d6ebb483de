#!/usr/bin/python3
"""Plots for `make demo` (matplotlib from Debian; scripts only, never a library dependency).

plot_demo.py curves CSV PNG   learning curves written by bin/rotated_fashion
plot_demo.py mc TABLE PNG     Monte-Carlo convergence table printed by bin/mc_convergence
plot_demo.py mol CSV PNG      molecular learning curves written by bin/molecules
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
    """src: the whitespace table printed by bin/mc_convergence ('#' lines are comments)."""
    lines = [l.split() for l in open(src) if l.strip() and not l.startswith("#")]
    head, body = lines[0], [list(map(float, l)) for l in lines[1:]]
    col = {k: i for i, k in enumerate(head)}
    w = [r[col["width"]] for r in body]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, style in (("single_ntk", "NTK, one network (RMS)", "o-"),
                              ("single_nngp", "NNGP, one network (RMS)", "s-"),
                              ("mean_ntk", "NTK, seed average", "o:"),
                              ("mean_nngp", "NNGP, seed average", "s:")):
        ax.loglog(w, [r[col[key]] for r in body], style, label=label)
    ref = body[0][col["single_ntk"]]
    ax.loglog(w, [ref * (w[0] / v) ** 0.5 for v in w], "k--", lw=0.8, label="1/sqrt(width)")
    ax.set_xlabel("channels per layer")
    ax.set_ylabel("relative Frobenius error vs entk")
    ax.set_title("Finite-width C4 GCNN kernels converge to entk's")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=120)

def mol(src, dst):
    r = rows(src)
    n = [int(x["n_train"]) for x in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, style in (("mlp", "MLP atom network, atom sum (NTK)", "o-"),
                              ("so3", "SO(3) GCNN atom network, atom sum (NTK)", "s-")):
        ax.errorbar(n, [float(x["mae_%s_mev" % key]) for x in r], yerr=[float(x["sd_%s_mev" % key]) for x in r],
                    fmt=style, capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training conformers")
    ax.set_ylabel("test MAE (meV)")
    ax.set_title("Energies of randomly oriented conformers (HF/6-31G*)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(dst, dpi=120)

if __name__ == "__main__":
    modes = {"curves": curves, "mc": mc, "mol": mol}
    if len(sys.argv) != 4 or sys.argv[1] not in modes:
        raise SystemExit(__doc__)
    modes[sys.argv[1]](sys.argv[2], sys.argv[3])
