"""entk - NNGP and neural tangent kernels of MLPs, CNNs and group-equivariant networks, from Python.

A pure-Python front end over the shared library libentk.so (``make lib``) with ctypes and NumPy; no
compiled extension, nothing beyond NumPy. It computes what the ``entk`` program computes, with the
same library calls in the same order, so its arrays equal the program's ``.npy`` outputs bit for bit.

    import numpy as np, entk
    x = np.random.default_rng(0).standard_normal((20, 5))
    K, T = entk.kernel("dense(sw=1.4,sb=0.1) relu dense", x)          # NNGP and NTK Gram matrices
    mean = entk.predict("dense relu dense", x[:15], np.sin(x[:15, 0]), x[15:], time=100)

Functions (the options are the program's, with underscores for dashes: ``entk --help``):

  kernel(arch, x1, x2=None, threads=None, orbit="none", get=None, progress=None)
      (K, Theta) between x1 and x2 (x2 None: x1 with itself); get="nngp" or "ntk" returns one array.
  diag(arch, x, threads=None, orbit="none", get=None, progress=None)
      the per-input diagonals (K(x, x), Theta(x, x)).
  predict(arch, train_x, train_y, test_x, kernel="ntk", time=inf, lr=1.0, diag_reg=0.0,
          diag_reg_absolute=False, variance=False, standardize=False, threads=None, orbit="none",
          progress=None, train_gram=None, test_gram=None)
      the kernel-regression mean at training time `time` (and with variance=True the predictive
      variance, as (mean, var)); with train_gram and test_gram (and arch, train_x, test_x None) the
      mean from given Gram matrices, as ``entk predict --train-gram``.
  featurize(xyz, L, powers=None)
      molecules (an XYZ file's path, or its contents as bytes) to per-atom spherical signals:
      (X, energies), X of shape N x A_max x (5 + 5 P) x 2L x (2L - 1).
  info(), simd(path=None): version, SIMD path, SLEEF version; get or set the SIMD path.

Inputs are anything numpy.asarray takes with real values (float64, float32, float16, integers whose
values are exact doubles); they are converted to C-ordered float64. Shapes: N x d (trailing axes
flattened) for dense networks, N x C x H x W for image layers, N x C x 2L x (2L - 1) for SO(3)
layers, N x A x ... for molecules (atomsum). Outputs are new float64 arrays. The mean has the shape of
train_y's rows: (M,) for 1-D targets and (M, k) for N x k targets; the variance is (M,), or (M, k)
with standardize and 2-D targets (each column then has its own scale).

Errors: every bad input raises entk.Error (a ValueError) whose message is the one the entk program
prints for it, with the Python argument name in place of the option (``x1: image layers need
N x C x H x W inputs, got 3 axes``); ``err.status`` is the library's status name when one is
involved (e.g. "ENTK_ERR_NONFINITE"). Arguments of the wrong Python type raise TypeError.

Threads: threads=None uses OMP_NUM_THREADS when set, else the cores this process may run on (at
most 1024), as the program does; results are bit-identical for any count. The computation runs with
the GIL released (ctypes releases it around every foreign call), so other Python threads go on.

Progress: progress(done, total, what) is called now and then from the computing threads (one at a
time, holding the GIL) with the kernel rows finished; what is "kernel", "diag", "train kernel",
"test kernel" or "test diagonal". An exception it raises is re-raised when the call returns (the
computation itself cannot be stopped). The library's progress hook is process-wide: calls that ask
for progress run one at a time; calls without it run concurrently.

The library: $ENTK_LIBRARY if set, else libentk.so next to this file's installed place
(PREFIX/lib/python3/dist-packages -> PREFIX/lib), else the source tree's build/libentk.so, else the
system's (ctypes.util.find_library). entk.library_path says which was loaded.
"""

import ctypes
import ctypes.util
import math
import os
import threading

import numpy as np

__all__ = ["Error", "OutOfMemory", "kernel", "diag", "predict", "featurize", "info", "simd", "library_path", "__version__"]

MAX_THREADS = 1024  # the program's cap on thread counts (ENTK_CLI_MAX_THREADS)
SO3_MAX_BAND = 64  # ENTK_SO3_MAX_BAND
FEAT_MAX_L = 1024  # ENTK_SO3_FEAT_MAX_L
FEAT_MAX_POWER = 12  # ENTK_SO3_FEAT_MAX_POWER
FEAT_MAX_POWERS = 8  # ENTK_SO3_FEAT_MAX_POWERS


