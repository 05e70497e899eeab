"""Unit 07: a correct answer never fails, whatever it warns or prints; an unstable one still loses its points.

The stability tests of unit 07 turn NumPy's overflow, invalid-operation and divide-by-zero (raised, or reported as
NumPy's RuntimeWarning) into errors, and nothing else, in the kernel (visible and hidden tests) and in the grader's
sandboxed drivers: a correct logsumexp, softmax, smoothed cross-entropy or logistic gradient that emits a
UserWarning, a DeprecationWarning (a deprecated but working NumPy call), a RuntimeWarning of its own about
something else, or prints, or whose notebook turns every warning into an error, keeps every point when nbgrader
grades it, while the known-wrong answers of `source/07_loss_gradients/loss_gradients.py` (the unstable textbook
formulas first of all), with or without a warning of their own, still lose theirs.
"""

from __future__ import annotations

import pytest

from grading import manifest, submissions, workspace

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("unit07_correct_answers")]

UNIT = "07_loss_gradients"
LSE = f"{UNIT}-logsumexp"
SOFTMAX = f"{UNIT}-stable_softmax"
CE_GRAD = f"{UNIT}-smoothed_cross_entropy_grad"
LOGISTIC = f"{UNIT}-logistic_grad"
STABILITY = (LSE, SOFTMAX, CE_GRAD, LOGISTIC)

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


def smoothed_cross_entropy_grad(Z, y, s):
    warnings.warn("smoothed_cross_entropy_grad: targets converted to one-hot rows")
    N, K = Z.shape
    Y = np.asarray(y, dtype=float) if np.ndim(y) == 2 else np.eye(K)[y]
    return (stable_softmax(Z) - ((1 - s) * Y + s / K)) / N
'''},
    # A RuntimeWarning of the answer's own, about something else than a floating-point error, and a UserWarning.
    "logistic-runtimewarning-and-userwarning": {f"{LOGISTIC}-solution": '''import warnings


def logistic_grad(z, y):
    warnings.warn("logistic_grad: a slow path for a small batch", RuntimeWarning)
    warnings.warn("logistic_grad: soft labels accepted")
    small = np.exp(-np.abs(z))
    sigma = np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small))
    return (sigma - y) / len(z)
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


def smoothed_cross_entropy_grad(Z, y, s):
    warnings.warn("smoothed_cross_entropy_grad will take labels= instead of y", PendingDeprecationWarning)
    print("cross-entropy gradient of a batch of shape", Z.shape)
    N, K = Z.shape
    Y = np.asarray(y, dtype=float) if np.ndim(y) == 2 else np.eye(K)[y]
    return (stable_softmax(Z) - (1 - s) * Y - s / K) / N
''',
        f"{LOGISTIC}-solution": '''import warnings


def logistic_grad(z, y):
    warnings.warn("logistic_grad(z, y) will move to a module of its own", DeprecationWarning)
    print("logistic gradient of", len(z), "logits")
    sigma = np.exp(np.minimum(z, 0.0)) / (1.0 + np.exp(-np.abs(z)))
    return (sigma - y) / z.shape[0]
''',
    },
    # The learner turned every warning into an error in their notebook; the grader's checks still ignore warnings
    # that are not floating-point errors.
    "notebook-warnings-are-errors": {
        f"{LSE}-solution": '''import warnings

warnings.simplefilter("error")


def logsumexp(Z):
    warnings.warn("logsumexp: max-shift", DeprecationWarning)
    row_max = np.max(Z, axis=1, keepdims=True)
    return row_max[:, 0] + np.log(np.sum(np.exp(Z - row_max), axis=1))
''',
        f"{LOGISTIC}-solution": '''import warnings


def logistic_grad(z, y):
    warnings.warn("logistic_grad: stable sigmoid", UserWarning)
    sigma = np.exp(np.minimum(z, 0.0)) / (1.0 + np.exp(-np.abs(z)))
    return (sigma - y) / z.shape[0]
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
    "ce-naive-print": (CE_GRAD, '''def smoothed_cross_entropy_grad(Z, y, s):
    print("the textbook formula")
    N, K = Z.shape
    Y = y if np.ndim(y) == 2 else np.eye(K)[y]
    E = np.exp(Z)
    return (E / E.sum(axis=1, keepdims=True) - (1 - s) * Y - s / K) / N
'''),
    "logistic-naive-userwarning": (LOGISTIC, '''import warnings


def logistic_grad(z, y):
    warnings.warn("the textbook sigmoid")
    return (1.0 / (1.0 + np.exp(-z)) - y) / len(z)
'''),
    # NumPy told to warn instead of raising: its RuntimeWarning about the overflow still fails the answer.
    "logistic-naive-numpy-warns": (LOGISTIC, '''def logistic_grad(z, y):
    with np.errstate(over="warn"):
        return (1.0 / (1.0 + np.exp(-z)) - y) / len(z)
'''),
}


@pytest.fixture(scope="session")
def graded(tmp_path_factory) -> tuple[dict, dict[str, str]]:
    """One nbgrader run over the correct variants, every known-wrong answer of the stability exercises, and
    the unstable answers with a warning; returns the scores and, for each wrong student, its exercise."""
    entry = manifest.unit(UNIT)
    right = submissions.solution_cells(entry)
    release = submissions.release(entry)
    students = {name: submissions.fill(release, {**right, **answers}) for name, answers in CORRECT.items()}
    targets = {}
    for solution_id, sources in submissions.wrong_answers(entry).items():
        if solution_id.removesuffix("-solution") not in STABILITY:
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


@pytest.fixture(scope="session")
def probed(tmp_path_factory) -> dict:
    """The out-of-kernel checks: one sandboxed probe process over the solved notebook, each correct variant and
    each unstable answer with a warning run as a prelude (in the probe's own child) before its exercise's driver."""
    from grading import integrity

    entry = manifest.unit(UNIT)
    path = submissions.write(submissions.solved(entry), tmp_path_factory.mktemp("solved") / "nb.ipynb")
    trials = []
    for name, answers in CORRECT.items():
        prelude = "\n\n".join(answers.values())
        trials += [{"key": f"{name}:{solution_id.removesuffix('-solution')}", "student": "ada", "prelude": prelude,
                    "grade_id": solution_id.removesuffix("-solution")} for solution_id in answers]
    trials += [{"key": name, "grade_id": grade_id, "student": "ada", "prelude": source}
               for name, (grade_id, source) in UNSTABLE_AND_WARNING.items()]
    results, _ = integrity.check_many(UNIT, path, trials)
    return results


def test_out_of_kernel_a_correct_answer_that_warns_or_prints_passes_its_probe(probed) -> None:
    failed = {key: verdict.message for key, verdict in probed.items()
              if key not in UNSTABLE_AND_WARNING and not verdict.passed}
    assert failed == {}, f"a correct answer failed the out-of-kernel check: {failed}"


def test_out_of_kernel_an_unstable_answer_with_a_warning_fails_its_probe(probed) -> None:
    passed = [name for name in UNSTABLE_AND_WARNING if probed[name].passed]
    assert passed == [], f"these unstable answers passed the out-of-kernel check: {passed}"
