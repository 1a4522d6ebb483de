"""The Python module (python/entk.py) against the entk program: the README's command-line examples
bit for bit, every bad input with the program's message, the GIL released, progress, threads.
Run by make test (scripts/run-tests.sh python:...) as /usr/bin/python3 tests/test_python.py from
the source tree; prints `N passed, N failed`."""

import os
import subprocess
import sys
import tempfile
import threading
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ["ENTK_LIBRARY"] = os.path.join(ROOT, "build", "libentk.so")
sys.path.insert(0, os.path.join(ROOT, "python"))
import entk  # noqa: E402
import faulthandler  # noqa: E402
if os.environ.get("ENTK_PY_WATCHDOG"):
    faulthandler.dump_traceback_later(int(os.environ["ENTK_PY_WATCHDOG"]), exit=True)

ENTK = os.path.join(ROOT, "bin", "entk")
DATA = os.path.join(ROOT, "examples", "data")
XYZ = os.path.join(ROOT, "tests", "data", "molecules_small.xyz")
TMP = tempfile.mkdtemp(prefix="entk-py-")
GCNN = "lift(n=4,pad=circular) relu gconv(pad=circular) relu gpool dense"
CNN = "conv(pad=circular) relu conv(pad=circular) relu gap dense"
MOL = "s2lift(sw=0.1) erf so3conv erf so3pool dense atomsum"
MLP = "dense(sw=1.4,sb=0.1) relu dense"


def cli(*args, ok=True):
    """Run bin/entk; returns its stderr's last line (without "entk: ") or raises if the status is not as
    expected."""
    r = subprocess.run([ENTK] + list(args), capture_output=True, text=True, cwd=TMP)
    if ok and r.returncode != 0:
        raise AssertionError("entk %s failed: %s" % (" ".join(args), r.stderr))
    if not ok and r.returncode == 0:
        raise AssertionError("entk %s succeeded" % " ".join(args))
    lines = r.stderr.strip().splitlines()
    return lines[-1][len("entk: "):] if lines else ""


def tmp(name):
    return os.path.join(TMP, name)


def save(name, a):
    np.save(tmp(name), a)
    return tmp(name)


def data(name):
    return os.path.join(DATA, name)


