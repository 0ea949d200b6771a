# The two commands of the quick start: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: install run serve migrate seed test lint messages assets bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The suite in parallel, a database per worker (pytest-xdist; `make test TEST_WORKERS=0` runs it in one
# process). Only the fast tests: `.venv/bin/pytest -m "not slow and not browser"`.
# Coverage of the apps ([tool.coverage.run] in pyproject.toml), combined across the workers: the files
# below 100% are listed, the lowest first, and the run fails under COV_FLOOR percent (today's figure
# rounded down, less a point of slack; README "What CI checks"). A partial run (SQLite, which skips
# the service-backed tests) covers less: `make test COV_FLOOR=0` prints the figure without the floor,
# `make test COV=` runs without coverage.
TEST_WORKERS ?= auto
COV_FLOOR ?= 96
COV ?= --cov --cov-report=term:skip-covered --cov-fail-under=$(COV_FLOOR)
test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope $(COV)

lint: install
	$(BIN)/ruff check .

# Rebuild the translation catalogues after changing strings (the compiled .mo files are committed).
messages: install
	$(BIN)/python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=tests --ignore=bench
	$(BIN)/python manage.py compilemessages --ignore=.venv

# Re-vendor the front-end packages pinned in package.json (the copies are committed; run after a bump).
assets:
	npm ci --no-audit --no-fund
	cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.js.map node_modules/leaflet/dist/leaflet.css node_modules/leaflet/LICENSE \
	  portal/static/portal/vendor/leaflet/
	cp node_modules/leaflet/dist/images/*.png portal/static/portal/vendor/leaflet/images/
	cp node_modules/leaflet.markercluster/dist/leaflet.markercluster-src.js node_modules/leaflet.markercluster/dist/leaflet.markercluster-src.js.map \
	  node_modules/leaflet.markercluster/dist/MarkerCluster.css \
	  node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css node_modules/leaflet.markercluster/MIT-LICENCE.txt \
	  centre/static/centre/vendor/leaflet.markercluster/
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map node_modules/chart.js/LICENSE.md \
	  centre/static/centre/vendor/chart.js/
	cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE tests/browser/vendor/axe-core/

bench: install
	$(BIN)/python bench/grid_scope.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
