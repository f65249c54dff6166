# WhoKnows: `make run` serves the demo intranet, `make test` runs the whole suite. Both set up everything.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
WK := $(VENV)/bin/whoknows
STAMP := $(VENV)/.installed
# dev tools, and the optional integrations and tracing, so `make test` exercises them all
EXTRAS := dev,llamaindex,haystack,otel,ray,postgres
SYSSTAMP := $(VENV)/.system-packages
DEMO_HOME ?= .whoknows
APT_PACKAGES := chromium chromium-driver mediawiki php-cli php-sqlite3 php-xml php-mbstring php-intl wrk faketime postgresql

.PHONY: install system-packages run demo-ingest test test-fast lint eval bench clean

install: $(STAMP)

# torch goes first and pinned: the CPU wheel lies on disk, an unpinned torch pulls a CUDA build.
# The ray and postgres extras are optional for users; the tests exercise both, so they come along.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	@touch $(STAMP)

# Chromium drives the browser tests, MediaWiki and PHP serve the live wiki connector test, PostgreSQL
# the shared state store's tests (started by the tests themselves, in a temp folder).
system-packages: $(SYSSTAMP)

$(SYSSTAMP): | $(STAMP)
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		echo "installing system packages: $(APT_PACKAGES)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi
	@touch $(SYSSTAMP)

demo-ingest: $(STAMP)
	$(WK) --home $(DEMO_HOME) ingest --config demo/sources.toml

# Signed out, the demo shows its three public pages; this token signs in as a staff member (made once).
DEMO_TOKEN := $(DEMO_HOME)/demo-token.txt
$(DEMO_TOKEN): | demo-ingest
	$(WK) --home $(DEMO_HOME) tokens create --user ana.alvarez --groups staff --scopes search,ask,experts > $@.tmp
	@mv $@.tmp $@

run: demo-ingest $(DEMO_TOKEN)
	@echo "Signed out you see the demo's public pages. To search as Ana Alvarez (group staff), paste this token"
	@echo "into the page's 'API token' box, or curl -H \"Authorization: Bearer <token>\": $$(cat $(DEMO_TOKEN))"
	# The demo lets anonymous visitors see its public pages; a real install leaves anonymous off (the default).
	WHOKNOWS_ANONYMOUS=true $(WK) --home $(DEMO_HOME) serve --host 127.0.0.1 --port 8000

test: $(STAMP) $(SYSSTAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not browser"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

eval: $(STAMP)
	$(PY) -m eval.report

bench: $(STAMP)
	$(PY) -m eval.bench

clean:
	rm -rf $(VENV) .whoknows .pytest_cache .mypy_cache .ruff_cache