def same_bits(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == np.float64 and b.dtype == np.float64, what
    assert a.shape == b.shape, "%s: shapes %s vs %s" % (what, a.shape, b.shape)
    assert np.array_equal(a.view(np.uint64), b.view(np.uint64)), "%s: bits differ (max |diff| %g)" % (
        what, np.max(np.abs(a - b)))


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ---- the README's examples, bit for bit ------------------------------------------------------


@test
def readme_mlp_kernel():
    cli("kernel", "--arch", MLP, "--x1", data("train_flat.npy"), "--ntk", tmp("T.npy"))
    x = np.load(data("train_flat.npy"))
    same_bits(entk.kernel(MLP, x, get="ntk"), np.load(tmp("T.npy")), "ntk only")
    cli("kernel", "--arch", MLP, "--x1", data("train_flat.npy"), "--nngp", tmp("K.npy"), "--ntk", tmp("T2.npy"))
    K, T = entk.kernel(MLP, x)
    same_bits(K, np.load(tmp("K.npy")), "K")
    same_bits(T, np.load(tmp("T2.npy")), "T")
    same_bits(entk.kernel(MLP, x.tolist(), threads=1)[1], T, "a list, 1 thread")


@test
def readme_cnn_orbit_kernel():
    cli("kernel", "--arch", CNN, "--orbit", "c4", "--x1", data("train_x.npy"), "--x2", data("test_x.npy"),
        "--ntk", tmp("Tc4.npy"), "--nngp", tmp("Kc4.npy"))
    K, T = entk.kernel(CNN, np.load(data("train_x.npy")), np.load(data("test_x.npy")), orbit="c4", threads=2)
    same_bits(T, np.load(tmp("Tc4.npy")), "Theta c4")
    same_bits(K, np.load(tmp("Kc4.npy")), "K c4")


@test
def readme_gcnn_predict():
    args = ["predict", "--arch", GCNN, "--train-x", data("train_x.npy"), "--train-y", data("train_y.npy"),
            "--test-x", data("test_x.npy"), "--out", tmp("P.npy"), "--time", "100", "--variance", tmp("V.npy")]
    cli(*args)
    mean, var = entk.predict(GCNN, np.load(data("train_x.npy")), np.load(data("train_y.npy")),
                             np.load(data("test_x.npy")), time=100, variance=True)
    same_bits(mean, np.load(tmp("P.npy")), "mean")
    same_bits(var, np.load(tmp("V.npy")), "variance")


@test
def readme_molecules():
    cli("featurize", "--xyz", XYZ, "--L", "4", "--out", tmp("Xmol.npy"), "--energies", tmp("E.npy"))
    X, E = entk.featurize(XYZ, 4)
    same_bits(X, np.load(tmp("Xmol.npy")), "features")
    same_bits(E, np.load(tmp("E.npy")), "energies")
    with open(XYZ, "rb") as f:
        X2, E2 = entk.featurize(f.read(), 4)
    same_bits(X2, X, "features from bytes")
    cli("kernel", "--arch", MOL, "--x1", tmp("Xmol.npy"), "--ntk", tmp("Tmol.npy"))
    same_bits(entk.kernel(MOL, X, get="ntk"), np.load(tmp("Tmol.npy")), "molecule NTK")
    cli("predict", "--arch", MOL, "--standardize", "--train-x", tmp("Xmol.npy"), "--train-y", tmp("E.npy"),
        "--test-x", tmp("Xmol.npy"), "--out", tmp("Emol.npy"), "--diag-reg", "1e-6")
    mean = entk.predict(MOL, X, E, X, standardize=True, diag_reg=1e-6)
    same_bits(mean, np.load(tmp("Emol.npy"))[:, 0], "molecule energies (1-D targets: 1-D mean)")


# ---- the other options, bit for bit ----------------------------------------------------------


@test
def predict_options():
    xtr, xte = np.load(data("train_flat.npy")), np.load(data("train_flat.npy"))[:7] * 0.5
    y = np.load(data("train_y.npy"))
    save("xte.npy", xte)
    base = ["predict", "--arch", MLP, "--train-x", data("train_flat.npy"), "--train-y", data("train_y.npy"),
            "--test-x", tmp("xte.npy"), "--out", tmp("P.npy")]
    cases = [([], {}), (["--kernel", "nngp", "--variance", tmp("V.npy")], dict(kernel="nngp", variance=True)),
             (["--standardize", "--variance", tmp("V.npy"), "--time", "3", "--lr", "0.5"],
              dict(standardize=True, variance=True, time=3, lr=0.5)),
             (["--diag-reg", "1e-3", "--diag-reg-absolute"], dict(diag_reg=1e-3, diag_reg_absolute=True)),
             (["--kernel", "nngp", "--diag-reg", "0.1", "--time", "10"], dict(kernel="nngp", diag_reg=0.1, time=10))]
    for extra, kw in cases:
        cli(*(base + extra))
        r = entk.predict(MLP, xtr, y, xte, **kw)
        if kw.get("variance"):
            same_bits(r[0], np.load(tmp("P.npy")), "mean %s" % extra)
            same_bits(r[1], np.load(tmp("V.npy")), "variance %s" % extra)
        else:
            same_bits(r, np.load(tmp("P.npy")), "mean %s" % extra)


@test
def predict_from_grams():
    cli("kernel", "--arch", MLP, "--x1", data("train_flat.npy"), "--ntk", tmp("Ktr.npy"))
    save("xte.npy", np.load(data("train_flat.npy"))[5:12] * 0.3)
    cli("kernel", "--arch", MLP, "--x1", tmp("xte.npy"), "--x2", data("train_flat.npy"), "--ntk", tmp("Kte.npy"))
    for extra, kw in [([], {}), (["--time", "5", "--standardize"], dict(time=5, standardize=True)),
                      (["--diag-reg", "1e-2"], dict(diag_reg=1e-2))]:
        cli("predict", "--train-gram", tmp("Ktr.npy"), "--test-gram", tmp("Kte.npy"), "--train-y",
            data("train_y.npy"), "--out", tmp("Pg.npy"), *extra)
        mean = entk.predict(train_gram=np.load(tmp("Ktr.npy")), test_gram=np.load(tmp("Kte.npy")),
                            train_y=np.load(data("train_y.npy")), **kw)
        same_bits(mean, np.load(tmp("Pg.npy")), "Gram predict %s" % extra)


@test
def input_dtypes_and_threads():
    x = np.load(data("train_x.npy"))[:6]
    x32 = (x * 3).astype(np.float32)
    save("x32.npy", x32)
    cli("kernel", "--arch", GCNN, "--x1", tmp("x32.npy"), "--nngp", tmp("K32.npy"), "--threads", "1")
    for th in (1, 2, 3):
        same_bits(entk.kernel(GCNN, x32, threads=th, get="nngp"), np.load(tmp("K32.npy")), "float32, %d threads" % th)
    u8 = (np.abs(x) * 40).astype(np.uint8)
    save("u8.npy", u8)
    cli("kernel", "--arch", CNN, "--orbit", "d4", "--x1", tmp("u8.npy"), "--nngp", tmp("K8.npy"))
    same_bits(entk.kernel(CNN, u8, orbit="d4", get="nngp"), np.load(tmp("K8.npy")), "uint8, d4")
    same_bits(entk.kernel(CNN, u8.astype(np.int64), orbit="d4", get="nngp"), np.load(tmp("K8.npy")), "int64")
    # Fortran order and a strided view are read as their values
    xf = np.asfortranarray(x32.astype(np.float64))
    same_bits(entk.kernel(GCNN, xf, get="nngp"), np.load(tmp("K32.npy")), "Fortran order")


@test
def diag_matches_the_gram_diagonal():
    x = np.load(data("train_x.npy"))[:5]
    for arch, orbit in ((GCNN, "none"), (CNN, "c4"), (MLP, "none")):
        xi = x.reshape(5, -1) if arch == MLP else x
        K, T = entk.kernel(arch, xi, orbit=orbit)
        k, t = entk.diag(arch, xi, orbit=orbit)
        assert np.allclose(k, np.diag(K), rtol=1e-12, atol=0), arch
        assert np.allclose(t, np.diag(T), rtol=1e-12, atol=0), arch


# ---- every bad input: the program's message ---------------------------------------------------

OPTION_NAMES = [("--train-x", "train_x"), ("--train-y", "train_y"), ("--test-x", "test_x"), ("--x1", "x1"),
                ("--x2", "x2"), ("--arch", "arch"), ("--orbit", "orbit"), ("--kernel", "kernel"),
                ("--time", "time"), ("--lr", "lr"), ("--diag-reg", "diag_reg"), ("--threads", "threads"),
                ("--train-gram", "train_gram"), ("--test-gram", "test_gram"), ("--L", "L"), ("--xyz", "xyz")]


def py_message(msg):
    """The program's message with the Python argument names, the file names dropped (the Python
    module has arrays, not files)."""
    for opt, name in OPTION_NAMES:
        msg = msg.replace(opt, name)
    for f in sorted(os.listdir(TMP), key=len, reverse=True):
        msg = msg.replace(" " + tmp(f) + ":", ":").replace(" " + f + ":", ":")
    return msg


def raises(fn, exc=entk.Error):
    try:
        fn()
    except exc as e:
        return str(e)
    raise AssertionError("no %s" % exc.__name__)


def same_error(cli_args, fn, status=None):
    want = py_message(cli(*cli_args, ok=False))
    try:
        fn()
    except entk.Error as e:
        assert str(e) == want, "message %r, the program's %r" % (str(e), want)
        if status:
            assert e.status == status, "status %s, expected %s" % (e.status, status)
        return
    raise AssertionError("no entk.Error; the program said %r" % want)


@test
def bad_kernel_inputs():
    rng = np.random.default_rng(3)
    img = rng.standard_normal((3, 1, 5, 5))
    flat = rng.standard_normal((4, 3))
    nan = flat.copy()
    nan[1, 2] = np.nan
    inf = flat.copy()
    inf[3, 0] = -np.inf
    sph = rng.standard_normal((2, 1, 6, 5))
    cases = [
        ("dense relu bogus", flat, None, {}),  # unknown layer
        ("dense(sw=-1) relu dense", flat, None, {}),  # bad value
        ("dense(q=3) relu dense", flat, None, {}),  # unknown key
        ("conv relu gap dense", flat, None, {}),  # axes
        ("conv(q=7) relu gap dense", img, None, {}),  # window larger than the input
        ("dense relu dense", nan, None, {}),
        ("dense relu dense", inf, None, {}),
        ("dense relu dense", np.zeros((0, 3)), None, {}),
        ("dense relu dense", np.zeros((3, 0)), None, {}),
        ("dense relu dense", np.zeros(3), None, {}),
        ("dense relu dense", flat, rng.standard_normal((2, 4)), {}),  # sizes per example
        ("conv relu gap dense", img, rng.standard_normal((2, 1, 25, 1)), {}),  # shapes differ in axis
        ("dense relu dense", flat, None, {"orbit": "c4"}),
        ("conv relu gap dense", img, None, {"orbit": "c8"}),
        ("lift(n=4) relu gconv relu gpool dense", rng.standard_normal((2, 1, 5, 6)), None, {"orbit": "c4"}),
        ("s2lift erf so3pool dense", img, None, {}),  # not spherical
        ("s2lift erf so3pool dense", sph, None, {}),  # 6 x 5: L = 3, fine -> then not an error; see below
        ("s2lift erf so3conv erf so3pool dense atomsum", rng.standard_normal((2, 3, 1, 5, 5)), None, {}),
        ("dense relu dense atomsum", rng.standard_normal((2, 3)), None, {}),
        ("dense relu dense", flat * 1e300, None, {}),  # kernel values beyond the double range
        ("dense relu dense", flat, None, {"threads": 0}),
        ("dense relu dense", flat, None, {"threads": 5000}),
    ]
    checked = 0
    for arch, x1, x2, kw in cases:
        args = ["kernel", "--arch", arch, "--x1", save("bad1.npy", x1), "--ntk", tmp("o.npy")]
        if x2 is not None:
            args += ["--x2", save("bad2.npy", x2)]
        if "orbit" in kw:
            args += ["--orbit", kw["orbit"]]
        if "threads" in kw:
            args += ["--threads", str(kw["threads"])]
        r = subprocess.run([ENTK] + args, capture_output=True, text=True)
        if r.returncode == 0:  # a valid input after all: Python must succeed with the same bits
            same_bits(entk.kernel(arch, x1, x2, get="ntk", **kw), np.load(tmp("o.npy")), arch)
            continue
        same_error(args, lambda: entk.kernel(arch, x1, x2, get="ntk", **kw))
        checked += 1
    assert checked >= len(cases) - 2, checked
    # the library's statuses reach Python
    e = raises(lambda: entk.kernel("dense relu dense", flat * 1e300))
    assert e.startswith("kernel: kernel value outside the double range"), e


@test
def bad_predict_inputs():
    x, y = np.load(data("train_flat.npy")), np.load(data("train_y.npy"))
    save("x.npy", x)
    save("y.npy", y)
    base = dict(arch=MLP, train_x=x, train_y=y, test_x=x[:3])
    save("xte.npy", x[:3])
    cases = [
        ({"train_y": y[:5]}, ["--train-y", save("y5.npy", y[:5])]),
        ({"train_y": y[:, :, None]}, ["--train-y", save("y3.npy", y[:, :, None])]),
        ({"train_y": y[:, :0]}, ["--train-y", save("y0.npy", y[:, :0])]),
        ({"kernel": "gp"}, ["--kernel", "gp"]),
        ({"test_x": x[:3, :10]}, ["--test-x", save("xte10.npy", x[:3, :10])]),
        ({"train_y": np.where(y > 0, np.nan, y)}, ["--train-y", save("ynan.npy", np.where(y > 0, np.nan, y))]),
        ({"arch": "dense relu dense", "train_x": np.zeros_like(x), "diag_reg": 0.0},
         ["--arch", "dense relu dense", "--train-x", save("x0.npy", np.zeros_like(x))]),
    ]
    for kw, over in cases:
        args = {"--arch": MLP, "--train-x": tmp("x.npy"), "--train-y": tmp("y.npy"), "--test-x": tmp("xte.npy")}
        it = iter(over)
        for opt in it:
            args[opt] = next(it)
        flat = ["predict", "--out", tmp("P.npy")] + [a for kv in args.items() for a in kv]
        p = dict(base, **kw)
        r = subprocess.run([ENTK] + flat, capture_output=True, text=True)
        if r.returncode == 0:  # the zero Gram: a valid (jittered) prediction
            same_bits(entk.predict(**p), np.load(tmp("P.npy")), "zero inputs")
            continue
        same_error(flat, lambda: entk.predict(**p))
    for kw in (dict(time=-1.0), dict(lr=0.0), dict(lr=float("inf")), dict(diag_reg=-1e-3), dict(time=float("nan"))):
        raises(lambda: entk.predict(**dict(base, **kw)))
    # Gram matrices
    K = entk.kernel(MLP, x, get="ntk")
    e = raises(lambda: entk.predict(train_gram=K[:, :5], test_gram=K[:2], train_y=y))
    assert e == "train_gram: a train Gram is n x n with n >= 1, not 40 x 5", e
    e = raises(lambda: entk.predict(train_gram=K, test_gram=K[:2, :7], train_y=y))
    assert e == "test_gram: 2 x 7, but the train Gram is 40 x 40 (a test Gram is m x n)", e
    neg = -np.eye(40)
    save("neg.npy", neg)
    save("kte.npy", K[:2])
    same_error(["predict", "--train-gram", tmp("neg.npy"), "--test-gram", tmp("kte.npy"), "--train-y", tmp("y.npy"),
                "--out", tmp("P.npy")], lambda: entk.predict(train_gram=neg, test_gram=K[:2], train_y=y),
               "ENTK_ERR_NOT_PD")
    same_error(["predict", "--train-gram", tmp("neg.npy"), "--test-gram", tmp("kte.npy"), "--train-y", tmp("y.npy"),
                "--out", tmp("P.npy"), "--time", "1"],
               lambda: entk.predict(train_gram=neg, test_gram=K[:2], train_y=y, time=1), "ENTK_ERR_NOT_PD")
    e = raises(lambda: entk.predict(train_gram=K, test_gram=K[:2], train_y=y, variance=True))
    assert e.startswith("variance: with train_gram only the mean"), e
    e = raises(lambda: entk.predict(MLP, train_gram=K, test_gram=K[:2], train_y=y))
    assert e == "arch does not apply with train_gram: the Gram matrices are the kernel", e


@test
def bad_featurize_inputs():
    bad = [b"2\nenergy=1\nH 0 0 0\n", b"1\nenergy=x\nH 0 0 0\n", b"1\nenergy=1\nXx 0 0 0\n", b"",
           b"1\nenergy=1\nH 0 0 nan\n"]
    for i, text in enumerate(bad):
        path = tmp("bad%d.xyz" % i)
        with open(path, "wb") as f:
            f.write(text)
        want = cli("featurize", "--xyz", path, "--L", "2", "--out", tmp("F.npy"), ok=False)
        e = raises(lambda: entk.featurize(path, 2))
        assert e == want.replace("--xyz", "xyz"), (e, want)
        e2 = raises(lambda: entk.featurize(text, 2))
        assert e2 == want.replace("--xyz " + path, "xyz"), (e2, want)
    raises(lambda: entk.featurize(tmp("missing.xyz"), 2))
    for L in (0, 1025):
        raises(lambda: entk.featurize(XYZ, L))
    for p in ([0], [1, 1], [13], list(range(1, 10)), [], ["a"], [1.5]):
        raises(lambda: entk.featurize(XYZ, 2, powers=p))
    X, _ = entk.featurize(XYZ, 3, powers=[3, 1, 2])
    cli("featurize", "--xyz", XYZ, "--L", "3", "--out", tmp("F.npy"), "--powers", "3,1,2")
    same_bits(X, np.load(tmp("F.npy")), "powers 3,1,2")


@test
def wrong_python_types():
    x = np.ones((2, 3))
    for fn in (lambda: entk.kernel(5, x), lambda: entk.kernel(MLP, "abc"), lambda: entk.kernel(MLP, None),
               lambda: entk.kernel(MLP, np.array([["a", "b"]], dtype=object)), lambda: entk.kernel(MLP, x, threads=1.5),
               lambda: entk.kernel(MLP, x, progress=3), lambda: entk.featurize(3, 2), lambda: entk.featurize(XYZ, 2.0),
               lambda: entk.predict(MLP, x, x[:, 0], x, variance="yes")):
        raises(fn, TypeError)
    assert raises(lambda: entk.kernel(MLP, x + 1j)).startswith("x1: complex")
    assert raises(lambda: entk.kernel(MLP, np.array([[2 ** 60 + 1, 1]]))).startswith("x1: an integer beyond")
    assert raises(lambda: entk.kernel("dense\0relu", x)) == "arch: contains a NUL character"
    assert raises(lambda: entk.simd("mmx")).startswith("simd: ")


# ---- the GIL, progress, concurrency ----------------------------------------------------------


@test
def gil_released_and_progress():
    x = np.random.default_rng(5).standard_normal((24, 1, 9, 9))
    arch = "lift(n=4,pad=circular) relu gconv(pad=circular) relu gconv(pad=circular) relu gpool dense"
    counter = [0]
    seen = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    def tick(done, total, what):
        seen.append((done, total, what, counter[0]))

    t = threading.Thread(target=spin)
    t.start()
    try:
        K = entk.kernel(arch, x, threads=1, get="nngp", progress=tick)
    finally:
        stop.set()
        t.join()
    assert seen and seen[-1][0] == seen[-1][1] == 24, seen[-3:]
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:])), "done decreased"
    assert {s[2] for s in seen} == {"kernel"}
    # the spinning thread ran while the library computed: the GIL was released
    assert seen[-1][3] - seen[0][3] > 1000, "Python thread made %d steps during the call" % (seen[-1][3] - seen[0][3])
    same_bits(entk.kernel(arch, x, threads=2, get="nngp"), K, "2 threads")
    stages = []
    entk.predict(MLP, x.reshape(24, -1), x[:, 0, 0, 0], x.reshape(24, -1)[:4], variance=True,
                 progress=lambda d, n, w: stages.append(w))
    assert sorted(set(stages)) == ["test diagonal", "test kernel", "train kernel"] or \
        sorted(set(stages)) == ["test kernel", "train kernel"], stages

    class Boom(Exception):
        pass

    def bad(d, n, w):
        raise Boom()

    raises(lambda: entk.kernel(MLP, x.reshape(24, -1), progress=bad), Boom)
    same_bits(entk.kernel(MLP, x.reshape(24, -1))[0], entk.kernel(MLP, x.reshape(24, -1))[0], "after the exception")


@test
def concurrent_calls():
    x = np.load(data("train_x.npy"))[:8]
    want = entk.kernel(GCNN, x, threads=1)
    out = [None] * 4

    def run(i):
        out[i] = entk.kernel(GCNN, x, threads=1, progress=(lambda *a: None) if i % 2 else None)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r in out:
        same_bits(r[0], want[0], "concurrent K")
        same_bits(r[1], want[1], "concurrent Theta")


@test
def info_and_library():
    i = entk.info()
    assert i["version"] == entk.__version__
    out = subprocess.run([ENTK, "info"], capture_output=True, text=True).stdout
    assert ("entk %s\n" % i["version"]) in out and ("simd: %s\n" % i["simd"]) in out, (out, i)
    assert ("sleef: %s\n" % i["sleef"]) in out
    assert os.path.samefile(entk.library_path, os.path.join(ROOT, "build", "libentk.so"))


def main():
    passed = failed = 0
    for fn in TESTS:
        try:
            fn()
            passed += 1
        except Exception:  # noqa: a test's failure is printed and counted
            failed += 1
            print("FAIL: %s" % fn.__name__)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
