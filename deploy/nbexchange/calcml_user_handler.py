"""Who is calling the exchange, and in which role: nbexchange's user plugin for this course on JupyterHub.

nbexchange asks its `user_plugin_class` for the caller of every request (`BaseUserHandler.get_current_user`). The
nbgrader plugin in each user's server sends `$NAAS_JWT` as the cookie `noteable_auth`; the single-user image sets
it to the server's own JupyterHub API token (deploy/singleuser/calcml-start.sh). This handler asks the hub whose
token that is, then which groups they are in (with the service's own token, which has `read:users:groups`):
`formgrade-<course>` makes an Instructor (release, collect, release feedback), `nbgrader-<course>` a Student (fetch,
submit, fetch feedback); anyone else gets no access. nbexchange's own `JupyterHubUserHandler` makes everyone an
Instructor, which a class must not use.
"""

import os

import requests
from jupyterhub.services.auth import HubAuth
from nbexchange.handlers.auth.user_handler import BaseUserHandler

COOKIE = "noteable_auth"


class CalcmlUserHandler(BaseUserHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hub_auth = HubAuth()  # JUPYTERHUB_API_URL and JUPYTERHUB_API_TOKEN from the environment
        self.course_id = os.environ.get("CALCML_COURSE_ID", "calcml")

    def _token(self, request):
        header = request.request.headers.get("Authorization", "")
        if header.lower().startswith("token "):
            return header.split(None, 1)[1]
        return request.get_cookie(COOKIE)

    def get_current_user(self, request):
        token = self._token(request)
        if not token:
            return None
        model = self.hub_auth.user_for_token(token, sync=True)
        if not model or not model.get("name"):
            return None
        name = model["name"]
        response = requests.get(f"{self.hub_auth.api_url}/users/{name}", timeout=10,
                                headers={"Authorization": f"token {self.hub_auth.api_token}"})
        response.raise_for_status()
        groups = set(response.json().get("groups") or [])
        if f"formgrade-{self.course_id}" in groups:
            role = "Instructor"
        elif f"nbgrader-{self.course_id}" in groups:
            role = "Student"
        else:
            return None  # not in the class: nbexchange answers 403
        return {"name": name, "full_name": name, "course_id": self.course_id, "course_title": "Calculus for ML",
                "course_role": role, "org_id": 1}
