"""nbgrader preprocessors that the course adds to the autograde pipeline."""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode


class StderrIsNotFailure(Preprocessor):
    """Turn stderr output of test cells into stdout, so a warning does not cost a correct answer its points.

    nbgrader scores a test cell 0 when it wrote anything to stderr, which punishes answers that trigger a
    harmless `RuntimeWarning` or print a log line. A failed test always raises, and raising produces an
    `error` output, which this preprocessor leaves alone. The text stays visible in the feedback.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], index: int):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                output["name"] = "stdout"
        return cell, resources
