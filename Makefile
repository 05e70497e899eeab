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
#   make class      as root on Debian: start a JupyterHub for a class on localhost (README "A class on a hub")
#   make class-stop stop it (hub, proxy, every user's server); accounts, submissions and gradebook stay
#   make release-feedback  after make feedback, hand it to the students through the exchange: make release-feedback A=01_derivatives
#   make bench      time our grader against plain nbgrader (prints figures; not a test) [BENCH_ARGS="--students 30"]
#   make student-dist  build dist/student/: what a graded class hands out (no source/, no grader) [DIST=folder]

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/autograder

# Debian packages the tests need: bubblewrap sandboxes student kernels, chromium drives the browser tests.
SYSTEM_PACKAGES := bubblewrap chromium

.PHONY: setup system-packages lab formgrader test check release pages samples grade feedback export bench clean \
	class class-stop release-feedback

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

# The tests make throwaway gradebooks of their own: an instructor's CALCML_DB_URL must never reach them.
test: setup system-packages
	env -u CALCML_DB_URL $(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

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

# The student-facing distribution (release/, course/, lib/, environment.yml, .jupyter/, a student README).
.PHONY: student-dist
student-dist: setup
	$(BIN)/python -m grading.student_dist $(DIST)

# The class hub (README "A class on a hub"): a venv of its own under CLASS_OPT, from Debian's python3, since the
# course venv's Python may sit where other accounts cannot reach (pyenv under /root); it holds the course from
# the student distribution (CLASS_OPT/student, leak-checked; students never read the checkout), with `hub`. configurable-http-proxy comes from npm
# into CLASS_OPT/proxy; accounts come from ROSTER; the class folder is CLASS_ROOT (autograder/classhub/).
ROSTER ?= autograder/classhub/roster.example
CLASS_ROOT ?= /srv/calcml-class
CLASS_PORT ?= 8000
CLASS_OPT ?= /opt/calcml-class
CLASS_PYTHON ?= /usr/bin/python3
CLASS_VENV := $(CLASS_OPT)/venv

$(CLASS_VENV)/.installed: lib/pyproject.toml $(wildcard lib/calcml/*.py lib/calcml/*/*.py)
	test -x $(CLASS_VENV)/bin/python || $(CLASS_PYTHON) -m venv $(CLASS_VENV)
	$(BIN)/python -m grading.student_dist $(CLASS_OPT)/student
	$(CLASS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CLASS_VENV)/bin/python -m pip install --quiet "$(CLASS_OPT)/student/lib[course,hub]"
	touch $@

class: setup $(CLASS_VENV)/.installed
	$(BIN)/python -m classhub start --roster "$(ROSTER)" --root "$(CLASS_ROOT)" --port $(CLASS_PORT) \
		--venv "$(CLASS_VENV)" --proxy-prefix "$(CLASS_OPT)/proxy"

class-stop:
	$(BIN)/python -m classhub stop --root "$(CLASS_ROOT)"

# After make grade and make feedback: nbgrader's release_feedback puts each student's feedback in the exchange
# (named by their submission's secret, which make grade keeps beside it), for the Assignment List's Fetch Feedback;
# a student whose submission did not come through the exchange is left out and named.
release-feedback: setup
	$(BIN)/python -m grading.feedback --release "$(A)"

clean:
	rm -rf autograder/submitted autograder/autograded autograder/feedback autograder/gradebook.db artifacts \
		autograder/grades.csv autograder/report
