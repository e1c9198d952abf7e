# LossKit: `make bench` (the main job) and `make test`; see README.md.
SWIFT ?= swift
CC ?= cc
ARGS ?=
# Debian/Ubuntu packages the build links against (OpenBLAS + LAPACKE, found through pkg-config).
APT_PACKAGES := libopenblas-dev liblapacke-dev pkg-config

.PHONY: all deps build test test-sanitized bench lib clean fuzz bench-peers bench-memory docs examples plots test-c test-arm64 mca test-mpi

all: build

# Installs the apt packages that are missing (as root), or prints the exact command.
# Each is looked up for the native architecture (pkg:amd64): on a system that also
# holds another architecture's copy (libopenblas-dev:arm64 for `make test-arm64`),
# a bare `dpkg -s libopenblas-dev` answers "ambiguous package name". Messages go to
# stderr, so `make bench ARGS=--json` prints JSON lines only.
deps:
	@if command -v dpkg >/dev/null 2>&1; then \
	  arch=$$(dpkg --print-architecture); missing=""; \
	  for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' "$$p:$$arch" 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = "0" ]; then \
	      echo "installing:$$missing" >&2; \
	      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else \
	      echo "LossKit needs these packages:$$missing" >&2; \
	      echo "install them with:  sudo apt-get install -y$$missing" >&2; \
	      exit 1; \
	    fi; \
	  fi; \
	fi

build: deps
	$(SWIFT) build

# The whole test suite (debug build): golden, differential, gradient checks, bad input, determinism.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The whole suite again under AddressSanitizer (its own build folder). LSan
# reports only leaks in LossKit's code: the suppressions cover the test
# runtimes' own one-time allocations.
test-sanitized: deps
	LSAN_OPTIONS=suppressions=$(CURDIR)/.ci/lsan.supp:print_suppressions=0 \
	  $(SWIFT) test --sanitize=address --scratch-path .build-asan

# Release build, then every workload of Benchmarks/README.md (ARGS: --json, --quick, --filter NAME, --threads 1,2).
# The build's output goes to stderr: with ARGS=--json, stdout carries JSON lines only.
bench: deps
	@$(SWIFT) build -c release --product losskit-bench >&2
	@.build/release/losskit-bench $(ARGS)

