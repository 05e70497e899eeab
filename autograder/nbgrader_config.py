"""nbgrader configuration for the course. Every path is absolute, so nbgrader can run from any folder.

Instructors run nbgrader through `make` (or with `--config autograder/nbgrader_config.py`); the course
root is the repository, `source/` and `release/` are the top-level folders, and every runtime folder
(submitted, autograded, feedback, the gradebook and the exchange) sits under `autograder/`, ignored by git.
"""

import os
import sys
from pathlib import Path

AUTOGRADER = Path(__file__).resolve().parent
ROOT = AUTOGRADER.parent
sys.path.insert(0, str(AUTOGRADER))

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    Execute,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from grading import manifest  # noqa: E402
from grading.feedback_notebook import HideHiddenTests  # noqa: E402
from grading.preprocessors import StderrIsNotFailure  # noqa: E402

c = get_config()  # noqa: F821 -- provided by traitlets when it loads this file

c.CourseDirectory.course_id = manifest.load()["course_id"]
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "autograder/submitted"
c.CourseDirectory.autograded_directory = "autograder/autograded"
c.CourseDirectory.feedback_directory = "autograder/feedback"
c.CourseDirectory.solution_directory = "autograder/solution"
c.CourseDirectory.source_with_tests_directory = "autograder/source_with_tests"
# The gradebook: SQLite beside this file for one grader; a server database when several graders share it, e.g.
# CALCML_DB_URL=postgresql://grader@dbhost/calcml make grade A=... (README, "A gradebook for several graders").
# Every tool reads it here: make grade/feedback/export, nbgrader's commands and formgrader.
c.CourseDirectory.db_url = os.environ.get("CALCML_DB_URL") or f"sqlite:///{AUTOGRADER / 'gradebook.db'}"
c.Exchange.root = str(AUTOGRADER / "exchange")
# nbgrader collect takes from the exchange only folders owned by the student they name (and on the gradebook's
# roster), never follows a link, bounds depth, files and size before copying, and records the folder's ctime,
# not the student's timestamp.txt, as the submission time (see grading/exchange.py).
c.ExchangeFactory.collect = "grading.exchange.SafeExchangeCollect"
# The jupytext sources (*.py) stay in source/; only the generated notebooks are released.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py",
                            "grading.json", "integrity.json"]  # the grader's status files stay out of feedback



# A cell that runs longer than this is stopped and counts as failed; the whole notebook has its own
# limit in the sandboxed grader.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# nbgrader fails a test cell that writes to stderr; a correct answer that warns must keep its points.
c.Autograde.autograde_preprocessors = [
    Execute,
    StderrIsNotFailure,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Restore test cells a student deleted (they run, and fail when the answer is wrong) rather than skip them.
c.OverwriteCells.add_missing_cells = True

# Feedback is written by the grader (see grading/feedback.py): HideHiddenTests (grading/feedback_notebook.py)
# sanitises the notebook (grading/sanitize.py), cuts the hidden tests (nbgrader #1363) and puts the grader's
# verdict in place of every test cell's output, whatever printed it in the student's kernel. It must stay first.
c.GenerateFeedback.preprocessors = [HideHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
# A further guard for feedback and formgrader: nbconvert drops JavaScript and widget outputs and cleans HTML.
c.HTMLExporter.sanitize_html = True

# nbconvert preprocessors are disabled unless enabled: without this line StderrIsNotFailure never ran.
c.StderrIsNotFailure.enabled = True
