#!/usr/bin/python3
"""Plots for `make demo` (matplotlib from Debian; scripts only, never a library dependency).

plot_demo.py curves CSV PNG   learning curves written by bin/rotated_fashion
plot_demo.py mc TABLE PNG     Monte-Carlo convergence table printed by bin/mc_convergence
plot_demo.py mol CSV PNG      molecular learning curves written by bin/molecules
plot_demo.py ens CSV PNG      ensemble distances against M written by bin/aug_ensembles
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

def sys_point(s2, e2):
    """(value, lower error, upper error, resolved) of a systematic distance from S^2 +- e, as
    bin/aug_ensembles prints it: S +- e / (2 S) when S^2 > e, else the 1-sigma upper bound"""
    if s2 > e2:
        S = s2 ** 0.5
        return S, min(e2 / (2 * S), S), e2 / (2 * S), True
    return (max(s2, 0.0) + e2) ** 0.5, 0.0, 0.0, False

def ens(src, dst):
    """top: distance between the augmented-CNN and GCNN ensemble means against M, one panel per input
    set, horizontal bands the systematic part S +- error (noise removed, all members); bottom: the
    systematic distances against width (CNN vs GCNN, each vs mu_t), open triangles 1-sigma bounds"""
    r = rows(src)
    sets = ["test", "noise", "unseen"]
    titles = {"test": "test images (trained classes)", "noise": "Gaussian-noise images",
              "unseen": "untrained classes"}
    widths = sorted({int(x["width"]) for x in r})
    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    for ax, s in zip(axes[0], sets):
        for i, w in enumerate(widths):
            q = [x for x in r if x["set"] == s and int(x["width"]) == w]
            M = [int(x["M"]) for x in q]
            c = "C%d" % i
            ax.loglog(M, [float(x["d_raw"]) for x in q], "o-", color=c, label="width %d, raw f_t" % w)
            ax.loglog(M, [float(x["d_cv"]) for x in q], "s--", color=c, mfc="none",
                      label="width %d, f_t with control variate" % w)
            v, lo, hi, ok = sys_point(float(q[0]["sys2"]), float(q[0]["sys2_err"]))
            if ok:
                ax.axhspan(v - lo, v + hi, color=c, alpha=0.15)
            else:  # consistent with 0: the 1-sigma upper bound
                ax.axhline(v, color=c, ls=":", lw=1)
        ax.set_title(titles[s])
        ax.set_xticks(M)
        ax.set_xticklabels([str(m) for m in M])
        ax.minorticks_off()
        ax.set_xlabel("ensemble size M")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("rms L2 distance of the ensemble means")
    axes[0][0].legend(fontsize=7)
    curves = [("sys2", "CNN (augmented) vs GCNN", "k", "o"), ("bias2_cnn", "CNN ensemble vs mu_t", "C3", "s"),
              ("bias2_gcnn", "GCNN ensemble vs mu_t", "C2", "D")]
    for ax, s in zip(axes[1], sets):
        for j, (col, lab, c, mk) in enumerate(curves):
            pts = [sys_point(float(x[col]), float(x[col + "_err"])) + (int(x["width"]),)
                   for x in r if x["set"] == s and int(x["M"]) == 1]
            xs = [p[4] * (1 + 0.04 * (j - 1)) for p in pts]
            for xv, p in zip(xs, pts):
                if p[3]:
                    ax.errorbar([xv], [p[0]], yerr=[[p[1]], [p[2]]], color=c, marker=mk, capsize=3)
                else:
                    ax.plot([xv], [p[0]], color=c, marker="v", mfc="none", ls="none")
            ax.plot(xs, [p[0] for p in pts], color=c, lw=0.8, alpha=0.6, label=lab)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(widths)
        ax.set_xticklabels([str(w) for w in widths])
        ax.set_xlabel("width (channels)")
        ax.grid(alpha=0.3, which="both")
    axes[1][0].set_ylabel("systematic distance (noise removed)")
    axes[1][0].legend(fontsize=7)
    fig.suptitle("augmented CNN vs C4 GCNN ensembles at finite width (bands, bars: systematic part +- 1 sigma; "
                 "open triangles: 1-sigma bounds)", fontsize=11)
    fig.tight_layout()
    fig.savefig(dst, dpi=120)

if __name__ == "__main__":
    modes = {"curves": curves, "mc": mc, "mol": mol, "ens": ens}
    if len(sys.argv) != 4 or sys.argv[1] not in modes:
        raise SystemExit(__doc__)
    modes[sys.argv[1]](sys.argv[2], sys.argv[3])
