"""What a call of the student's function did, as a hidden check's driver reports it: it returned, or it raised.

`DRIVER` is driver source defining `outcome(fn, *args)`, which calls `fn` and reports plain data: `{"returned":
value}`, or `{"raised": names}` with the names of the exception's class and of all its bases (so that a subclass of
ValueError counts as a ValueError, without the verifier ever holding the student's class). `instead_of_raising`
reads such a report in `verify`, when the contract asks for an exception.
"""

from __future__ import annotations

from typing import Any

#: Driver source: `outcome(fn, *args)`, `{"returned": fn(*args)}` or `{"raised": [class name, base names...]}`.
DRIVER = """
def outcome(fn, *args):
    try:
        returned = fn(*args)
    except Exception as error:
        return {"raised": [kind.__name__ for kind in type(error).__mro__]}
    return {"returned": returned}
"""


def instead_of_raising(report: Any, kind: str = "ValueError") -> str | None:
    """What the call did instead of raising `kind`, or None when it did raise it (or a subclass of it).

    Args:
        report: What `outcome` reported, after the JSON crossing (or anything else a broken driver gave).
        kind: The name of the exception class the contract asks for.

    Returns:
        None, or the words to follow the call in a message: "returned [0.0, 0.0]" (the value cut to 60
        characters), "raised TypeError" or "gave no answer".
    """
    raised = report.get("raised") if isinstance(report, dict) else None
    if isinstance(raised, list) and kind in raised:
        return None
    return (f"returned {str(report.get('returned'))[:60]}" if isinstance(report, dict) and "returned" in report
            else f"raised {raised[0]}" if isinstance(raised, list) and raised else "gave no answer")
