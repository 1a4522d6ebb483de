# entk - build, test, demo, bench. `make` builds bin/entk and the examples; see README.md.
CC      ?= cc
AARCH64_CC ?= aarch64-linux-gnu-gcc
WARN    := -std=c99 -pedantic -Wall -Wextra -Werror
OPT     := -O2 -g
CFLAGS  ?= $(OPT)
# make NO_SLEEF=1: build without SLEEF (-DENTK_NO_SLEEF, no -lsleef) and do not ask deps.sh for it;
# the test matrix then holds only the variants that need no SLEEF.
ifeq ($(NO_SLEEF),1)
SLEEF_FLAGS := -DENTK_NO_SLEEF
LIBS    := -lm
DEPS_ARG := nosleef
else
SLEEF_FLAGS :=
LIBS    := -lsleef -lm
DEPS_ARG :=
endif
ALLCFLAGS := $(WARN) $(CFLAGS) $(SLEEF_FLAGS) -I. -fopenmp
HEADERS := entk.h $(wildcard entk_cn.h entk_so3.h)

TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TESTS     := $(patsubst tests/%.c,%,$(TEST_SRCS))
BENCH_SRCS := $(sort $(wildcard bench/bench_*.c))
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
# libFuzzer targets (see "fuzzing" below)
FUZZ_CC    ?= clang
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1
FUZZ_NAMES := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_BINS  := $(addprefix build/fuzz/fuzz_,$(FUZZ_NAMES))
SECONDS    ?= 600
FUZZ_SHORT_SECONDS ?= 30

# the test build matrix: name -> extra flags and libraries
V_default_FLAGS :=
V_default_LIBS  := $(LIBS)
V_scalar_FLAGS  := -DENTK_VECTOR=0 -ffp-contract=off
V_scalar_LIBS   := $(LIBS)
V_nosleef_FLAGS := -DENTK_NO_SLEEF
V_nosleef_LIBS  := -lm
# avx2, avx512: the AVX2 or the AVX-512 path forced (-DENTK_VECTOR=1 / 3; default takes the best the
# CPU has, so one of them repeats default on an x86-64 machine and the other covers the path default
# does not run); on a CPU without that path each binary prints one "entk-skip:" line and exits 0
# (tests/testutil.h), which scripts/run-tests.sh counts as skipped
V_avx2_FLAGS    := -DENTK_VECTOR=1
V_avx2_LIBS     := $(LIBS)
V_avx512_FLAGS  := -DENTK_VECTOR=3
V_avx512_LIBS   := $(LIBS)
# asan: AddressSanitizer + UndefinedBehaviorSanitizer (gcc: its ASan runs with libgomp's threads and
# Criterion's forked workers), any report fatal; test_cli runs a CLI built the same way. GCC's manual
# warns that sanitizers raise the rate of false -Wmaybe-uninitialized warnings (GCC 12 gives two in
# entk__cn_slab, whose arrays are filled for t < nt before use); the other variants keep that warning.
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
V_asan_FLAGS    := $(SANITIZE) -Wno-maybe-uninitialized $(SLEEF_FLAGS)
V_asan_LIBS     := $(LIBS)
V_asan_CLI      := build/asan/entk
# fpfast: GNU C11 with contraction into FMA wherever GCC likes (its default outside ISO modes), impl.c
# included; the bit-identity promises (threads, fused sweeps) must survive the user's flags.
V_fpfast_FLAGS  := -std=gnu11 -ffp-contract=fast $(SLEEF_FLAGS)
V_fpfast_LIBS   := $(LIBS)
ifeq ($(NO_SLEEF),1)
VARIANTS := nosleef asan fpfast avx2 avx512
else
VARIANTS := default scalar nosleef asan fpfast avx2 avx512
endif

.PHONY: FORCE all lib install uninstall mpi test demo-so3 experiment-ens fuzz fuzz-short fuzz-build fuzz-seeds deps-fuzz demo bench deps-build deps-test deps-demo deps-bench clean test-x86 test-aarch64

