# mailflow: `make demo` and `make test` work on a fresh machine with python3.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mailflow demo

# The IMAP tests run a real Dovecot (tests/dovecot_server.py) and the report test renders its HTML
# in headless Chromium; as root, install what is missing. The tests run in as many processes as
# there are cores (at most 4): most of a test's time is spent waiting on Dovecot, SMTP, PostgreSQL
# or a child process, and every test has its own ports, directories and schema.
test: $(STAMP)
	@missing=""; \
	if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then missing="dovecot-imapd"; fi; \
	if ! command -v chromium >/dev/null 2>&1; then missing="$$missing chromium fonts-wqy-microhei"; fi; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
		echo "installing$$missing for the tests"; \
		apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4

bench: $(STAMP)
	@if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ] && [ "$$(id -u)" = 0 ]; then \
		echo "installing dovecot-imapd for the IMAP benchmarks"; \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; \
	fi
	@status=0; \
	for b in ingest imap memory latency; do $(BIN)/python bench/$$b.py || status=1; done; \
	echo; $(BIN)/python bench/report.py || true; \
	exit $$status

clean:
	rm -rf var/demo .pytest_cache
