#!/usr/bin/python3
"""Generate a molecular-energy data set (conformers of small molecules) with Debian's psi4.

Usage (psi4's Python module lives outside the default path):
  PYTHONPATH=/usr/lib/x86_64-linux-gnu nice -n 10 /usr/bin/python3 scripts/make_molecules.py \
      [--n 2000] [--seed 20261201] [--sigma 0.05] [--method hf] [--basis 6-31g*] \
      [--out data/molecules/conformers.xyz] [--no-optimize] [--molecules water,ammonia,...]
  ... make_molecules.py --check [--out FILE]            sanity checks + per-molecule statistics
  ... make_molecules.py --check-rotation K [--out FILE]  recompute K conformers after a fresh random
                                                         rotation + translation and compare energies

What it does, in order:
 1. Reference geometries. Each molecule's start geometry is built below from standard (experimental,
    rounded) bond lengths and angles. Unless --no-optimize, it is then relaxed with psi4 at the chosen
    level of theory, and the relaxed geometry (centred, in psi4's frame) is the reference; its energy
    is written on every conformer's comment line as e_ref=, and the reference geometries go to
    references.xyz beside --out.
 2. Conformers. --n conformers are shared out as evenly as possible over the molecules. For each, every
    Cartesian coordinate of every atom of the reference is displaced by an independent N(0, sigma^2)
    draw (sigma in Angstrom). A draw is rejected and redrawn if a bond (an atom pair closer than 1.25x
    the sum of covalent radii in the reference) changes length by more than 30 %, or two non-bonded
    atoms come closer than 0.75x the sum of covalent radii (rare for sigma <= 0.1; the count is
    printed). The displaced geometry, centred on its mean position, is then rotated by a Haar-random
    rotation (a unit quaternion from four i.i.d. N(0,1) numbers, normalised) and translated by a vector
    uniform in [-2, 2]^3 Angstrom. All random numbers come from numpy's PCG64 seeded with --seed; the
    order of the conformers is shuffled with the same generator, so molecules are interleaved.
 3. Energies. psi4 single points at --method/--basis, 1 thread, ~1 GB, SCF_TYPE PK (exact integrals),
    E_CONVERGENCE 1e-10, D_CONVERGENCE 1e-8, symmetry c1 and no_reorient/no_com, so that psi4 works at
    exactly the written coordinates (the rotation-invariance check is then a real test).
 4. Output: extended XYZ, one block per conformer, appended and flushed one at a time. If --out
    already holds k blocks, generation resumes with conformer k+1 (the geometries are regenerated from
    the seed and the first k are checked against the file).

Scripts only: entk itself never needs psi4 or numpy.
"""
import argparse, atexit, math, os, shutil, sys, tempfile, time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")                 # one core: psi4 and its BLAS, before they load
import numpy as np

ANG_PER_BOHR = 0.52917721067
EV_PER_HARTREE = 27.211386245988

# Covalent radii (Angstrom), for the bond test only.
COV = {"H": 0.31, "C": 0.76, "N": 0.71, "O": 0.66, "F": 0.57}


def _deg(a):
    return math.radians(a)


def _methyl(c, axis_sign, r_ch, ang, phase=0.0):
    """Three H around an sp3 centre at c; ang is the X-C-H angle to the substituent on +z*axis_sign."""
    out = []
    for k in range(3):
        phi = phase + 2.0 * math.pi * k / 3.0
        s, co = math.sin(_deg(ang)), math.cos(_deg(ang))
        out.append((c[0] + r_ch * s * math.cos(phi), c[1] + r_ch * s * math.sin(phi),
                    c[2] + axis_sign * r_ch * co))
    return out


