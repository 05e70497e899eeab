"""Unit 07: a correct answer never fails, whatever it warns or prints; an unstable one still loses its points.

The stability tests of unit 07 turn NumPy's overflow, invalid-operation and divide-by-zero into errors, and
nothing else: a correct logsumexp, softmax or cross-entropy gradient that emits a UserWarning, a
DeprecationWarning (a deprecated but working NumPy call) or prints keeps every point when nbgrader grades it,
while the known-wrong answers of `source/07_loss_gradients/loss_gradients.py` (the unstable textbook formulas
first of all), with or without a warning of their own, still lose theirs.
"""

from __future__ import annotations

import pytest

from grading import manifest, submissions, workspace

pytestmark = pytest.mark.slow

UNIT = "07_loss_gradients"
LSE = f"{UNIT}-logsumexp"
SOFTMAX = f"{UNIT}-stable_softmax"
CE_GRAD = f"{UNIT}-softmax_cross_entropy_grad"

#: Correct answers that warn or print, by name: {solution grade_id: source}.
CORRECT = {
    "lse-userwarning": {f"{LSE}-solution": '''import warnings


def logsumexp(Z):
    warnings.warn("logsumexp: using the max-shift trick")
    row_max = np.max(Z, axis=1, keepdims=True)
    return row_max[:, 0] + np.log(np.sum(np.exp(Z - row_max), axis=1))
'''},
    "softmax-userwarning": {f"{SOFTMAX}-solution": '''import warnings


def stable_softmax(Z):
    warnings.warn("stable_softmax: subtracting the row maxima", UserWarning)
    shifted_exp = np.exp(Z - np.max(Z, axis=1, keepdims=True))
    return shifted_exp / np.sum(shifted_exp, axis=1, keepdims=True)
'''},
    "ce-userwarning": {f"{CE_GRAD}-solution": '''import warnings


def softmax_cross_entropy_grad(Z, y):
    warnings.warn("softmax_cross_entropy_grad: targets converted to one-hot rows")
    N, K = Z.shape
    Y = np.asarray(y, dtype=float) if np.ndim(y) == 2 else np.eye(K)[y]
    return (stable_softmax(Z) - Y) / N
'''},
    # np.row_stack works but is deprecated in NumPy 2 (a DeprecationWarning); the cross-entropy tests call it too.
    "softmax-numpy-deprecation": {f"{SOFTMAX}-solution": '''import warnings


def stable_softmax(Z):
    rows = [np.exp(z - np.max(z)) / np.sum(np.exp(z - np.max(z))) for z in Z]
    if hasattr(np, "row_stack"):
        return np.row_stack(rows)
    warnings.warn("np.row_stack is gone; np.vstack it is", DeprecationWarning)
    return np.vstack(rows)
'''},
    "all-deprecation-and-print": {
        f"{LSE}-solution": '''import warnings


def logsumexp(Z):
    warnings.warn("logsumexp(Z) will move to a module of its own", DeprecationWarning)
    print("logsumexp of a batch of shape", Z.shape)
    row_max = np.max(Z, axis=1, keepdims=True)
    return row_max[:, 0] + np.log(np.sum(np.exp(Z - row_max), axis=1))
''',
        f"{SOFTMAX}-solution": '''import warnings


def stable_softmax(Z):
    warnings.warn("stable_softmax(Z) will move to a module of its own", FutureWarning)
    print("softmax of a batch of shape", Z.shape)
    return np.exp(Z - logsumexp(Z)[:, None])
''',
        f"{CE_GRAD}-solution": '''import warnings


def softmax_cross_entropy_grad(Z, y):
    warnings.warn("softmax_cross_entropy_grad will take labels= instead of y", PendingDeprecationWarning)
    print("cross-entropy gradient of a batch of shape", Z.shape)
    N, K = Z.shape
    Y = np.asarray(y, dtype=float) if np.ndim(y) == 2 else np.eye(K)[y]
    return (stable_softmax(Z) - Y) / N
''',
    },
}

#: Unstable answers that also emit an unrelated warning: the warning must not change their fate.
UNSTABLE_AND_WARNING = {
    "lse-naive-userwarning": (LSE, '''import warnings


def logsumexp(Z):
    warnings.warn("the textbook formula")
    return np.log(np.sum(np.exp(Z), axis=1))
'''),
    "softmax-naive-deprecation": (SOFTMAX, '''import warnings


def stable_softmax(Z):
    warnings.warn("the textbook formula", DeprecationWarning)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)
'''),
    "ce-naive-print": (CE_GRAD, '''def softmax_cross_entropy_grad(Z, y):
    print("the textbook formula")
    N, K = Z.shape
    Y = y if np.ndim(y) == 2 else np.eye(K)[y]
    E = np.exp(Z)
    return (E / E.sum(axis=1, keepdims=True) - Y) / N
'''),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> tuple[dict, dict[str, str]]:
    """One nbgrader run over the correct variants, every known-wrong answer of the stability exercises, and
    the unstable answers with a warning; returns the scores and, for each wrong student, its exercise."""
    entry = manifest.unit(UNIT)
    right = submissions.solution_cells(entry)
    release = submissions.release(entry)
    students = {name: submissions.fill(release, {**right, **answers}) for name, answers in CORRECT.items()}
    targets = {}
    for solution_id, sources in submissions.wrong_answers(entry).items():
        if solution_id.removesuffix("-solution") not in (LSE, SOFTMAX, CE_GRAD):
            continue  # test_grading.py covers the others; these are the ones the stability tests concern
        for k, source in enumerate(sources):
            name = f"wrong-{solution_id.removesuffix('-solution').split('-', 1)[1]}-{k}"
            students[name] = submissions.fill(release, {**right, solution_id: source})
            targets[name] = solution_id.removesuffix("-solution")
    for name, (grade_id, source) in UNSTABLE_AND_WARNING.items():
        students[name] = submissions.fill(release, {**right, f"{grade_id}-solution": source})
        targets[name] = grade_id
    scores = workspace.autograde(workspace.create(tmp_path_factory.mktemp("course") / "course"), UNIT, students)
    return scores, targets


@pytest.mark.parametrize("variant", sorted(CORRECT))
def test_a_correct_answer_that_warns_or_prints_keeps_full_marks(graded, variant) -> None:
    scores, _ = graded
    full = {exercise["grade_id"]: exercise["points"] for exercise in manifest.unit(UNIT)["exercises"]}
    lost = {grade_id: (scores[variant][grade_id], points) for grade_id, points in full.items()
            if scores[variant][grade_id] != points}
    assert not lost, f"{variant}: a correct answer lost points (score, out of): {lost}"


def test_unstable_and_other_wrong_answers_still_lose_their_points(graded) -> None:
    scores, targets = graded
    assert {name for name, grade_id in targets.items() if grade_id == LSE} >= {"wrong-logsumexp-0",
                                                                                "lse-naive-userwarning"}
    kept = {name: grade_id for name, grade_id in targets.items() if scores[name][grade_id] > 0}
    assert not kept, f"these wrong answers kept their points: {kept}"
