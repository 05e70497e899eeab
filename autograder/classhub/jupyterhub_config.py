"""JupyterHub's configuration for a class: `python -m classhub start` runs the hub with it.

Everything specific to a class (ports, users, folders) comes from the class folder's `settings.json`, named by
$CALCML_CLASS_SETTINGS. Real Unix accounts log in with PAM; each gets a JupyterLab server running as that
account (LocalProcessSpawner) from the course's venv, in their home, with the Jupyter settings of their role:
students the Assignment List and Validate, the instructor formgrader in their own server.
"""

import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 -- provided by traitlets when it loads this file

settings = json.loads(Path(os.environ["CALCML_CLASS_SETTINGS"]).read_text(encoding="utf-8"))
HUB = Path(settings["hub_dir"])
groups = settings["groups"]

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = settings["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [settings["proxy"]]
c.ConfigurableHTTPProxy.pid_file = str(HUB / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{HUB / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(HUB / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(HUB / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user's server

# Real accounts, real passwords; no admin (an admin could open anyone's server).
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False  # no login session bookkeeping (fails in containers, not needed)
c.Authenticator.allowed_users = {settings["instructor"], *settings["students"]}
c.Authenticator.admin_users = set()

# nbgrader's groups: students in nbgrader-<course> (the course their Assignment List offers), the instructor
# in formgrade-<course>. The hub makes them, and resets their members to the roster at every start.
c.JupyterHub.load_groups = {
    groups["student"]: {"users": list(settings["students"])},
    groups["instructor"]: {"users": [settings["instructor"]]},
}
# nbgrader's JupyterHubAuthPlugin reads the user's groups with the server's own token (nbgrader #1533):
# the token may read its owner's model and groups, and nothing else of anyone.
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", "read:users:name!user",
                                 "read:users:groups!user"]

c.Spawner.cmd = [str(Path(settings["venv"]) / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.http_timeout = 180  # a busy two-core server may take a while to start JupyterLab
c.Spawner.start_timeout = 180
# A clean environment: no PYTHONPATH or JUPYTER_* variables of whoever started the hub reach the users.
c.Spawner.env_keep = ["LANG", "LC_ALL", "TZ"]
c.Spawner.environment = {"PATH": f"{Path(settings['venv']) / 'bin'}:/usr/local/bin:/usr/bin:/bin"}


def role_settings(spawner) -> None:
    """Each user's Jupyter settings folder (root's, so they cannot change it there): instructor or student."""
    role = "instructor" if spawner.user.name == settings["instructor"] else "student"
    spawner.environment["JUPYTER_CONFIG_DIR"] = str(Path(settings["jupyter_dir"]) / role)


c.Spawner.pre_spawn_hook = role_settings
