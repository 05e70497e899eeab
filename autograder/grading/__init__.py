"""The course's tooling around nbgrader: the units manifest, the source -> release build, and grading."""
