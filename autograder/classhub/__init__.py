"""A class on one server: JupyterHub, real Unix accounts, nbgrader's exchange and formgrader (`make class`).

- `roster`: the class list (one instructor, the students), checked whole before anything is created;
- `accounts`: the Unix accounts and groups, their passwords (kept in a root-only file), running as a user;
- `layout`: the class folder (exchange, the students' and the instructor's Jupyter settings, the hub's state)
  and the instructor's own copy of the course;
- `service`: starting and stopping the hub and its proxy; `jupyterhub_config.py` is the hub's configuration.

`python -m classhub start|stop` is what `make class` and `make class-stop` run (`--help` lists the options).
"""
