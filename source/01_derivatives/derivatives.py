# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Title

# %% nbgrader={"grade": false, "grade_id": "01_derivatives-central_difference-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def f(x):
    ### BEGIN SOLUTION
    return x
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "01_derivatives-central_difference", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert f(1) == 1
### BEGIN HIDDEN TESTS
assert f(2) == 2
### END HIDDEN TESTS