# entk-mpi (cli/entk_mpi.c): `make mpi`, and `make` when mpicc and mpirun exist; OpenMPI's mpicc and
# ScaLAPACK (Debian: openmpi-bin libopenmpi-dev libscalapack-openmpi-dev; scripts/deps.sh test installs
# them). ScaLAPACK, BLACS and BLAS are entk-mpi's dependencies only, never the library's or bin/entk's.
# HAVE_MPI: mpicc and mpirun are there, so `make test` builds bin/entk-mpi and runs its tests with it.
MPICC ?= mpicc
# ScaLAPACK (BLACS inside) alone: its shared library brings its LAPACK and BLAS (DT_NEEDED), and mpicc
# adds MPI. Not pkg-config's line: Debian's scalapack-openmpi.pc requires lapack.pc and blas.pc, which
# only a BLAS -dev package (e.g. libopenblas-dev) provides, and -llapack -lblas need those -dev links too.
SCALAPACK_LIBS ?= -lscalapack-openmpi
HAVE_MPI := $(shell command -v $(MPICC) >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1 && echo 1)
CLI_SRCS := cli/entk_cli.c cli/entk_tiles.h cli/entk_solve.h

all: deps-build bin/entk $(if $(HAVE_MPI),bin/entk-mpi) $(patsubst examples/%.c,bin/%,$(EXAMPLE_SRCS))

mpi: bin/entk-mpi
bin/entk-mpi: cli/entk_mpi.c $(CLI_SRCS) $(HEADERS) build/config | bin
	@command -v $(MPICC) >/dev/null 2>&1 || { echo "make mpi: no $(MPICC); on Debian: sh scripts/deps.sh test" >&2; exit 1; }
	$(MPICC) $(ALLCFLAGS) -o $@ $< $(SCALAPACK_LIBS) $(LIBS)

deps-build deps-test deps-fuzz deps-demo deps-bench: deps-%:
	@sh scripts/deps.sh $* $(DEPS_ARG)

bin/entk: $(CLI_SRCS) $(HEADERS) build/config | bin
	$(CC) $(ALLCFLAGS) -o $@ $< $(LIBS)

