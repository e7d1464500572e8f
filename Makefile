# LCZ mapping plugin: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= offscreen
export TF_CPP_MIN_LOG_LEVEL ?= 2
PLUGIN_NAME := lcz_mapping
PLUGIN_FILES := __init__.py plugin.py install_dialog.py metadata.txt LICENSE README.md \
	CHANGELOG.md lcz_qgis processing_algorithms resources docs constraints
QGIS_PROFILE_DIR ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/default

.PHONY: setup demo test lint qt6-check format deploy package bench clean test-trixie test-qgis344 trixie-root cross-write cross-read

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m lcz_qgis.demo --output-folder demo_output

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@$(MAKE) --no-print-directory qt6-check

# QGIS's pyqt5_to_pyqt6 check (pip: qgis-pyqt5to6, Python 3.12+, with PyQt6 and
# PyQt6-QScintilla) over the shipped code, on a copy (it rewrites files): it must change
# and report nothing. Skipped when the tool is not installed.
PYQT5TO6 ?= $(firstword $(abspath $(wildcard $(VENV)/bin/pyqt5to6)) $(shell command -v pyqt5to6 2>/dev/null))
qt6-check:
	@if [ -z "$(PYQT5TO6)" ]; then echo "qt6-check: pyqt5to6 not installed, skipped"; exit 0; fi; \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cp -r __init__.py plugin.py install_dialog.py processing_algorithms lcz_qgis "$$tmp"/ && \
	find "$$tmp" -name __pycache__ -prune -exec rm -rf {} + && cp -r "$$tmp" "$$tmp.orig" && \
	trap 'rm -rf "$$tmp" "$$tmp.orig"' EXIT && \
	out=$$(cd "$$tmp" && "$(PYQT5TO6)" . 2>&1 | grep -v 'not available for introspection'); \
	if [ -n "$$out" ] || ! diff -r "$$tmp.orig" "$$tmp" >/dev/null; then \
	  echo "$$out"; diff -ru "$$tmp.orig" "$$tmp"; echo "qt6-check: pyqt5to6 wants changes (above)"; exit 1; fi; \
	echo "qt6-check: pyqt5to6 reports nothing"

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup lint
	$(PY) -m pytest -ra $(PYTEST_ARGS)

# The suite in a Debian 13 root (QGIS 3.40 LTR, Python 3.13, numpy 2), built once with
# debootstrap under /var/cache (needs root); see scripts/test_trixie.sh.
test-trixie:
	@bash scripts/test_trixie.sh test

# The QGIS tests (pytest -m qgis) on QGIS 3.44, the latest release: a second Debian 13 root
# with trixie-backports' QGIS (needs root; PYTEST_ARGS picks other tests).
test-qgis344:
	@LCZ_TRIXIE_QGIS=backports PYTEST_ARGS="$${PYTEST_ARGS:--m qgis}" bash scripts/test_trixie.sh test

# Model files made on one platform and classified on the other (.ci/run runs both ways):
# `make cross-write LCZ_CROSS_DIR=D` here, `make cross-read LCZ_CROSS_DIR=D` there.
cross-write: setup
	$(PY) scripts/cross_platform.py "$(LCZ_CROSS_DIR)"

cross-read: setup
	LCZ_CROSS_DIR="$(LCZ_CROSS_DIR)" $(PY) -m pytest -ra tests/models/test_cross_platform.py

trixie-root:
	@bash scripts/trixie_root.sh

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