class Error(ValueError):
    """A bad input or a failed computation; the message is entk's. status: the library's status name
    (e.g. "ENTK_ERR_SHAPE") when the library reported it, else None."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


# ---- the library ------------------------------------------------------------------------------


def _find_library():
    here = os.path.dirname(os.path.abspath(__file__))
    env = os.environ.get("ENTK_LIBRARY")
    if env:
        return [env]
    if os.path.basename(here) in ("dist-packages", "site-packages"):  # installed: PREFIX/lib/python3/dist-packages
        tried = [os.path.join(here, "..", "..", "libentk.so.0")]
    else:  # the source tree: python/ next to build/
        tried = [os.path.join(here, "..", "build", "libentk.so")]
    found = ctypes.util.find_library("entk")
    return [os.path.normpath(p) for p in tried if os.path.exists(p)] + ([found] if found else [])


def _load():
    candidates = _find_library()
    errors = []
    for path in candidates:
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append(str(e))
    raise ImportError("entk: cannot load libentk.so (build it with `make lib`, install it with `make install`, "
                      "or set ENTK_LIBRARY to its path)" + ("; " + "; ".join(errors) if errors else ""))


_lib, library_path = _load()

_c_double_p = ctypes.POINTER(ctypes.c_double)
_c_size_t_p = ctypes.POINTER(ctypes.c_size_t)
_sz = ctypes.c_size_t
_dbl = ctypes.c_double
_int = ctypes.c_int


class _Nonlin(ctypes.Structure):
    _fields_ = [("kind", _int), ("a", _dbl), ("phi", ctypes.c_void_p), ("dphi", ctypes.c_void_p),
                ("user", ctypes.c_void_p), ("order", _int)]


class _Layer(ctypes.Structure):
    _fields_ = [("kind", _int), ("sw", _dbl), ("sb", _dbl), ("nl", _Nonlin), ("q", _int), ("pad", _int),
                ("n", _int), ("flip", _int), ("support", _int), ("p", _int), ("L", _int), ("Lout", _int),
                ("B", _int)]


def _arch_type():
    _lib.entk_arch_sizeof.restype = _sz
    _lib.entk_arch_sizeof.argtypes = []
    size = _lib.entk_arch_sizeof()

    class Probe(ctypes.Structure):
        _fields_ = [("n_layers", _int), ("layer", _Layer * 1)]

    offset = Probe.layer.offset
    count = (size - offset) // ctypes.sizeof(_Layer)
    if count < 1:
        raise ImportError("entk: %s has an entk_arch of %d bytes that this module cannot lay out" % (library_path, size))

    class Arch(ctypes.Structure):
        _fields_ = [("n_layers", _int), ("layer", _Layer * count)]

    if ctypes.sizeof(Arch) != size:
        raise ImportError("entk: %s: entk_arch is %d bytes, this module's mirror %d" % (library_path, size,
                                                                                       ctypes.sizeof(Arch)))
    return Arch


_Arch = _arch_type()


class _Kernels(ctypes.Structure):
    _fields_ = [("n", _sz), ("m", _sz), ("train", _c_double_p), ("ld_train", _sz), ("test_train", _c_double_p),
                ("ld_test_train", _sz), ("test_diag", _c_double_p), ("test_test", _c_double_p),
                ("ld_test_test", _sz)]


class _PredictOpts(ctypes.Structure):
    _fields_ = [("diag_reg", _dbl), ("diag_reg_absolute", _int), ("t", _dbl), ("lr", _dbl), ("jitter", _int),
                ("jitter_start", _dbl), ("jitter_max", _dbl)]


class _PredictInfo(ctypes.Structure):
    _fields_ = [("reg", _dbl), ("jitter", _dbl), ("jitter_tries", _int), ("not_pd_order", _sz), ("min_eig", _dbl),
                ("used_eigen", _int), ("jitter_rel", _dbl), ("null_eigs", _sz)]


class _Molecules(ctypes.Structure):
    _fields_ = [("n", _sz), ("atoms", _sz), ("max_atoms", _sz), ("count", _c_size_t_p), ("first", _c_size_t_p),
                ("line", _c_size_t_p), ("z", ctypes.POINTER(_int)), ("xyz", _c_double_p), ("energy", _c_double_p)]


_PROGRESS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, _sz, _sz)
_NO_PROGRESS = _PROGRESS()  # NULL: progress off
_A = ctypes.POINTER(_Arch)
_P = _c_double_p
_S = ctypes.c_char_p
_SIGS = {
    "entk_status_string": (ctypes.c_char_p, [_int]),
    "entk_simd_name": (ctypes.c_char_p, []),
    "entk_simd_path": (_int, []),
    "entk_simd_set": (_int, [_int]),
    "entk_sleef_version": (ctypes.c_char_p, []),
    "entk_set_progress": (None, [_PROGRESS, ctypes.c_void_p]),
    "entk_arch_parse": (_int, [_S, _A, ctypes.c_char_p, _sz]),
    "entk_arch_check": (_int, [_A, ctypes.POINTER(_int), ctypes.c_char_p, _sz]),
    "entk_mlp_kernel": (_int, [_A, _P, _sz, _P, _sz, _sz, _P, _sz, _P, _sz, _int]),
    "entk_mlp_diag": (_int, [_A, _P, _sz, _sz, _P, _P]),
    "entk_cn_kernel_orbit": (_int, [_A, _int, _P, _sz, _P, _sz, _sz, _sz, _sz, _P, _sz, _P, _sz, _int]),
    "entk_cn_diag_orbit": (_int, [_A, _int, _P, _sz, _sz, _sz, _sz, _P, _P, _int]),
    "entk_cn_check_shape": (_int, [_A, _int, _sz, _sz, _sz, ctypes.c_char_p, _sz]),
    "entk_so3_kernel": (_int, [_A, _P, _sz, _P, _sz, _sz, _int, _P, _sz, _P, _sz, _int]),
    "entk_so3_diag": (_int, [_A, _P, _sz, _sz, _int, _P, _P, _int]),
    "entk_so3_check_shape": (_int, [_A, _sz, _int, ctypes.c_char_p, _sz]),
    "entk_so3_molecule_kernel": (_int, [_A, _P, _sz, _sz, _P, _sz, _sz, _sz, _sz, _sz, _P, _sz, _P, _sz, _int]),
    "entk_so3_molecule_diag": (_int, [_A, _P, _sz, _sz, _sz, _sz, _sz, _P, _P, _int]),
    "entk_so3_molecule_check_shape": (_int, [_A, _sz, _sz, _sz, _sz, ctypes.c_char_p, _sz]),
    "entk_predict_opts_default": (_PredictOpts, []),
    "entk_predict_mean": (_int, [ctypes.POINTER(_Kernels), _sz, _P, _sz, ctypes.POINTER(_PredictOpts), _P, _sz,
                                 ctypes.POINTER(_PredictInfo)]),
    "entk_predict_nngp": (_int, [ctypes.POINTER(_Kernels), _sz, _P, _sz, ctypes.POINTER(_PredictOpts), _P, _sz, _P,
                                 _P, _sz, ctypes.POINTER(_PredictInfo)]),
    "entk_predict_ntk_ensemble": (_int, [ctypes.POINTER(_Kernels), ctypes.POINTER(_Kernels), _sz, _P, _sz,
                                         ctypes.POINTER(_PredictOpts), _P, _sz, _P, _P, _sz,
                                         ctypes.POINTER(_PredictInfo)]),
    "entk_targets_standardize": (_int, [_P, _sz, _sz, _sz, _P, _sz, _P, _P]),
    "entk_so3_xyz_parse": (_int, [ctypes.c_char_p, _sz, ctypes.POINTER(_Molecules), ctypes.c_char_p, _sz]),
    "entk_so3_xyz_read_file": (_int, [ctypes.c_char_p, ctypes.POINTER(_Molecules), ctypes.c_char_p, _sz]),
    "entk_so3_molecules_free": (None, [ctypes.POINTER(_Molecules)]),
    "entk_so3_featurize_size": (_int, [ctypes.POINTER(_Molecules), _int, _int, _c_size_t_p, _c_size_t_p]),
    "entk_so3_featurize": (_int, [ctypes.POINTER(_Molecules), _int, ctypes.POINTER(_int), _int, _P, _sz]),
}
for _name, (_res, _args) in _SIGS.items():
    _f = getattr(_lib, _name)
    _f.restype = _res
    _f.argtypes = _args
del _name, _res, _args, _f

_STATUS_NAMES = ["ENTK_OK", "ENTK_ERR_INVALID_ARG", "ENTK_ERR_NOMEM", "ENTK_ERR_OVERFLOW", "ENTK_ERR_SHAPE",
                 "ENTK_ERR_NONFINITE", "ENTK_ERR_NOT_PD", "ENTK_ERR_NO_CONVERGENCE", "ENTK_ERR_ARCH",
                 "ENTK_ERR_UNSUPPORTED", "ENTK_ERR_IO", "ENTK_ERR_NPY_MAGIC", "ENTK_ERR_NPY_HEADER",
                 "ENTK_ERR_NPY_DTYPE", "ENTK_ERR_NPY_TRUNCATED", "ENTK_ERR_RANGE"]
_ERR_NOT_PD = _STATUS_NAMES.index("ENTK_ERR_NOT_PD")
_ERR_NOMEM = _STATUS_NAMES.index("ENTK_ERR_NOMEM")
_DOMAIN_MLP, _DOMAIN_IMAGE, _DOMAIN_SO3, _DOMAIN_MOLECULE = range(4)
_LAYER_S2LIFT = 10
_ORBITS = {"none": 0, "c4": 1, "d4": 2}
_SIMD = {"scalar": 0, "avx2": 1, "neon": 2, "avx512": 3}

_defaults = _lib.entk_predict_opts_default()
if not (_defaults.t == math.inf and _defaults.lr == 1.0 and _defaults.jitter == 1 and _defaults.jitter_start == 1e-10
        and _defaults.jitter_max == 1e-2):
    raise ImportError("entk: %s: entk_predict_opts does not have the layout this module expects" % library_path)
if _lib.entk_status_string(_STATUS_NAMES.index("ENTK_ERR_RANGE")) == b"unknown status" or \
        _lib.entk_status_string(len(_STATUS_NAMES)) != b"unknown status":
    raise ImportError("entk: %s: the status codes differ from this module's" % library_path)

_lib.entk_version.restype = ctypes.c_char_p
_lib.entk_version.argtypes = []
__version__ = _lib.entk_version().decode()


def _status_string(st):
    return _lib.entk_status_string(st).decode()


def _check(st, what):
    """The program's check(): "what: status string"."""
    if st:
        raise _error("%s: %s" % (what, _status_string(st)), st)


