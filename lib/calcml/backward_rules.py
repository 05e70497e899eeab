"""Correct backward rules for the `Tensor` engine of unit 08, as driver source for its hidden checks.

Unit 08's engine looks each op's backward rule up in a table that `using_rules(**rules)` replaces for a while; a
rule is `rule(inputs, out, upstream)` and returns one gradient per input. The hidden checks of the exercises that
are not about the rules themselves (detach, the version counter, the training loop, the graph cut) run the engine
with `REFERENCE`'s rules, so that a mistake in the student's own rules of Exercise 2 costs no points there.
"""

from __future__ import annotations

#: Driver source binding `REFERENCE`, the rules of mul, tanh and sigmoid (`out` is the op's output): use it as
#: `with using_rules(**REFERENCE): ...`.
REFERENCE = """
import numpy as np

REFERENCE = {"mul": lambda inputs, out, up: (up * inputs[1], up * inputs[0]),
             "tanh": lambda inputs, out, up: (up * (1 - out**2),),
             "sigmoid": lambda inputs, out, up: (up * out * (1 - out),)}
"""
