"""The learner's experience in a real browser: JupyterLab in Debian's Chromium, driven by Playwright."""