# build/liblosskit.so + build/include/: the C kernels for C or Python ctypes users.
# Incremental: an object is rebuilt when its source or any CKernels header changed.
LIB_SOURCES := $(wildcard CKernels/*.c)
LIB_OBJECTS := $(patsubst CKernels/%.c,build/obj/%.o,$(LIB_SOURCES))
LIB_HEADERS := $(wildcard CKernels/*.h CKernels/include/*.h)
BLAS_LIBS = $$(pkg-config --libs openblas lapacke 2>/dev/null || echo -lopenblas -llapacke)

lib: build/liblosskit.so

build/obj/%.o: CKernels/%.c $(LIB_HEADERS) | deps
	@mkdir -p build/obj
	$(CC) -std=c11 -O3 -fPIC -DLOSSKIT_BUILDING -c $< -o $@

build/liblosskit.so: $(LIB_OBJECTS) $(LIB_HEADERS)
	$(CC) -shared -o $@ $(LIB_OBJECTS) $(BLAS_LIBS) -lpthread -lm
	@mkdir -p build/include
	cp CKernels/include/*.h build/include/
	@echo "built build/liblosskit.so (header: build/include/losskit.h)"

clean:
	rm -rf .build build

# The C conformance program (Tests/conformance, no Swift): every C entry point,
# each SIMD path the CPU has against scalar, golden fixtures, thread
# determinism, bad-argument codes. Its package checks name the architecture
# (pkg:arch), so an arm64 OpenBLAS installed beside the native one does not
# make them ambiguous.
CONF_CFLAGS := -std=c11 -O2 -Wall -Wextra
CONF_FIXTURES := Tests/LossKitTests/Fixtures
test-c:
	@arch=$$(dpkg --print-architecture 2>/dev/null || echo none); \
	if [ "$$arch" != none ]; then for p in libopenblas-dev liblapacke-dev; do \
	  dpkg -s $$p:$$arch >/dev/null 2>&1 || { echo "make test-c needs $$p:$$arch (apt-get install $$p)"; exit 1; }; done; fi
	@mkdir -p build/conformance/native
	@for f in CKernels/*.c; do $(CC) $(CONF_CFLAGS) -c $$f -o build/conformance/native/$$(basename $$f .c).o || exit 1; done
	$(CC) $(CONF_CFLAGS) -ICKernels/include Tests/conformance/conformance.c build/conformance/native/*.o \
	  $$(pkg-config --libs openblas lapacke 2>/dev/null || echo -lopenblas -llapacke) -lm -lpthread -o build/conformance/native/conformance
	build/conformance/native/conformance $(CONF_FIXTURES)

# Static throughput of the inner loops on arm64 (llvm-mca for Neoverse-V1,
# Neoverse-N1, Apple M1; NEON against scalar): the table in
# Sources/LossKit/LossKit.docc/Performance.md. Needs llvm-19 (llvm-mca with
# the Neoverse models) and what test-arm64 installs (qemu traces libm's path and
# TriHard's loops).
mca:
	@command -v llvm-mca-19 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq llvm-19 >/dev/null; \
	  else echo "make mca needs llvm-19:  sudo apt-get install -y llvm-19"; exit 1; fi; }
	Benchmarks/mca/run_mca.sh $(ARGS)

# The same program cross-compiled for aarch64 (NEON against scalar) and run
# under qemu-user. Installs what is missing (as root; else prints the
# command). The loader and libc come from the cross sysroot (-L, and
# LD_LIBRARY_PATH so that the sysroot's loader does not pick up the arm64
# multiarch libc, a different build, which hangs at the first thread); the
# arm64 OpenBLAS / LAPACKE from the multiarch folder. OpenBLAS's own threads
# spin under emulation: OPENBLAS_NUM_THREADS=1.
ARM64_CC ?= aarch64-linux-gnu-gcc
ARM64_SYSROOT ?= /usr/aarch64-linux-gnu
ARM64_LIBDIR ?= /usr/lib/aarch64-linux-gnu
ARM64_PACKAGES := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libopenblas-dev:arm64 liblapacke-dev:arm64
test-arm64:
	@native=$$(dpkg --print-architecture); missing=""; \
	for p in $(ARM64_PACKAGES); do case $$p in *:*) q=$$p;; *) q=$$p:$$native;; esac; \
	  dpkg -s $$q >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing:$$missing"; \
	    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "make test-arm64 needs:$$missing"; \
	    echo "install them with:  sudo dpkg --add-architecture arm64 && sudo apt-get update && sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi
	@mkdir -p build/conformance/arm64
	@for f in CKernels/*.c; do $(ARM64_CC) $(CONF_CFLAGS) -c $$f -o build/conformance/arm64/$$(basename $$f .c).o || exit 1; done
	$(ARM64_CC) $(CONF_CFLAGS) -ICKernels/include Tests/conformance/conformance.c build/conformance/arm64/*.o \
	  -L$(ARM64_LIBDIR) -lopenblas -llapacke -lm -lpthread -o build/conformance/arm64/conformance
	OPENBLAS_NUM_THREADS=1 qemu-aarch64 -L $(ARM64_SYSROOT) -E LD_LIBRARY_PATH=$(ARM64_SYSROOT)/lib \
	  build/conformance/arm64/conformance $(CONF_FIXTURES)

# libFuzzer + ASan + UBSan over the C entry points; fails on any finding.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
fuzz: deps
	@mkdir -p build/fuzz-corpus
	$(FUZZ_CC) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -ICKernels/include Fuzz/fuzz_losskit.c CKernels/*.c $$(pkg-config --libs openblas lapacke 2>/dev/null || echo -lopenblas) -lm -lpthread -o build/fuzz_losskit
	build/fuzz_losskit -max_total_time=$(FUZZ_SECONDS) -max_len=20000 -print_final_stats=1 build/fuzz-corpus

# PyTorch timings of the same workloads on this machine (optional; needs network or a local wheel):
# a virtualenv under build/, outside the package. TORCH_SPEC picks the wheel, e.g. "torch==2.13.0+cpu".
TORCH_SPEC ?= torch
# The DocC catalog (Sources/LossKit/LossKit.docc + every DocC comment) and the
# LossKitDifferentiation module's, combined into one static site in build/docs.
# A static-hosting build loads its scripts from absolute paths (/js/...): opened
# from disk it renders blank, so serve the folder (the command is printed).
DOCS_PORT ?= 8000
docs:
	$(SWIFT) package --allow-writing-to-directory build/docs generate-documentation \
	  --target LossKit --target LossKitDifferentiation --enable-experimental-combined-documentation \
	  --output-path build/docs --transform-for-static-hosting --warnings-as-errors
	@echo "documentation: build/docs. It must be served, not opened from disk:"
	@echo "  python3 -m http.server $(DOCS_PORT) --directory build/docs"
	@echo "  then open http://localhost:$(DOCS_PORT)/documentation/ (LossKit and LossKitDifferentiation)"

# The two training examples (Examples/, a package that depends on LossKit by path). EXAMPLE_ARGS=--quick for CI.
EXAMPLE_ARGS ?=
examples: deps
	$(SWIFT) build -c release --package-path Examples
	Examples/.build/release/trihard-embeddings $(EXAMPLE_ARGS)
	Examples/.build/release/wing-landmarks $(EXAMPLE_ARGS)

# SVG figures under docs/ from LossKit's own values (Plots/plots.py, Python stdlib + build/liblosskit.so);
# the benchmark chart from the measured JSON lines committed in docs/.
plots: lib
	python3 Plots/plots.py --bench docs/bench.jsonl --peers docs/peers.jsonl

# TriHard 16384 x 128, then the reference-set TriHard 4096 x 65,536 x 128, each in a process of its own: its whole peak resident memory.
bench-memory: lib
	$(CC) -std=c11 -O2 -Ibuild/include Benchmarks/memory/trihard_rss.c -Lbuild -llosskit -Wl,-rpath,$(CURDIR)/build -lm -o build/trihard_rss
	build/trihard_rss
	$(CC) -std=c11 -O2 -Ibuild/include Benchmarks/memory/trihard_ref_rss.c -Lbuild -llosskit -Wl,-rpath,$(CURDIR)/build -lm -o build/trihard_ref_rss
	build/trihard_ref_rss

bench-peers:
	@test -x build/torch-peer/bin/python || (python3 -m venv build/torch-peer && build/torch-peer/bin/pip install -q "$(TORCH_SPEC)")
	@build/torch-peer/bin/python -c "import pycocotools" 2>/dev/null || build/torch-peer/bin/pip install -q numpy pycocotools
	build/torch-peer/bin/python Benchmarks/peers/torch_peer.py $(ARGS)
	build/torch-peer/bin/python Benchmarks/peers/make_coco_fixture.py --bench $(ARGS)
	@build/torch-peer/bin/python -c 'import numpy' 2>/dev/null || build/torch-peer/bin/pip install -q numpy
	build/torch-peer/bin/python Benchmarks/peers/reid_peer.py $(ARGS)

# Data-parallel TriHard over MPI (MPI/, a package of its own: LossKit never
# needs MPI). Installs Open MPI when missing (`deps` with MPI's packages: as
# root; else prints the command), builds MPI/, and runs under mpirun on 2 ranks: losskit-mpi-check
# (the collectives, and distributedTriHardLoss against one process's TriHard
# on the concatenated batch) and trihard-embeddings-mpi (the embedding example
# with each batch split over the ranks; --compare: the same rank-1 as one
# process). Loopback in a container: shared memory (vader) without the
# single-copy mechanism (CMA needs ptrace rights containers often lack);
# --allow-run-as-root for CI's root, --oversubscribe for small machines.
MPI_PACKAGES := libopenmpi-dev openmpi-bin
MPIRUN ?= mpirun
MPIRUN_FLAGS ?= -np 2 --allow-run-as-root --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none
test-mpi: deps
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(MPI_PACKAGES)"
	$(SWIFT) build -c release --package-path MPI
	$(MPIRUN) $(MPIRUN_FLAGS) MPI/.build/release/losskit-mpi-check
	$(MPIRUN) $(MPIRUN_FLAGS) MPI/.build/release/trihard-embeddings-mpi --quick --compare
