"""Shared pytest setup for the calcml tests."""

import matplotlib

# Draw off screen: tests never open windows, and they run the same on a headless CI machine.
matplotlib.use("Agg")
