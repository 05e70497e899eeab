"""Out-of-kernel probes, one module per unit: `integrity/NN_topic.py` defines `PROBES: dict[grade_id, Probe]`.

Every graded exercise of `course/units.yml` has a probe (a test checks it). `grading.integrity` runs the
drivers in a fresh sandboxed process on the student's notebook and compares the numbers in the grader's
own process; see that module for the framework and the format of `Probe`.

Writing a probe:

- `inputs(rng)` draws the hidden inputs from a generator seeded per student and exercise, and returns plain
  JSON (lists of floats, ints, strings, dicts): use `grading.integrity.jsonable` on NumPy values.
- `driver` is Python source run in a copy of the student's namespace with `inputs` bound; it calls the
  student's functions and assigns `result`, plain data only. It imports what it needs itself
  (`import numpy as np`), builds any objects the exercise needs (graphs, `Value`s, tensors) from `inputs`,
  and never decides anything: it only reports numbers, booleans and error names.
- `verify(inputs, result)` runs in the grader's process. It rebuilds the same problem from `inputs` with
  its own code, computes references with `calcml.numdiff`, sympy, mpmath or an identity (never with the
  student's code, never with numbers copied from a solution), and raises `calcml.checks.CheckFailure`
  with a teaching message when the result is wrong. `result` is untrusted: it may be missing keys, have
  the wrong shape or hold NaN; `grading.integrity.close` and `checks.assert_close` handle that.
"""
