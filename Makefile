# callpath — the two commands a newcomer runs are `make run` and `make test`.
# Every target bootstraps what it needs: .venv from pyproject.toml, npm packages for the
# snippet build, Debian's chromium and nginx for the browser and proxy tests, and its
# ffmpeg, espeak-ng and sox for the recording tests.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= var/callpath.db
# make run's database; tests and benchmarks make their own.
RUN_DATABASE_URL ?= sqlite:///$(DB)
# make run's secret key, made once (callpath serve refuses the default); an exported
# CALLPATH_SECRET_KEY wins.
KEY_FILE ?= var/secret-key

.PHONY: run test lint format bench venv snippet chromium nginx wrk audio clean screenshots messages

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

snippet: snippet/dist/dni.min.js

snippet/dist/dni.min.js: snippet/dni.js node_modules/.installed
	mkdir -p snippet/dist
	npx --no-install terser snippet/dni.js --compress passes=2 --mangle --ecma 2017 -o $@
	@printf 'dni.min.js: %s bytes, %s gzipped\n' "$$(wc -c < $@)" "$$(gzip -9c $@ | wc -c)"

# Debian's chromium for the browser tests, and a Japanese font so screenshots of Japanese
# pages show text rather than boxes.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && dpkg -s fonts-ipafont-gothic >/dev/null 2>&1; } || { \
	  echo "installing Debian's chromium and a Japanese font for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium fonts-ipafont-gothic; }

# nginx for the reverse-proxy tests (tests/hardening/test_proxy.py starts its own, with its
# own config, on a loopback port).
nginx:
	@{ command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx; } || { \
	  echo "installing Debian's nginx for the reverse-proxy tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    nginx; }

# ffmpeg (recordings' duration, mp3 and decoding for transcription: backend/recordings/media.py)
# is also what a server that keeps recordings needs; espeak-ng and sox make the spoken
# two-channel recordings of the tests (tests/support/speech.py).
audio:
	@{ command -v ffmpeg >/dev/null 2>&1 && command -v espeak-ng >/dev/null 2>&1 && \
	  command -v sox >/dev/null 2>&1; } || { \
	  echo "installing Debian's ffmpeg, espeak-ng and sox for the recording tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    ffmpeg espeak-ng sox; }

# wrk for the benchmarks: a load generator in C, so that it is not what limits the baseline.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the benchmarks"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

run: venv snippet
	mkdir -p $(dir $(DB)) $(dir $(KEY_FILE))
	@test -s $(KEY_FILE) || { umask 077 && $(PY) -c \
	  'import secrets; print(secrets.token_urlsafe(32))' > $(KEY_FILE); }
	$(BIN)/callpath --database $(RUN_DATABASE_URL) demo --url http://$(HOST):$(PORT)
	@echo ""
	@echo "  Open http://$(HOST):$(PORT)/examples/  (Ctrl-C stops the server)"
	@echo ""
	CALLPATH_SECRET_KEY="$${CALLPATH_SECRET_KEY:-$$(cat $(KEY_FILE))}" CALLPATH_DEMO_CALLS=1 CALLPATH_FORWARD_COUNTRIES=JP,US \
	  $(BIN)/callpath --database $(RUN_DATABASE_URL) serve --host $(HOST) --port $(PORT)

# The dashboard's translations (docs/dashboard.md): extract every message id from the
# templates and backend/dashboard/*.py (babel.cfg), add new ids to each language's .po (empty,
# to be translated; ids no longer used are dropped) and compile the .mo files, which are
# committed so that a clone runs without this step. tests/dashboard/test_translations.py
# fails while an id has no text in some language or a .mo is older than its .po.
MESSAGES_POT := var/i18n/messages.pot
messages: venv
	mkdir -p $(dir $(MESSAGES_POT))
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords -k t -k N_ -k gettext \
	  -k ngettext:1,2 -k _ --no-location --sort-output --project callpath -o $(MESSAGES_POT) .
	$(BIN)/pybabel update -i $(MESSAGES_POT) -d backend/dashboard/locale -D messages \
	  --no-fuzzy-matching --ignore-obsolete -w 100
	$(BIN)/pybabel compile -d backend/dashboard/locale -D messages --statistics

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pool attribution

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The in-process tests run on SQLite and on PostgreSQL; scripts/ensure-postgres.sh finds the
# local server (or starts/installs a throwaway one) and prints its URL.
# CALLPATH_TEST_STORES=sqlite make test skips PostgreSQL entirely.
test: venv snippet chromium nginx audio lint
	@if [ "$${CALLPATH_TEST_STORES:-sqlite,postgresql}" != sqlite ]; then \
	  url="$$(scripts/ensure-postgres.sh)" || exit 1; export CALLPATH_TEST_PG_URL="$$url"; \
	fi; \
	$(BIN)/pytest

bench: venv snippet chromium wrk
	@url="$$(scripts/ensure-postgres.sh)" && export CALLPATH_BENCH_PG_URL="$$url"; \
	$(PY) -m bench

# Screenshots of every dashboard page at 1440x900 and 390x844, in Japanese and English, from
# a throw-away server with demo data (scripts/screenshots.py). SCREENSHOTS names the folder;
# it is not committed.
SCREENSHOTS ?= screenshots
screenshots: venv chromium
	$(PY) scripts/screenshots.py $(SCREENSHOTS)

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .mypy_cache .ruff_cache
