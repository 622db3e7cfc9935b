# The two commands of the README's quick start:
#   make demo   set up the device runtime and play the simulated workout through the coach
#   make test   set up everything (device, export, dev) and run the whole test suite
# Both create or reuse the virtual environment in $(VENV) and check the system packages first.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# Debian packages edgecoach uses: speech, the private D-Bus of the BLE tests, sound tools, and
# the browser that tests the kiosk page and turns reports into pictures, and the gym fleet's
# MQTT broker (its tests start one; Debian installs it in /usr/sbin).
SYSTEM_PACKAGES := espeak-ng dbus-daemon sox chromium mosquitto
SYSTEM_COMMANDS := espeak-ng dbus-daemon sox chromium mosquitto
# The Raspberry Pi bundle's tools (`make pi-bundle`, `make pi-check`, not `make test`): the
# aarch64 cross compilers for llama-cpp-python, and qemu-user with binfmt_misc and debootstrap
# for the emulated arm64 root of the check.
PI_PACKAGES := gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static binfmt-support debootstrap
PI_COMMANDS := aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ qemu-aarch64-static update-binfmts debootstrap
DEMO_ARGS ?=
PYTEST_ARGS ?=
# llama.cpp is compiled for a portable x86-64 (AVX2/FMA/F16C) rather than -march=native: on
# virtual machines whose CPU advertises AMX, a native build crashes with SIGILL in its AMX
# matrix kernels as soon as a prompt is long enough to batch. Other architectures build natively.
ifeq ($(shell uname -m),x86_64)
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
endif

.PHONY: demo test lint system-packages pi-packages clean pi-bundle pi-check

demo: system-packages $(VENV)/.device-installed
	$(BIN)/edgecoach demo $(DEMO_ARGS)

test: system-packages $(VENV)/.all-installed lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# One style across the tree, and the layers of the README's architecture section: imports point
# one way (application -> domain -> infrastructure -> core), no cycles, firmware_bridge alone.
lint: $(VENV)/.all-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# $(call ensure-packages,COMMANDS,PACKAGES): when one of COMMANDS is missing, install PACKAGES
# with apt-get (as root), or say how to.
define ensure-packages
@missing=""; for c in $(1); do command -v $$c >/dev/null 2>&1 || [ -x /usr/sbin/$$c ] || missing="$$missing $$c"; done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
    echo "installing system packages:$$missing"; \
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null || exit 1; \
  else \
    echo "edgecoach needs system packages that are missing:$$missing"; \
    echo "install them with:  sudo apt-get install -y $(2)"; \
    exit 1; \
  fi; \
fi
endef

system-packages:
	$(call ensure-packages,$(SYSTEM_COMMANDS),$(SYSTEM_PACKAGES))

pi-packages:
	$(call ensure-packages,$(PI_COMMANDS),$(PI_PACKAGES))

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The device runtime only: what a Raspberry Pi installs.
$(VENV)/.device-installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

# Device runtime, export stage and development tools.
$(VENV)/.all-installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[export,dev]'
	@touch $@ $(VENV)/.device-installed

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info edgecoach-demo.wav

# The Raspberry Pi bundle (README "Raspberry Pi bundle"): an offline arm64 / cp311 install tar in
# build/, and its check under qemu in a cached arm64 Debian bookworm root (root, and network for
# the first run of each). Neither is part of `make test`.
pi-bundle: pi-packages $(VENV)/.device-installed
	$(BIN)/python -m export.bundle build

pi-check: pi-packages $(VENV)/.device-installed
	$(BIN)/python -m export.bundle check
