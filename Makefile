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

# The IMAP tests run a real Dovecot (tests/dovecot_server.py); as root, install it when missing.
test: $(STAMP)
	@if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ] && [ "$$(id -u)" = 0 ]; then \
		echo "installing dovecot-imapd for the IMAP tests"; \
		apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; \
	fi
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@status=0; \
	$(BIN)/python bench/ingest.py || status=1; \
	$(BIN)/python bench/memory.py || status=1; \
	$(BIN)/python bench/latency.py || status=1; \
	exit $$status

clean:
	rm -rf var/demo .pytest_cache