class OutOfMemory(Error, MemoryError):
    """The library could not allocate its working memory (ENTK_ERR_NOMEM)."""


def _error(msg, st=None):
    name = _STATUS_NAMES[st] if st is not None and 0 <= st < len(_STATUS_NAMES) else None
    return (OutOfMemory if st == _ERR_NOMEM else Error)(msg, name)


def _text(buf):
    return buf.value.decode("utf-8", "replace")


# ---- arguments --------------------------------------------------------------------------------


def _ptr(a):
    return None if a is None else a.ctypes.data_as(_c_double_p)


def _array(name, x):
    """x as a C-ordered float64 array, exactly (the values a .npy file of it would give the program)."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError("%s: expected an array of numbers, not %s" % (name, type(x).__name__))
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise TypeError("%s: not an array of numbers (%s)" % (name, e)) from None
    kind = a.dtype.kind
    if kind == "c":
        raise Error("%s: complex values are not supported (real inputs only)" % name)
    if kind not in "fiub" or (kind == "f" and a.dtype.itemsize > 8):
        raise TypeError("%s: expected real numbers (float64, float32, integers), not dtype %s" % (name, a.dtype))
    if kind in "iu" and a.dtype.itemsize > 4:
        big = np.abs(a.astype(np.float64)) >= 2.0 ** 53
        if big.any() and not np.array_equal(a.astype(np.float64).astype(a.dtype), a):
            raise Error("%s: an integer beyond 2^53 has no exact double" % name)
    a = np.ascontiguousarray(a, dtype=np.float64)
    bad = ~np.isfinite(a)
    if bad.any():  # the .npy reader's message
        i = int(np.flatnonzero(bad)[0])
        v = a.flat[i]
        where = ", ".join(str(int(j)) for j in np.unravel_index(i, a.shape)) if a.ndim else ""
        raise Error("%s: value at flat index %d (C index (%s)) is %s" % (name, i, where, "NaN" if v != v else
                                                                         "+Inf" if v > 0 else "-Inf"),
                    "ENTK_ERR_NONFINITE")
    return a


def _threads(threads):
    """The program's resolve_threads: threads, else OMP_NUM_THREADS, else the cores (at most 1024)."""
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
            raise TypeError("threads: expected an int, not %s" % type(threads).__name__)
        if not 1 <= threads <= MAX_THREADS:
            raise Error("threads: '%d' is not a count from 1 to %d" % (threads, MAX_THREADS))
        return int(threads)
    env = os.environ.get("OMP_NUM_THREADS")
    if env is not None and env.strip(" \t"):
        first = env.split(",")[0].strip(" \t")
        if not first.isdigit() or not 1 <= int(first) <= MAX_THREADS:
            raise Error("OMP_NUM_THREADS: '%s' is not a thread count from 1 to %d (unset it or pass threads)"
                        % (env, MAX_THREADS))
        return int(first)
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_THREADS))


