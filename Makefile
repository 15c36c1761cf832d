# envkit: `make demo` sets up and checks a CPU training environment; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
DEMO   ?= .demo
BIN     = $(VENV)/bin
export UV_PYTHON_DOWNLOADS = never

.PHONY: venv system-deps lint test test-fast demo fleet-demo lock lock-pypi matrix-check bench bundle-atlas clean

# The dev environment: envkit editable plus the test tools.
$(BIN)/envkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

venv: $(BIN)/envkit

# FFmpeg's shared libraries for torchcodec (the cpu profile uses the system's). Installed only
# when missing and when we may (CI runs as root); otherwise the exact command is printed.
system-deps:
	@if ldconfig -p | grep -q 'libavutil\.so\.'; then echo "system FFmpeg libraries present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null && echo "installed FFmpeg with apt-get"; \
	else echo "FFmpeg libraries missing: run 'sudo apt-get install --no-install-recommends ffmpeg'"; exit 1; fi
	@# openssh-server: the fleet test (tests/test_fleet_ansible.py) runs its own sshd on loopback.
	@if [ -x /usr/sbin/sshd ]; then echo "openssh-server present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null && echo "installed openssh-server with apt-get"; \
	else echo "openssh-server missing (the fleet test skips): run 'sudo apt-get install --no-install-recommends openssh-server'"; fi
	@# slurmctld, slurmd, munge: the SLURM test (tests/test_launch_slurm.py) starts a one-node cluster of its own.
	@if [ -x /usr/sbin/slurmd ] && [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/munged ]; then echo "SLURM and munge present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmd slurmctld slurm-client munge >/dev/null && echo "installed SLURM and munge with apt-get"; \
	else echo "SLURM missing (the SLURM test skips): run 'sudo apt-get install --no-install-recommends slurmd slurmctld slurm-client munge'"; fi

# The committed lockfiles: every PyPI layer this machine can lock is locked and fresh (a layer
# recorded as unreachable here is listed with the command that locks it, not failed).
test: venv system-deps lint
	$(BIN)/envkit lock --check --layer pypi --skip-unreachable
	$(BIN)/pytest -q

# Imports at the top of the module except a named list of heavy optional ones (ruff PLC0415 and
# TID253, [tool.ruff] in pyproject.toml), and the layers and accelerator boundary of the import
# graph (import-linter, [tool.importlinter]).
lint: venv
	$(BIN)/ruff check src
	$(BIN)/lint-imports

test-fast: venv
	$(BIN)/pytest -q -m "not slow"

# Install envkit non-editable into its own venv (as a user would) and run its main job: set up the
# cpu profile into .demo/cpu (resumable; a re-run is a no-op) ending with the doctor's smoke ACT
# step (setup's last step: the doctor runs once). This machine is offline, so training (and the
# doctor) skip the pretrained ResNet18 backbone; with the weights at hand pass --weights
# resnet18-f37072fd.pth instead. Afterwards: .demo/venv/bin/envkit doctor --prefix .demo/cpu
# re-checks it with no other flag (setup recorded the profile and the backbone choice there).
demo: venv system-deps
	rm -rf $(DEMO)/dist $(DEMO)/venv
	$(BIN)/pip wheel -q --no-deps -w $(DEMO)/dist .
	$(PYTHON) -m venv $(DEMO)/venv
	$(DEMO)/venv/bin/pip install -q $(DEMO)/dist/envkit-*.whl
	$(DEMO)/venv/bin/envkit detect
	for p in 5090 atlas-a2 cpu; do $(DEMO)/venv/bin/envkit resolve --profile $$p || exit 1; done
	for p in 5090 atlas-a2; do $(DEMO)/venv/bin/envkit setup --profile $$p --dry-run --prefix $(DEMO)/$$p >/dev/null || exit 1; done
	$(DEMO)/venv/bin/envkit setup --profile cpu --prefix $(DEMO)/cpu --yes --no-pretrained-backbone
	@echo "envkit is installed at $(DEMO)/venv/bin/envkit; the environment is $(DEMO)/cpu (log: $(DEMO)/cpu/.envkit/setup.log)"

# The Ansible role on a fleet of three hosts that are this machine: a private sshd on 127.0.0.2-4
# (root only), envkit installed from a wheel on each, the cpu profile set up with forks=3, then
# `envkit fleet report` over the fetched doctor reports. Nothing leaves loopback.
fleet-demo: venv system-deps
	$(BIN)/python -m tests.fleet_loopback

# Every layer of every profile (needs conda-forge and the PyTorch CPU index: a connected CI);
# fails within seconds, naming the channel or index, where they are unreachable.
lock: venv
	$(BIN)/envkit lock --layer all

# The PyPI layers only: what this project's machines can reach. atlas-a2 on linux-64 takes torch
# from the PyTorch CPU index; where that is unreachable it is reported and skipped (lock it on CI,
# or here with `envkit lock --profile atlas-a2 --platform linux-64 --layer pypi --wheels DIR`).
lock-pypi: venv
	$(BIN)/envkit lock --layer pypi --skip-unreachable

# Is compat.toml still current? Reads the configured index (PyPI by default): exit 1 names new
# releases and contradicted rows, 2 an unreachable index. For a connected CI; not part of `test`.
matrix-check: venv
	$(BIN)/envkit matrix check

# The real atlas-a2 aarch64 PyPI layer (torch, torch_npu, lerobot's source + envkit's NPU patch) from the
# committed lock, built on this x86_64 machine: prints its size and time. Downloads ~1 GB from PyPI;
# not part of `test`. The bundle stays at $(BUNDLE_DIR)/atlas-a2-linux-aarch64.tar.
BUNDLE_DIR ?= .cache/bundles
bundle-atlas: venv
	@mkdir -p $(BUNDLE_DIR)
	$(BIN)/envkit bundle --profile atlas-a2 --platform linux-aarch64 --from-lock lockfiles/atlas-a2 -o $(BUNDLE_DIR)/atlas-a2-linux-aarch64.tar
	$(BIN)/envkit bundle --check $(BUNDLE_DIR)/atlas-a2-linux-aarch64.tar

bench: venv
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO) .cache dist build
