# Two commands (README): `make demo` runs the whole loop on built-in data, `make test` runs the tests.
# Both create the virtual environment on first use from the pinned versions in constraints.txt.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test env
env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/edgeaffect demo

# Two pytest-xdist workers, one per core of a 2-core machine; a file's tests stay on one worker, the
# slow ones start first (tests/conftest.py says how the suite is grouped).
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile
