"""A correct answer never fails out of kernel, whatever cell magic runs it (the kernel runs `%%time`, `%%capture`
and `%%prun` bodies as plain code, so the probe process and the source-reading checks must too)."""

from __future__ import annotations

import pytest

from grading import integrity, manifest, submissions

UNIT = "01_derivatives"


@pytest.mark.slow
@pytest.mark.parametrize("magic", ["%%time", "%%capture captured", "%%prun -q"])
def test_solutions_under_a_cell_magic_pass_every_probe(tmp_path, magic) -> None:
    entry = manifest.unit(UNIT)
    answers = {grade_id: f"{magic}\n{source}" for grade_id, source in submissions.solution_cells(entry).items()}
    path = submissions.write(submissions.fill(submissions.release(entry), answers), tmp_path / "nb.ipynb")
    verdicts = integrity.check(UNIT, "ada", path, sandboxed=False, secret=b"k" * 32)
    failed = {g: v.message for g, v in verdicts.items() if not v.passed}
    assert not failed, failed