def reference_geometries():
    """Start geometries (Angstrom) from standard bond lengths/angles (rounded experimental values)."""
    g = {}
    g["hydrogen_fluoride"] = [("F", 0, 0, 0), ("H", 0, 0, 0.917)]
    r, a = 0.958, _deg(104.5)                                   # water: r(OH), HOH
    g["water"] = [("O", 0, 0, 0), ("H", r * math.sin(a / 2), 0, r * math.cos(a / 2)),
                  ("H", -r * math.sin(a / 2), 0, r * math.cos(a / 2))]
    r, hnh = 1.012, _deg(106.7)                                 # ammonia: r(NH), HNH
    # angle theta of each N-H from the C3 axis: cos(hnh) = 1 - 1.5 sin^2(theta)
    th = math.asin(math.sqrt((1.0 - math.cos(hnh)) / 1.5))
    g["ammonia"] = [("N", 0, 0, 0)] + [("H", r * math.sin(th) * math.cos(2 * math.pi * k / 3),
                                        r * math.sin(th) * math.sin(2 * math.pi * k / 3),
                                        -r * math.cos(th)) for k in range(3)]
    d = 1.087 / math.sqrt(3.0)                                  # methane: r(CH), tetrahedral
    g["methane"] = [("C", 0, 0, 0), ("H", d, d, d), ("H", -d, -d, d), ("H", -d, d, -d),
                    ("H", d, -d, -d)]
    g["hydrogen_cyanide"] = [("C", 0, 0, 0), ("N", 0, 0, 1.153), ("H", 0, 0, -1.066)]
    g["acetylene"] = [("C", 0, 0, 0.6015), ("C", 0, 0, -0.6015), ("H", 0, 0, 1.6645),
                      ("H", 0, 0, -1.6645)]                      # r(CC) 1.203, r(CH) 1.063
    r, a = 1.111, _deg(116.1 / 2)                               # formaldehyde: r(CO) 1.205, HCH
    g["formaldehyde"] = [("C", 0, 0, 0), ("O", 0, 0, 1.205), ("H", r * math.sin(a), 0, -r * math.cos(a)),
                         ("H", -r * math.sin(a), 0, -r * math.cos(a))]
    # fluoromethane: r(CF) 1.383, r(CH) 1.090, FCH 108.8
    g["fluoromethane"] = [("C", 0, 0, 0), ("F", 0, 0, 1.383)] + \
        [("H",) + h for h in _methyl((0, 0, 0), 1, 1.090, 108.8)]
    # methanol: r(CO) 1.427, r(CH) 1.094, OCH 109.5 (staggered), r(OH) 0.956, COH 108.9
    a = _deg(108.9)
    g["methanol"] = [("C", 0, 0, 0), ("O", 0, 0, 1.427),
                     ("H", 0.956 * math.sin(a), 0, 1.427 - 0.956 * math.cos(a))] + \
        [("H",) + h for h in _methyl((0, 0, 0), 1, 1.094, 109.5, phase=math.pi / 3)]
    r, a = 1.086, _deg(117.6 / 2)                               # ethylene: r(CC) 1.339, HCH
    g["ethylene"] = [("C", 0, 0, 0.6695), ("C", 0, 0, -0.6695)] + \
        [("H", sx * r * math.sin(a), 0, sz * (0.6695 + r * math.cos(a))) for sz in (1, -1) for sx in (1, -1)]
    return {k: ([a[0] for a in v], np.array([a[1:] for a in v], dtype=float)) for k, v in g.items()}


# ------------------------------------------------------------------------------------------- psi4
_psi4 = None


def psi4_setup(args):
    global _psi4
    if _psi4 is not None:
        return _psi4
    scratch = tempfile.mkdtemp(prefix="psi4_mol_")
    # registered before psi4's own exit handlers, so it runs after them (atexit is LIFO)
    atexit.register(shutil.rmtree, scratch, True)
    os.chdir(scratch)                              # psi4 leaves timer.dat in the working directory
    import psi4
    psi4.core.set_output_file(os.path.join(scratch, "psi4.out"), False)
    psi4.core.IOManager.shared_object().set_default_path(scratch)
    psi4.set_num_threads(1, quiet=True)
    psi4.set_memory(1000 * 1000 * 1000)
    psi4.set_options({"basis": args.basis, "scf_type": "pk", "e_convergence": 1e-10,
                      "d_convergence": 1e-8, "maxiter": 200, "guess": "sad"})
    _psi4 = (psi4, scratch)
    return _psi4


def _geom_string(els, X, reorient=False):
    lines = ["0 1"] + ["%s %.10f %.10f %.10f" % (e, x[0], x[1], x[2]) for e, x in zip(els, X)]
    lines += ["units angstrom", "symmetry c1"]
    if not reorient:
        lines += ["no_reorient", "no_com"]
    return "\n".join(lines)


def energy(args, els, X, reorient=False):
    psi4, _ = psi4_setup(args)
    mol = psi4.geometry(_geom_string(els, X, reorient))
    try:
        e = psi4.energy(args.method, molecule=mol)
    finally:
        psi4.core.clean()
    return float(e)


def optimize(args, els, X):
    psi4, _ = psi4_setup(args)
    mol = psi4.geometry(_geom_string(els, X, reorient=True))
    psi4.set_options({"g_convergence": "gau_tight", "geom_maxiter": 100})
    try:
        e = psi4.optimize(args.method, molecule=mol)
    finally:
        psi4.core.clean()
    Y = np.asarray(mol.geometry()) * ANG_PER_BOHR
    return float(e), Y - Y.mean(axis=0)


# ------------------------------------------------------------------------------------ geometry
def bonds(els, X):
    n = len(els)
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            if np.linalg.norm(X[i] - X[j]) < 1.25 * (COV[els[i]] + COV[els[j]]):
                out.append((i, j))
    return out