# (examples/mc_convergence.c and the training examples include tests/finite_net.h)
bin/%: examples/%.c $(HEADERS) $(wildcard examples/*.h) tests/finite_net.h tests/testutil.h build/config | bin
	$(CC) $(ALLCFLAGS) -o $@ $< $(LIBS)

# the compiler, flags and libraries of bin/ (and the SLEEF choice of everything in build/): rewritten
# only when they change (e.g. NO_SLEEF=1 and back), so what depends on it is rebuilt then and only then
BIN_CONFIG := $(CC) $(ALLCFLAGS) $(LIBS)
build/config: FORCE
	@mkdir -p build
	@echo '$(BIN_CONFIG)' | cmp -s - $@ || echo '$(BIN_CONFIG)' > $@
FORCE:

bin build:
	mkdir -p $@

# ---- tests -------------------------------------------------------------------------------------
# tests/impl.c holds the implementation; each tests/test_*.c is one Criterion binary.
# Criterion's headers are not pedantic C99, so test files build as gnu99; impl.c and hygiene.c are
# held to -std=c99 -pedantic.
define VARIANT_RULES
build/$(1)/impl.o: tests/impl.c $(HEADERS) build/config
	@mkdir -p build/$(1)
	$(CC) $(ALLCFLAGS) $(V_$(1)_FLAGS) -c -o $$@ $$<
build/$(1)/hygiene.o: tests/hygiene.c $(HEADERS) build/config
	@mkdir -p build/$(1)
	$(CC) $(ALLCFLAGS) $(V_$(1)_FLAGS) -c -o $$@ $$<
build/$(1)/%: tests/%.c $(wildcard tests/*.h) build/$(1)/impl.o build/$(1)/hygiene.o $(HEADERS)
	$(CC) $(CFLAGS) -std=gnu99 -Wall -Wextra -Werror -I. -fopenmp $(V_$(1)_FLAGS) $$(CLI_DEF) -o $$@ $$< \
	    build/$(1)/impl.o build/$(1)/hygiene.o -lcriterion $(V_$(1)_LIBS)
# test_cli and test_cli_golden run the variant's CLI if it has one (V_<variant>_CLI), else bin/entk;
# the programs' tests (PROGRAM_TESTS below) run bin/entk and, with MPI, bin/entk-mpi under mpirun
# (without MPI the MPI ones skip themselves: one entk-skip line)
build/$(1)/test_cli build/$(1)/test_cli_golden: $(or $(V_$(1)_CLI),bin/entk)
build/$(1)/test_cli build/$(1)/test_cli_golden: CLI_DEF = -DTU_ENTK_CLI='"$(or $(V_$(1)_CLI),bin/entk)"'
build/$(1)/test_tiles build/$(1)/test_ooc: bin/entk
build/$(1)/test_mpi_kernel build/$(1)/test_mpi_predict: bin/entk $(if $(HAVE_MPI),bin/entk-mpi)
build/$(1)/test_mpi_kernel: CLI_DEF = -DTU_HAVE_MPI=$(if $(HAVE_MPI),1,0)
build/$(1)/test_install: bin/entk build/libentk.so
build/$(1)/test_shlib: build/libentk.so
build/$(1)/entk: $(CLI_SRCS) $(HEADERS) build/config
	@mkdir -p build/$(1)
	$(CC) $(ALLCFLAGS) $(V_$(1)_FLAGS) -o $$@ $$< $(V_$(1)_LIBS)
endef
$(foreach v,$(VARIANTS),$(eval $(call VARIANT_RULES,$(v))))

# only default and asan run the statistical and brute-force binaries (Monte-Carlo kernels, the SO(3)
# oracle, finite-width training): they check the mathematics, and the path-dependent kernels they
# call are checked against the scalar path by the other binaries on every path; default runs them on
# the best path, asan under the sanitizers (scalar, nosleef and fpfast repeating them cost 4 of make
# test's 20 minutes)
SLOW_TESTS := test_cn_mc test_so3_mc test_so3_oracle test_train
V_scalar_TESTS  := $(filter-out $(SLOW_TESTS),$(TESTS))
V_nosleef_TESTS := $(V_scalar_TESTS)
V_fpfast_TESTS  := $(V_scalar_TESTS)
V_avx2_TESTS    := $(V_scalar_TESTS)
V_avx512_TESTS  := $(V_scalar_TESTS)
# the programs' tests (tiled Grams, the out-of-core solve, entk-mpi kernel and predict; make install
# and libentk.so) check file, MPI and build machinery over bin/entk, bin/entk-mpi and build/libentk.so,
# not a SIMD path: they run in the first variant only
PROGRAM_TESTS := test_tiles test_ooc test_mpi_kernel test_mpi_predict test_install test_shlib
FIRST_VARIANT := $(firstword $(VARIANTS))
TEST_BINS := $(foreach v,$(VARIANTS),$(addprefix build/$(v)/,$(if $(filter $(FIRST_VARIANT),$(v)),$(or \
    $(V_$(v)_TESTS),$(TESTS)),$(filter-out $(PROGRAM_TESTS),$(or $(V_$(v)_TESTS),$(TESTS))))))

build/aarch64/check: tests/aarch64_check.c tests/testutil.h $(HEADERS) build/config
	@mkdir -p build/aarch64
	$(AARCH64_CC) $(WARN) $(OPT) $(SLEEF_FLAGS) -I. -I/usr/include/aarch64-linux-gnu -o $@ $< \
	    -L/usr/lib/aarch64-linux-gnu $(LIBS)

# the test matrix builds in parallel (JOBS compilers, default: one per core); the rules are parallel-safe
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) test-build
	@NO_SLEEF=$(NO_SLEEF) FUZZ_SECONDS=$(FUZZ_SHORT_SECONDS) sh scripts/run-tests.sh $(TEST_BINS) \
	    build/aarch64/check readme python:tests/test_python.py $(addprefix fuzz:,$(FUZZ_NAMES))

# (tests/test_python.py: the Python module over build/libentk.so against bin/entk)
test-build: bin/entk build/libentk.so $(TEST_BINS) build/aarch64/check build/static.o $(FUZZ_BINS)

# header hygiene: everything static (-DENTK_STATIC) compiles warning-free too
build/static.o: tests/impl.c $(HEADERS)
	@mkdir -p build
	$(CC) $(ALLCFLAGS) -DENTK_STATIC -c -o $@ $<

# ---- fuzzing ------------------------------------------------------------------------------------
# Each fuzz/fuzz_<name>.c is one libFuzzer target, build/fuzz/fuzz_<name>, with its implementation
# inside; its seeds are fuzz/corpus/<name>/ and the inputs of past crashes fuzz/regress/<name>/ (each
# one also fixed and replayed by every run). scripts/fuzz.sh runs one target in one process, on a copy
# of the corpus in build/fuzz/run-<name>/. `make fuzz SECONDS=N` runs every target N seconds in turn;
# `make test` (and `make fuzz-short`) FUZZ_SHORT_SECONDS each, one pass per target.

# fuzz_cli includes the CLI itself
build/fuzz/fuzz_cli: $(CLI_SRCS)
build/fuzz/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(HEADERS) build/config
	@mkdir -p build/fuzz
	$(FUZZ_CC) -std=c99 -Wall -Wextra -Werror $(FUZZ_FLAGS) $(SLEEF_FLAGS) -I. -o $@ $< $(LIBS)


fuzz-build: $(FUZZ_BINS)

fuzz: deps-fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@st=0; for n in $(FUZZ_NAMES); do sh scripts/fuzz.sh $$n $(SECONDS) || st=1; done; exit $$st

fuzz-short: deps-fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SHORT_SECONDS) sh scripts/run-tests.sh $(addprefix fuzz:,$(FUZZ_NAMES))

# the .npy seeds, rewritten from fuzz/seeds_npy.c (the library's writer and hand-made headers)
fuzz-seeds: fuzz/seeds_npy.c $(HEADERS)
	@mkdir -p build/fuzz fuzz/corpus/npy
	$(CC) $(ALLCFLAGS) -o build/fuzz/seeds_npy $< $(LIBS)
	build/fuzz/seeds_npy fuzz/corpus/npy

# ---- demo, bench -------------------------------------------------------------------------------
demo: deps-demo
	@$(MAKE) --no-print-directory all
	@sh examples/demo.sh

# the finite-width experiment: augmented-CNN vs C4-GCNN ensembles trained at finite width (examples/aug_ensembles.c;
# about 30 minutes on 2 cores). Table to stdout and out/ens/aug_ensembles.txt, CSV and plot in out/ens/.
experiment-ens: deps-demo
	@$(MAKE) --no-print-directory bin/aug_ensembles
	@mkdir -p out/ens
	bin/aug_ensembles data/fashion-mnist-subset 16 2 4,8,16 128 1000 out/ens/aug_ensembles.csv | tee out/ens/aug_ensembles.txt
	@if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then /usr/bin/python3 scripts/plot_demo.py ens \
	    out/ens/aug_ensembles.csv out/ens/aug_ensembles.png && echo "plot written: out/ens/aug_ensembles.png"; \
	else echo "(matplotlib not installed: no plot)"; fi

demo-so3: deps-demo
	@$(MAKE) --no-print-directory all
	@sh examples/so3_demo.sh

bench: deps-bench
	@$(MAKE) --no-print-directory $(patsubst bench/%.c,build/bench/%,$(BENCH_SRCS))
	@for b in $(patsubst bench/%.c,build/bench/%,$(BENCH_SRCS)); do echo "== $$b"; OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=$${OPENBLAS_CORETYPE:-Haswell} $$b || exit 1; done
	@# bench_chol once more against the kernels OpenBLAS picks itself for this CPU (AVX-512 ones where it
	@# has them): the only place OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset
	@echo "== build/bench/bench_chol (OpenBLAS's own kernel choice)"; env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
	    OPENBLAS_NUM_THREADS=1 build/bench/bench_chol

build/bench/%: bench/%.c bench/benchutil.h $(HEADERS) tests/finite_net.h tests/testutil.h
	@mkdir -p build/bench
	$(CC) $(WARN) -O3 -g -I. -fopenmp -o $@ $< $(LIBS) -lopenblas -llapacke

# ---- shared library, install -------------------------------------------------------------------
# make lib: build/libentk.so, the three headers compiled once (pkg/libentk.c) with -DENTK_SHARED and
# -fvisibility=hidden (and pkg/libentk.map), so only the public entk_* functions are exported
# (nm -D --defined-only); its SONAME is libentk.so.MAJOR.
# It is built with this build's SLEEF choice (NO_SLEEF=1: without).
VERSION := $(shell sed -n 's/^\#define ENTK_VERSION_STRING "\(.*\)"/\1/p' entk.h)
VERSION_MAJOR := $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR := $(word 2,$(subst ., ,$(VERSION)))
SONAME := libentk.so.$(VERSION_MAJOR)
lib: build/libentk.so
build/libentk.so: pkg/libentk.c pkg/libentk.map $(HEADERS) build/config
	$(CC) $(ALLCFLAGS) -DENTK_SHARED -fPIC -fvisibility=hidden -shared -Wl,-soname,$(SONAME) -Wl,-z,defs \
	    -Wl,--version-script=pkg/libentk.map -o $@ $< $(LIBS)

# make install [PREFIX=/usr/local] [DESTDIR=]: the headers, bin/entk, libentk.so (with the SONAME and
# development links), pkg-config files entk (header-only, SLEEF), entk-nosleef (header-only,
# -DENTK_NO_SLEEF) and entk-shared (libentk.so), and the CMake package lib/cmake/entk (entk::entk,
# entk::shared), and the Python module python/entk.py in PYTHONDIR (LIBDIR/python3/dist-packages:
# on sys.path for PREFIX=/usr on Debian, else PYTHONPATH; it loads LIBDIR's libentk.so.MAJOR).
# The .pc and CMake files name PREFIX's paths; DESTDIR only stages the copy.
# make uninstall (the same PREFIX and DESTDIR) removes exactly those files, the module's compiled
# __pycache__/entk.*.pyc (Python writes them on import), and lib/cmake/entk.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
LIBDIR     ?= $(PREFIX)/lib
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR   ?= $(LIBDIR)/cmake/entk
PYTHONDIR  ?= $(LIBDIR)/python3/dist-packages
INSTALL    ?= install
PUBLIC_HEADERS := entk.h entk_cn.h entk_so3.h
PC_FILES   := entk.pc entk-nosleef.pc entk-shared.pc
CMAKE_FILES := entkConfig.cmake entkConfigVersion.cmake
INSTALLED  := $(addprefix $(BINDIR)/,entk) $(addprefix $(INCLUDEDIR)/,$(PUBLIC_HEADERS)) \
    $(addprefix $(LIBDIR)/,libentk.so.$(VERSION) $(SONAME) libentk.so) \
    $(addprefix $(PKGCONFIGDIR)/,$(PC_FILES)) $(addprefix $(CMAKEDIR)/,$(CMAKE_FILES)) $(PYTHONDIR)/entk.py
SIZEOF_VOID_P := $(shell echo '__SIZEOF_POINTER__' | $(CC) -E -P - 2>/dev/null | tr -d ' ')
# the templates pkg/*.in, configured straight into the destination (nothing in build/: two installs
# to different prefixes may run at once)
CONFIGURE = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
    -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
    -e 's|@VERSION_MINOR@|$(VERSION_MINOR)|g' -e 's|@SOMAJOR@|$(VERSION_MAJOR)|g' \
    -e 's|@SIZEOF_VOID_P@|$(SIZEOF_VOID_P)|g' -e 's|@LIB_LIBS@|-fopenmp $(LIBS)|g'

install: bin/entk build/libentk.so python/entk.py $(addprefix pkg/,$(addsuffix .in,$(PC_FILES) $(CMAKE_FILES)))
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(PYTHONDIR)
	$(INSTALL) -m 644 python/entk.py $(DESTDIR)$(PYTHONDIR)/entk.py
	$(INSTALL) -m 755 bin/entk $(DESTDIR)$(BINDIR)/entk
	$(INSTALL) -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 755 build/libentk.so $(DESTDIR)$(LIBDIR)/libentk.so.$(VERSION)
	ln -sf libentk.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libentk.so
	for f in $(PC_FILES); do $(CONFIGURE) pkg/$$f.in > $(DESTDIR)$(PKGCONFIGDIR)/$$f || exit 1; \
	    chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/$$f; done
	for f in $(CMAKE_FILES); do $(CONFIGURE) pkg/$$f.in > $(DESTDIR)$(CMAKEDIR)/$$f || exit 1; \
	    chmod 644 $(DESTDIR)$(CMAKEDIR)/$$f; done

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED)) $(DESTDIR)$(PYTHONDIR)/__pycache__/entk.*.pyc
	rmdir $(DESTDIR)$(PYTHONDIR)/__pycache__ 2>/dev/null || true
	rmdir $(DESTDIR)$(CMAKEDIR) 2>/dev/null || true

clean:
	rm -rf build bin