def _number(name, v, ok, rule):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError("%s: expected a number, not %s" % (name, type(v).__name__))
    v = float(v)
    if v != v:
        raise Error("%s: '%r' is NaN" % (name, v))
    if not ok(v):
        raise Error("%s: '%r' %s" % (name, v, rule))
    return v


class _Net:
    """A parsed architecture with its domain (the program's setup())."""

    def __init__(self, arch, orbit):
        if not isinstance(arch, str):
            raise TypeError("arch: expected a string such as \"dense relu dense\", not %s" % type(arch).__name__)
        err = ctypes.create_string_buffer(256)
        self.arch = _Arch()
        self.ref = ctypes.byref(self.arch)
        try:
            text = arch.encode("utf-8")
        except UnicodeEncodeError:
            raise Error("arch: not valid UTF-8 text") from None
        if b"\0" in text:
            raise Error("arch: contains a NUL character")
        if _lib.entk_arch_parse(text, self.ref, err, len(err)):
            raise Error("arch: " + _text(err), "ENTK_ERR_ARCH")
        domain = _int(0)
        st = _lib.entk_arch_check(self.ref, ctypes.byref(domain), err, len(err))
        self.domain = domain.value
        self.atom = _DOMAIN_MLP
        if self.domain == _DOMAIN_MOLECULE:
            for l in range(self.arch.n_layers - 1):
                if self.arch.layer[l].kind == _LAYER_S2LIFT:
                    self.atom = _DOMAIN_SO3
        if orbit is None:
            orbit = "none"
        if not isinstance(orbit, str):
            raise TypeError("orbit: expected \"none\", \"c4\" or \"d4\", not %s" % type(orbit).__name__)
        if orbit not in _ORBITS:
            raise Error("orbit: '%s' is not none, c4 or d4" % orbit)
        self.orbit = _ORBITS[orbit]
        if self.orbit and self.domain != _DOMAIN_IMAGE:
            raise Error("orbit: only image architectures have rotations to average over")
        if st:
            raise Error("arch: " + _text(err), _STATUS_NAMES[st])
        self.threads = 1

    # the program's check_input, band_of, atom_chw, check_compatible
    def band_of(self, name, x, h):
        H, W = x.shape[h], x.shape[h + 1]
        if H < 2 or H % 2 or W + 1 != H or H // 2 > SO3_MAX_BAND:
            raise Error("%s: spherical signals are C x 2L x (2L - 1) samples with L from 1 to %d, not %d x %d"
                        % (name, SO3_MAX_BAND, H, W))
        return H // 2

    def atom_chw(self, x):
        if self.atom == _DOMAIN_SO3:
            return x.shape[2], x.shape[3], x.shape[4]
        return int(np.prod(x.shape[2:], dtype=np.int64)), 1, 1

    def check_input(self, name, x):
        err = ctypes.create_string_buffer(256)
        d, nd = self.domain, x.ndim
        if d == _DOMAIN_IMAGE and nd != 4:
            raise Error("%s: image layers need N x C x H x W inputs, got %d axes" % (name, nd))
        if d == _DOMAIN_SO3 and nd != 4:
            raise Error("%s: SO(3) layers need N x C x 2L x (2L - 1) spherical inputs, got %d axes" % (name, nd))
        if d == _DOMAIN_MOLECULE and self.atom == _DOMAIN_SO3 and nd != 5:
            raise Error("%s: an SO(3) atom network needs N x A x C x 2L x (2L - 1) molecules, got %d axes"
                        % (name, nd))
        if d == _DOMAIN_MOLECULE and nd < 3:
            raise Error("%s: atomsum needs N x A x ... molecules (at least 3 axes), got %d axes" % (name, nd))
        if nd < 2:
            raise Error("%s: expected N x d inputs (at least 2 axes), got %d axes" % (name, nd))
        if x.shape[0] == 0:
            raise Error("%s: no inputs (first axis is 0)" % name)
        if _row_size(x) == 0:
            raise Error("%s: inputs have no features" % name)
        if d == _DOMAIN_IMAGE and _lib.entk_cn_check_shape(self.ref, self.orbit, x.shape[1], x.shape[2], x.shape[3],
                                                          err, len(err)):
            raise Error("%s: %s" % (name, _text(err)), "ENTK_ERR_SHAPE")
        if d == _DOMAIN_SO3 and _lib.entk_so3_check_shape(self.ref, x.shape[1], self.band_of(name, x, 2), err,
                                                         len(err)):
            raise Error("%s: %s" % (name, _text(err)), "ENTK_ERR_SHAPE")
        if d == _DOMAIN_MOLECULE:
            if x.shape[1] == 0:
                raise Error("%s: molecules of 0 atoms (axis 1)" % name)
            if self.atom == _DOMAIN_SO3:
                self.band_of(name, x, 3)
            C, H, W = self.atom_chw(x)
            if _lib.entk_so3_molecule_check_shape(self.ref, x.shape[1], C, H, W, err, len(err)):
                raise Error("%s: %s" % (name, _text(err)), "ENTK_ERR_SHAPE")

    def check_compatible(self, n1, a, n2, b):
        if self.domain == _DOMAIN_MOLECULE:
            if a.ndim != b.ndim or _atom_size(a) != _atom_size(b):
                raise Error("%s and %s: atoms differ in size (%d vs %d doubles)" % (n1, n2, _atom_size(a),
                                                                                     _atom_size(b)))
            for i in range(2, a.ndim):
                if a.shape[i] != b.shape[i]:
                    raise Error("%s and %s: shapes differ in axis %d" % (n1, n2, i))
            return
        if _row_size(a) != _row_size(b):
            raise Error("%s and %s: inputs differ in size per example (%d vs %d)" % (n1, n2, _row_size(a),
                                                                                      _row_size(b)))
        for i in range(1, min(a.ndim, b.ndim)):
            if a.shape[i] != b.shape[i]:
                raise Error("%s and %s: shapes differ in axis %d" % (n1, n2, i))

    # the program's gram_rect (whole inputs) and gram_diag
    def gram(self, x1, x2, k, t):
        n1 = x1.shape[0]
        n2 = x2.shape[0] if x2 is not None else 0
        ld = x2.shape[0] if x2 is not None else n1
        a, b, K, T = _ptr(x1), _ptr(x2), _ptr(k), _ptr(t)
        if self.domain == _DOMAIN_IMAGE:
            return _lib.entk_cn_kernel_orbit(self.ref, self.orbit, a, n1, b, n2, x1.shape[1], x1.shape[2],
                                             x1.shape[3], K, ld, T, ld, self.threads)
        if self.domain == _DOMAIN_SO3:
            return _lib.entk_so3_kernel(self.ref, a, n1, b, n2, x1.shape[1], x1.shape[2] // 2, K, ld, T, ld,
                                        self.threads)
        if self.domain == _DOMAIN_MOLECULE:
            C, H, W = self.atom_chw(x1)
            return _lib.entk_so3_molecule_kernel(self.ref, a, n1, x1.shape[1], b, n2,
                                                 x2.shape[1] if x2 is not None else 0, C, H, W, K, ld, T, ld,
                                                 self.threads)
        return _lib.entk_mlp_kernel(self.ref, a, n1, b, n2, _row_size(x1), K, ld, T, ld, self.threads)

    def gram_diag(self, x, k, t):
        n, a, K, T = x.shape[0], _ptr(x), _ptr(k), _ptr(t)
        if self.domain == _DOMAIN_IMAGE:
            return _lib.entk_cn_diag_orbit(self.ref, self.orbit, a, n, x.shape[1], x.shape[2], x.shape[3], K, T,
                                           self.threads)
        if self.domain == _DOMAIN_SO3:
            return _lib.entk_so3_diag(self.ref, a, n, x.shape[1], x.shape[2] // 2, K, T, self.threads)
        if self.domain == _DOMAIN_MOLECULE:
            C, H, W = self.atom_chw(x)
            return _lib.entk_so3_molecule_diag(self.ref, a, n, x.shape[1], C, H, W, K, T, self.threads)
        return _lib.entk_mlp_diag(self.ref, a, n, _row_size(x), K, T)


def _row_size(x):
    return int(np.prod(x.shape[1:], dtype=np.int64))


def _atom_size(x):
    return int(np.prod(x.shape[2:], dtype=np.int64))


# ---- progress ---------------------------------------------------------------------------------

class _Gate:
    """Calls without progress run together; a call with progress runs alone (the hook is process-wide
    and a concurrent call's rows would be reported to it)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.running = 0  # calls without progress in flight
        self.alone = False

    def enter(self, alone):
        with self.cond:
            while self.alone or (alone and self.running):
                self.cond.wait()
            if alone:
                self.alone = True
            else:
                self.running += 1

    def leave(self, alone):
        with self.cond:
            if alone:
                self.alone = False
            else:
                self.running -= 1
            self.cond.notify_all()


_gate = _Gate()


class _Progress:
    """Installs fn as the library's progress hook for the duration of a with block."""

    def __init__(self, fn):
        if fn is not None and not callable(fn):
            raise TypeError("progress: expected a callable progress(done, total, what), not %s" % type(fn).__name__)
        self.fn, self.what, self.exc = fn, "", None
        self.hook = _PROGRESS(self._tick) if fn is not None else None

    def _tick(self, user, done, total):
        if self.exc is None:
            try:
                self.fn(done, total, self.what)
            except BaseException as e:  # noqa: kept and re-raised when the call returns
                self.exc = e

    def run(self, what, call):
        self.what = what
        return call()

    def __enter__(self):
        _gate.enter(self.fn is not None)
        if self.fn is not None:
            _lib.entk_set_progress(self.hook, None)
        return self

    def __exit__(self, *exc):
        try:
            if self.fn is not None:
                _lib.entk_set_progress(_NO_PROGRESS, None)
        finally:
            _gate.leave(self.fn is not None)
        if self.exc is not None and exc[0] is None:
            raise self.exc
        return False


def _get(get):
    if get is None:
        return True, True
    if get == "nngp":
        return True, False
    if get == "ntk":
        return False, True
    raise Error("get: '%s' is not nngp or ntk (or None: both)" % (get,))


# ---- the functions ----------------------------------------------------------------------------


def kernel(arch, x1, x2=None, threads=None, orbit="none", get=None, progress=None):
    """NNGP and NTK Gram matrices (K, Theta) of architecture `arch` between the rows of x1 and x2
    (x2 None: x1 with itself, symmetric), as `entk kernel`. get="nngp" or "ntk": that array alone."""
    want_k, want_t = _get(get)
    net = _Net(arch, orbit)
    x1 = _array("x1", x1)
    net.check_input("x1", x1)
    if x2 is not None:
        x2 = _array("x2", x2)
        net.check_input("x2", x2)
        net.check_compatible("x1", x1, "x2", x2)
    net.threads = _threads(threads)
    shape = (x1.shape[0], x2.shape[0] if x2 is not None else x1.shape[0])
    k = np.empty(shape) if want_k else None
    t = np.empty(shape) if want_t else None
    with _Progress(progress) as p:
        _check(p.run("kernel", lambda: net.gram(x1, x2, k, t)), "kernel")
    return (k, t) if want_k and want_t else (k if want_k else t)


def diag(arch, x, threads=None, orbit="none", get=None, progress=None):
    """The per-input diagonals (K(x, x), Theta(x, x)) (orbit-averaged with orbit="c4"/"d4")."""
    want_k, want_t = _get(get)
    net = _Net(arch, orbit)
    x = _array("x", x)
    net.check_input("x", x)
    net.threads = _threads(threads)
    k = np.empty(x.shape[0]) if want_k else None
    t = np.empty(x.shape[0]) if want_t else None
    with _Progress(progress) as p:
        _check(p.run("diag", lambda: net.gram_diag(x, k, t)), "diag")
    return (k, t) if want_k and want_t else (k if want_k else t)


def _targets(y, n, gram):
    y = _array("train_y", y)
    if y.ndim not in (1, 2):
        raise Error("train_y: expected N or N x k targets, got %d axes" % y.ndim)
    if y.shape[0] != n:
        raise Error("train_y: %d targets for %s" % (y.shape[0], "a %d x %d train Gram" % (n, n) if gram else
                                                   "%d training inputs" % n))
    k = y.shape[1] if y.ndim == 2 else 1
    if k == 0:
        raise Error("train_y: no target columns")
    return y, k


def _standardize(y, n, k):
    ys = np.empty((n, k))
    mean = np.empty(k)
    scale = np.empty(k)
    _check(_lib.entk_targets_standardize(_ptr(y), n, k, k, _ptr(ys), k, _ptr(mean), _ptr(scale)), "train_y")
    return ys, mean, scale


def _opts(time, lr, diag_reg, diag_reg_absolute):
    po = _lib.entk_predict_opts_default()
    po.t = _number("time", time, lambda v: v >= 0, "is negative (t must be >= 0 or inf)")
    po.lr = _number("lr", lr, lambda v: 0 < v < math.inf, "is not a positive finite number")
    po.diag_reg = _number("diag_reg", diag_reg, lambda v: 0 <= v < math.inf, "is not a finite number >= 0")
    if not isinstance(diag_reg_absolute, (bool, np.bool_)):
        raise TypeError("diag_reg_absolute: expected a bool, not %s" % type(diag_reg_absolute).__name__)
    po.diag_reg_absolute = int(bool(diag_reg_absolute))
    return po


def _solve_failed(st, info, which):
    if st == _ERR_NOT_PD and info.used_eigen:
        raise _error("predict: the %s has a negative eigenvalue (%.3g) beyond rounding; it is not a kernel matrix"
                     % (which, info.min_eig), st)
    if st == _ERR_NOT_PD:
        raise _error("predict: the %s is not positive definite (minor %d), even with jitter; raise diag_reg"
                     % (which, info.not_pd_order), st)
    _check(st, "predict")


def _flag(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError("%s: expected a bool, not %s" % (name, type(v).__name__))
    return bool(v)


def predict(arch=None, train_x=None, train_y=None, test_x=None, kernel="ntk", time=math.inf, lr=1.0, diag_reg=0.0,
            diag_reg_absolute=False, variance=False, standardize=False, threads=None, orbit="none", progress=None,
            train_gram=None, test_gram=None):
    """Kernel-regression prediction at test_x of a network trained on (train_x, train_y), as `entk
    predict`: kernel="ntk" the gradient-descent mean of the infinite NTK ensemble (variance=True: its
    predictive variance too), "nngp" the NNGP posterior; at training time `time` (inf: converged) with
    learning rate lr; diag_reg (relative to the mean diagonal unless diag_reg_absolute) added to the
    train matrix; standardize: targets in their own mean/deviation units, the results mapped back.
    Returns the mean, or (mean, variance). With train_gram (N x N) and test_gram (M x N) instead of
    arch, train_x and test_x: the mean from those Gram matrices (`entk predict --train-gram`)."""
    variance = _flag("variance", variance)
    standardize = _flag("standardize", standardize)
    po = _opts(time, lr, diag_reg, diag_reg_absolute)
    if train_gram is not None or test_gram is not None:
        return _predict_gram(locals(), po)
    if train_x is None or train_y is None or test_x is None or arch is None:
        raise Error("predict: arch, train_x, train_y and test_x are required (or train_gram, test_gram and train_y)")
    net = _Net(arch, orbit)
    if kernel not in ("ntk", "nngp"):
        raise Error("kernel: '%s' is not ntk or nngp" % (kernel,))
    ntk = kernel == "ntk"
    need_t, need_k = ntk, (not ntk) or variance
    xtr = _array("train_x", train_x)
    net.check_input("train_x", xtr)
    ytr = _array("train_y", train_y)
    xte = _array("test_x", test_x)
    net.check_input("test_x", xte)
    net.check_compatible("train_x", xtr, "test_x", xte)
    n, m = xtr.shape[0], xte.shape[0]
    ytr, k = _targets(ytr, n, False)
    net.threads = _threads(threads)
    k_tr = np.empty((n, n)) if need_k else None
    k_te = np.empty((m, n)) if need_k else None
    k_d = np.empty(m) if need_k and variance else None
    t_tr = np.empty((n, n)) if need_t else None
    t_te = np.empty((m, n)) if need_t else None
    with _Progress(progress) as p:
        _check(p.run("train kernel", lambda: net.gram(xtr, None, k_tr, t_tr)), "train kernel")
        _check(p.run("test kernel", lambda: net.gram(xte, xtr, k_te, t_te)), "test kernel")
        if variance:
            _check(p.run("test diagonal", lambda: net.gram_diag(xte, k_d, None)), "test diagonal")
    kk = _Kernels(n, m, _ptr(k_tr), n, _ptr(k_te), n, _ptr(k_d), None, 0)
    kt = _Kernels(n, m, _ptr(t_tr), n, _ptr(t_te), n, None, None, 0)
    mean = np.empty((m, k))
    var = np.empty(m) if variance else None
    y = ytr
    if standardize:
        y, ymean, yscale = _standardize(ytr, n, k)
    info = _PredictInfo()
    args = (_ptr(y), k, ctypes.byref(po), _ptr(mean), k)
    if ntk and not variance:
        st = _lib.entk_predict_mean(ctypes.byref(kt), k, *args, ctypes.byref(info))
    elif ntk:
        st = _lib.entk_predict_ntk_ensemble(ctypes.byref(kk), ctypes.byref(kt), k, *args, _ptr(var), None, 0,
                                            ctypes.byref(info))
    else:
        st = _lib.entk_predict_nngp(ctypes.byref(kk), k, *args, _ptr(var), None, 0, ctypes.byref(info))
    if st:
        _solve_failed(st, info, "%s train matrix" % kernel)
    if standardize:  # back to target units, as the program: mean + scale mu, scale^2 v
        mean = ymean + yscale * mean
        if variance:  # one variance per test input, scaled per target column
            var = yscale * yscale * var[:, None]
        if not np.all(np.abs(mean) <= np.finfo(np.float64).max):
            raise Error("predict: the mean in target units overflows")
        if variance and not np.all(var <= np.finfo(np.float64).max):
            raise Error("predict: the variance in target units overflows")
    if ytr.ndim == 1:
        mean = mean[:, 0]
    if variance:
        if standardize and ytr.ndim == 1:
            var = var[:, 0]
        return mean, var
    return mean


def _predict_gram(a, po):
    """predict() with train_gram and test_gram: the program's in-memory --train-gram path."""
    refused = [name for name in ("arch", "train_x", "test_x") if a[name] is not None]
    if a["orbit"] not in (None, "none"):
        refused.append("orbit")
    if a["kernel"] != "ntk":
        refused.append("kernel")
    if a["threads"] is not None:
        refused.append("threads")
    if a["progress"] is not None:
        refused.append("progress")
    if a["train_gram"] is None or a["test_gram"] is None or a["train_y"] is None:
        raise Error("predict: train_gram, test_gram and train_y are required with Gram matrices")
    if refused:
        raise Error("%s does not apply with train_gram: the Gram matrices are the kernel" % refused[0])
    if a["variance"]:
        raise Error("variance: with train_gram only the mean is computed (a variance needs both kernels and the test "
                    "diagonal: use arch with train_x and test_x)")
    ktr = _array("train_gram", a["train_gram"])
    kte = _array("test_gram", a["test_gram"])
    if ktr.ndim != 2 or ktr.shape[0] != ktr.shape[1] or ktr.shape[0] == 0:
        raise Error("train_gram: a train Gram is n x n with n >= 1, not %s" % " x ".join(map(str, ktr.shape)))
    n = ktr.shape[0]
    if kte.ndim != 2 or kte.shape[1] != n:
        raise Error("test_gram: %s, but the train Gram is %d x %d (a test Gram is m x n)"
                    % (" x ".join(map(str, kte.shape)), n, n))
    m = kte.shape[0]
    ytr, k = _targets(a["train_y"], n, True)
    y = ytr
    if a["standardize"]:
        y, ymean, yscale = _standardize(ytr, n, k)
    kk = _Kernels(n, m, _ptr(ktr), n, _ptr(kte), n, None, None, 0)
    mean = np.empty((m, k))
    info = _PredictInfo()
    st = _lib.entk_predict_mean(ctypes.byref(kk), k, _ptr(y), k, ctypes.byref(po), _ptr(mean), k, ctypes.byref(info))
    if st:
        _solve_failed(st, info, "train Gram")
    if a["standardize"]:
        mean = ymean + yscale * mean
        if not np.all(np.abs(mean) <= np.finfo(np.float64).max):
            raise Error("predict: the mean in target units overflows")
    return mean[:, 0] if ytr.ndim == 1 else mean


def featurize(xyz, L, powers=None):
    """Molecules to per-atom signals on the sphere, as `entk featurize`: xyz is an XYZ file's path (str
    or os.PathLike) or its contents (bytes); L the band limit (1 .. 1024); powers distinct integers
    1 .. 12, at most 8 (None: 1, 2). Returns (X, energies): X N x A_max x (5 + 5 P) x 2L x (2L - 1),
    energies (N,) in Hartree."""
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)):
        raise TypeError("L: expected an int, not %s" % type(L).__name__)
    if not 1 <= L <= FEAT_MAX_L:
        raise Error("L: '%d' is not an integer from 1 to %d" % (L, FEAT_MAX_L))
    plist = None
    if powers is not None:
        try:
            plist = [int(p) for p in powers]
            if any(isinstance(p, bool) or int(p) != p for p in powers):
                raise ValueError
        except (TypeError, ValueError):
            raise Error("powers: %r is not a list of distinct integers from 1 to %d (at most %d), e.g. [1, 2]"
                        % (powers, FEAT_MAX_POWER, FEAT_MAX_POWERS)) from None
        if not plist or len(plist) > FEAT_MAX_POWERS or len(set(plist)) != len(plist) or \
                not all(1 <= p <= FEAT_MAX_POWER for p in plist):
            raise Error("powers: %r is not a list of distinct integers from 1 to %d (at most %d), e.g. [1, 2]"
                        % (powers, FEAT_MAX_POWER, FEAT_MAX_POWERS))
    m = _Molecules()
    err = ctypes.create_string_buffer(256)
    if isinstance(xyz, (bytes, bytearray, memoryview)):
        data = bytes(xyz)
        st = _lib.entk_so3_xyz_parse(data, len(data), ctypes.byref(m), err, len(err))
        where = "xyz"
    elif isinstance(xyz, (str, os.PathLike)):
        path = os.fsencode(xyz)
        if b"\0" in path:
            raise Error("xyz: a path with a NUL character")
        st = _lib.entk_so3_xyz_read_file(path, ctypes.byref(m), err, len(err))
        where = "xyz %s" % os.fsdecode(path)
    else:
        raise TypeError("xyz: expected a path or the file's bytes, not %s" % type(xyz).__name__)
    if st:
        raise _error("%s: %s" % (where, _text(err) or _status_string(st)), st)
    try:
        npow = len(plist) if plist else 0
        C, length = _sz(0), _sz(0)
        st = _lib.entk_so3_featurize_size(ctypes.byref(m), L, npow, ctypes.byref(C), ctypes.byref(length))
        if st == _STATUS_NAMES.index("ENTK_ERR_OVERFLOW"):
            raise _error("featurize: %d x %d x %d x %d x %d doubles overflow size_t"
                         % (m.n, m.max_atoms, 5 * (1 + (npow or 2)), 2 * L, 2 * L - 1), st)
        _check(st, "featurize")
        shape = (m.n, m.max_atoms, C.value, 2 * L, 2 * L - 1)
        x = np.empty(shape)
        pw = (_int * npow)(*plist) if npow else None
        _check(_lib.entk_so3_featurize(ctypes.byref(m), L, pw, npow, _ptr(x), length.value), "featurize")
        energies = np.ctypeslib.as_array(m.energy, shape=(m.n,)).copy()
    finally:
        _lib.entk_so3_molecules_free(ctypes.byref(m))
    return x, energies


def info():
    """{"version", "simd", "sleef", "library"}: as `entk info`."""
    return {"version": __version__, "simd": _lib.entk_simd_name().decode(),
            "sleef": _lib.entk_sleef_version().decode(), "library": library_path}


def simd(path=None):
    """The SIMD path's name; with path ("scalar", "avx2", "avx512", "neon") select it first (raises
    Error if this build or CPU lacks it). Process-wide, as entk_simd_set."""
    if path is not None:
        if path not in _SIMD:
            raise Error("simd: '%s' is not scalar, avx2, avx512 or neon" % (path,))
        st = _lib.entk_simd_set(_SIMD[path])
        if st:
            raise _error("simd: %s: %s" % (path, _status_string(st)), st)
    return _lib.entk_simd_name().decode()