def geometry_ok(els, X0, X, bl):
    bset = set(bl)
    for i in range(len(els)):
        for j in range(i + 1, len(els)):
            d = np.linalg.norm(X[i] - X[j])
            if (i, j) in bset:
                d0 = np.linalg.norm(X0[i] - X0[j])
                if abs(d - d0) > 0.30 * d0:
                    return False
            elif d < 0.75 * (COV[els[i]] + COV[els[j]]):
                return False
    return True


def random_rotation(rng):
    """Haar-random rotation matrix from a uniformly random unit quaternion."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def make_conformers(refs, names, n, sigma, seed):
    """Deterministic list of (name, elements, coordinates) in shuffled order, plus rejection count."""
    rng = np.random.default_rng(seed)
    per = [n // len(names) + (1 if k < n % len(names) else 0) for k in range(len(names))]
    confs, rejected = [], 0
    for name, cnt in zip(names, per):
        els, X0 = refs[name]
        bl = bonds(els, X0)
        for _ in range(cnt):
            while True:
                X = X0 + sigma * rng.standard_normal(X0.shape)
                if geometry_ok(els, X0, X, bl):
                    break
                rejected += 1
            R = random_rotation(rng)
            t = rng.uniform(-2.0, 2.0, 3)
            X = (X - X.mean(axis=0)) @ R.T + t
            confs.append((name, els, X))
    order = rng.permutation(len(confs))
    return [confs[i] for i in order], rejected


# ------------------------------------------------------------------------------------------- I/O
def read_xyz(path):
    """List of (info dict, elements, coordinates) from an extended XYZ file written by this script."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        n = int(lines[i])
        info = {}
        for tok in lines[i + 1].split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                info[k] = v.strip('"')
        els, X = [], []
        for ln in lines[i + 2:i + 2 + n]:
            p = ln.split()
            els.append(p[0])
            X.append([float(v) for v in p[1:4]])
        if len(els) != n:
            raise SystemExit(f"{path}: truncated block at line {i + 1}")
        out.append((info, els, np.array(X)))
        i += 2 + n
    return out


def block(info, els, X):
    head = " ".join(f"{k}={v}" for k, v in info.items())
    body = "\n".join("%-2s %16.10f %16.10f %16.10f" % (e, x[0], x[1], x[2]) for e, x in zip(els, X))
    return f"{len(els)}\n{head}\n{body}\n"


# ----------------------------------------------------------------------------------------- modes
def references(args, names):
    start = reference_geometries()
    refs, e_ref = {}, {}
    for name in names:
        els, X = start[name]
        if args.no_optimize:
            X = X - X.mean(axis=0)
            e = energy(args, els, X)
        else:
            t = time.time()
            e, X = optimize(args, els, X)
            print(f"  optimised {name}: E = {e!r} Eh ({time.time() - t:.1f} s)", flush=True)
        refs[name] = (els, X)
        e_ref[name] = e
    return refs, e_ref


