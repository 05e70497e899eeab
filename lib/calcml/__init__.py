"""calcml: the shared helpers of the course *Calculus for Machine Learning*.

Import modules qualified, so a reader always sees where a helper lives::

    from calcml import numdiff, checks
    numdiff.gradient(f, x)
"""

__version__ = "0.1.0"
