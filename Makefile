# LCZ mapping plugin: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= offscreen
export TF_CPP_MIN_LOG_LEVEL ?= 2
PLUGIN_NAME := lcz_mapping
PLUGIN_FILES := __init__.py plugin.py metadata.txt LICENSE README.md CHANGELOG.md \
	lcz_qgis processing_algorithms resources docs
QGIS_PROFILE_DIR ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/default

.PHONY: setup demo test lint format deploy package bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m lcz_qgis.demo --output-folder demo_output

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup lint
	$(PY) -m pytest -ra $(PYTEST_ARGS)

bench: setup
	$(PY) scripts/bench.py

deploy: setup
	$(PY) scripts/deploy.py --profile-dir "$(QGIS_PROFILE_DIR)" --name $(PLUGIN_NAME) --venv $(VENV)

package:
	@rm -rf build/package && mkdir -p build/package/$(PLUGIN_NAME) dist
	@cp -r $(PLUGIN_FILES) build/package/$(PLUGIN_NAME)/
	@find build/package -name __pycache__ -prune -exec rm -rf {} + ; find build/package -name '*.pyc' -delete
	@cd build/package && rm -f ../../dist/$(PLUGIN_NAME).zip && zip -qr ../../dist/$(PLUGIN_NAME).zip $(PLUGIN_NAME)
	@echo "dist/$(PLUGIN_NAME).zip"

clean:
	rm -rf build dist demo_output bench_output .pytest_cache .ruff_cache