def generate(args):
    names = args.molecules.split(",")
    t0 = time.time()
    print(f"reference geometries ({'start' if args.no_optimize else 'optimised'})", flush=True)
    refs, e_ref = references(args, names)
    t_ref = time.time() - t0
    ref_path = os.path.join(os.path.dirname(os.path.abspath(args.out)), "references.xyz")
    os.makedirs(os.path.dirname(ref_path), exist_ok=True)
    with open(ref_path, "w") as f:
        for name in names:
            info = {"Properties": "species:S:1:pos:R:3", "energy": repr(e_ref[name]), "molecule": name,
                    "method": args.method.upper(), "basis": args.basis.upper(),
                    "geometry": "start" if args.no_optimize else "optimised", "pbc": '"F F F"'}
            f.write(block(info, *refs[name]))
    confs, rejected = make_conformers(refs, names, args.n, args.sigma, args.seed)
    print(f"{len(confs)} conformers, {rejected} displacement draws rejected", flush=True)
    done = read_xyz(args.out)
    for k, (info, els, X) in enumerate(done):
        name, els2, X2 = confs[k]
        if info.get("molecule") != name or els != els2 or np.abs(X - X2).max() > 2e-10:
            raise SystemExit(f"{args.out}: block {k + 1} does not match seed {args.seed}; "
                             "remove the file or use another --out")
    if done:
        print(f"resuming after {len(done)} conformers", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    t1 = time.time()
    with open(args.out, "a") as f:
        for k in range(len(done), len(confs)):
            name, els, X = confs[k]
            e = energy(args, els, X)
            if not math.isfinite(e):
                raise SystemExit(f"conformer {k + 1} ({name}): non-finite energy")
            info = {"Properties": "species:S:1:pos:R:3", "energy": repr(e), "molecule": name,
                    "method": args.method.upper(), "basis": args.basis.upper(),
                    "e_ref": repr(e_ref[name]), "sigma": repr(args.sigma), "seed": str(args.seed),
                    "index": str(k), "pbc": '"F F F"'}
            f.write(block(info, els, X))
            f.flush()
            if (k + 1) % 50 == 0:
                el = time.time() - t1
                print(f"  {k + 1}/{len(confs)}  {el:.0f} s  ({el / (k + 1 - len(done)):.2f} s each)",
                      flush=True)
    t_all = time.time() - t0
    n_new = len(confs) - len(done)
    each = f" ({(time.time() - t1) / n_new:.2f} s per conformer)" if n_new else ""
    print(f"done: {n_new} new conformers; references {t_ref:.0f} s, total wall time {t_all:.0f} s"
          + each, flush=True)


def check(args):
    data = read_xyz(args.out)
    if not data:
        raise SystemExit(f"{args.out}: no conformers")
    ok = True
    by = {}
    for info, els, X in data:
        e, e0 = float(info["energy"]), float(info["e_ref"])
        if not (math.isfinite(e) and math.isfinite(e0)):
            print(f"  non-finite energy in conformer {info.get('index')}")
            ok = False
        by.setdefault(info["molecule"], []).append(((e - e0) * EV_PER_HARTREE * 1000.0, len(els)))
    idx = sorted(int(info["index"]) for info, _, _ in data)
    if idx != list(range(len(data))):
        print("  indices are not 0..n-1")
        ok = False
    print(f"{len(data)} conformers in {args.out} ({os.path.getsize(args.out)} bytes)")
    print("| molecule | atoms | conformers | min (meV) | max (meV) | mean (meV) | std (meV) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in sorted(by, key=lambda s: (by[s][0][1], s)):
        d = np.array([v for v, _ in by[name]])
        print(f"| {name} | {by[name][0][1]} | {len(d)} | {d.min():.1f} | {d.max():.1f} | "
              f"{d.mean():.1f} | {d.std():.1f} |")
        if np.abs(d).max() > 5000.0:
            print(f"  {name}: a conformer is more than 5 eV from the reference energy")
            ok = False
        if d.min() < -50.0:
            print(f"  {name}: a conformer lies {-d.min():.1f} meV below the reference (not a minimum?)")
    allv = np.concatenate([[v for v, _ in by[n]] for n in by])
    print(f"all: E - E_ref from {allv.min():.1f} to {allv.max():.1f} meV, std {allv.std():.1f} meV")
    print("checks passed" if ok else "CHECKS FAILED")
    return 0 if ok else 1


def check_rotation(args):
    data = read_xyz(args.out)
    rng = np.random.default_rng(args.seed + 1)
    pick = rng.choice(len(data), size=min(args.check_rotation, len(data)), replace=False)
    args.method, args.basis = data[0][0]["method"].lower(), data[0][0]["basis"].lower()
    psi4, _ = psi4_setup(args)
    worst = 0.0
    for k in pick:
        info, els, X = data[k]
        e = float(info["energy"])
        e_same = energy(args, els, X)
        R, t = random_rotation(rng), rng.uniform(-2.0, 2.0, 3)
        Xr = (X - X.mean(axis=0)) @ R.T + t
        e_rot = energy(args, els, Xr)
        e_reo = energy(args, els, Xr, reorient=True)
        d = max(abs(e_same - e), abs(e_rot - e), abs(e_reo - e))
        worst = max(worst, d)
        print(f"  conformer {k} ({info['molecule']}): file {e!r}, recomputed {e_same!r}, "
              f"rotated {e_rot!r} (diff {e_rot - e:.2e}), rotated+psi4 reorient {e_reo!r} "
              f"(diff {e_reo - e:.2e})", flush=True)
    print(f"largest |dE| = {worst:.2e} Eh: " + ("OK (< 1e-8)" if worst < 1e-8 else "ABOVE 1e-8"))
    return 0 if worst < 1e-8 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2000, help="number of conformers in total")
    p.add_argument("--seed", type=int, default=20261201)
    p.add_argument("--sigma", type=float, default=0.05, help="displacement std per coordinate, Angstrom")
    p.add_argument("--method", default="hf")
    p.add_argument("--basis", default="6-31g*")
    p.add_argument("--out", default="data/molecules/conformers.xyz")
    p.add_argument("--molecules", default="hydrogen_fluoride,water,ammonia,methane,hydrogen_cyanide,"
                   "acetylene,formaldehyde,fluoromethane,methanol,ethylene")
    p.add_argument("--no-optimize", action="store_true", help="use the start geometries as references")
    p.add_argument("--check", action="store_true")
    p.add_argument("--check-rotation", type=int, default=0, metavar="K")
    args = p.parse_args()
    args.out = os.path.abspath(args.out)
    if args.check:
        return check(args)
    if args.check_rotation:
        return check_rotation(args)
    generate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
