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
DEMO_ARGS ?=
PYTEST_ARGS ?=
# llama.cpp is compiled for a portable x86-64 (AVX2/FMA/F16C) rather than -march=native: on
# virtual machines whose CPU advertises AMX, a native build crashes with SIGILL in its AMX
# matrix kernels as soon as a prompt is long enough to batch. Other architectures build natively.
ifeq ($(shell uname -m),x86_64)
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
endif

.PHONY: demo test lint system-packages clean pi-bundle pi-check

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

system-packages:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null 2>&1 || [ -x /usr/sbin/$$c ] || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing system packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null || exit 1; \
	  else \
	    echo "edgecoach needs system packages that are missing:$$missing"; \
	    echo "install them with:  sudo apt-get install -y $(SYSTEM_PACKAGES)"; \
	    exit 1; \
	  fi; \
	fi

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
# build/, and its check under qemu in a cached arm64 Debian bookworm root (root, network for the
# first run; the tools: apt-get install -y qemu-user-static binfmt-support debootstrap
# gcc-aarch64-linux-gnu g++-aarch64-linux-gnu). Neither is part of `make test`.
pi-bundle: $(VENV)/.device-installed
	$(BIN)/python -m export.bundle build

pi-check: $(VENV)/.device-installed
	$(BIN)/python -m export.bundle check
