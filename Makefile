# The course's verbs. Each one works from a fresh clone: it creates .venv and installs what it needs first.
#   make lab        open the course in JupyterLab at course/START_HERE.ipynb
#   make test       run every test (lib, notebooks, release sync, grading, browser): CI, and before a commit
#   make check      one unit's checks in about a minute, while editing it: make check UNIT=03_jacobians
#   make release    rebuild release/ from source/ (UNITS="01_derivatives ..." for some units only)
#   make pages      rebuild units.yml's exercise lists, course/syllabus.md and START_HERE.ipynb from the sources
#   make samples    rebuild the sample submissions in autograder/samples/
#   make formgrader open nbgrader's formgrader with the course configuration (manual grading)
#   make grade      autograde a class, sandboxed and in parallel: make grade A=01_derivatives [GRADE_ARGS="--zip class.zip"]
#   make feedback   generate feedback (no hidden tests, no solutions): make feedback A=01_derivatives
#   make export     write autograder/grades.csv and the class reports in autograder/report/
#   make bench      time our grader against plain nbgrader (prints figures; not a test) [BENCH_ARGS="--students 30"]

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/autograder

# Debian packages the tests need: bubblewrap sandboxes student kernels, chromium drives the browser tests.
SYSTEM_PACKAGES := bubblewrap chromium

.PHONY: setup system-packages lab formgrader test check release pages samples grade feedback export bench clean

setup: $(STAMP)

$(STAMP): lib/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e "./lib[course,dev]"
	touch $(STAMP)

# Installs the missing SYSTEM_PACKAGES as root or with password-less sudo; otherwise says what to run.
system-packages:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; \
	  else echo "The tests need these Debian packages:$$missing. Install them with: sudo apt-get install$$missing"; \
	    exit 1; fi; \
	fi

# Jupyter refuses to run as root (containers, CI machines) unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/course/START_HERE.ipynb \
		$(ROOT_FLAG) $(LAB_ARGS)

# Two workers on this course's 2-core reference machine; a unit's tests stay on one worker (see tests/conftest.py).
PYTEST_WORKERS ?= -n auto --dist loadgroup

# nbgrader's formgrader reads nbgrader_config.py from the folder the server starts in: autograder/.
formgrader: setup
	cd autograder && ../$(BIN)/jupyter lab --LabApp.default_url=/formgrader $(ROOT_FLAG) $(LAB_ARGS)

test: setup system-packages
	$(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

check: setup system-packages
	$(BIN)/python -m grading.check_unit "$(UNIT)" $(PYTEST_ARGS)

release: setup
	$(BIN)/python -m grading.release $(UNITS)

pages: setup
	$(BIN)/python -m grading.course_pages

samples: setup
	$(BIN)/python -m grading.samples $(UNITS)

grade: setup
	$(BIN)/python -m grading.grade "$(A)" $(GRADE_ARGS)

feedback: setup
	$(BIN)/python -m grading.feedback "$(A)" $(FEEDBACK_ARGS)

export: setup
	$(BIN)/python -m grading.report

bench: setup
	$(BIN)/python -m grading.bench $(BENCH_ARGS)

clean:
	rm -rf autograder/submitted autograder/autograded autograder/feedback autograder/gradebook.db artifacts \
		autograder/grades.csv autograder/report
