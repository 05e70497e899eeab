"""deploy/ (Zero to JupyterHub): its YAML parses, its parts agree with each other and with the course, and every
file its Dockerfiles copy exists. Nothing here runs a cluster or builds an image (deploy/README.md)."""

from __future__ import annotations

import json
import py_compile
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from grading import manifest, student_dist

ROOT = manifest.ROOT
DEPLOY = ROOT / "deploy"
COURSE = manifest.load()["course_id"]
DOCKERFILES = [DEPLOY / "Dockerfile", DEPLOY / "nbexchange" / "Dockerfile"]


def documents(path: Path) -> list:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


@pytest.fixture(scope="module")
def values() -> dict:
    (config,) = documents(DEPLOY / "config.yaml")
    return config


@pytest.fixture(scope="module")
def exchange() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in documents(DEPLOY / "nbexchange.yaml")}


def test_every_yaml_and_json_file_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert {f.name for f in files} >= {"config.yaml", "nbexchange.yaml"}
    for path in files:
        assert documents(path), path
    settings = sorted(DEPLOY.rglob("*.json"))
    assert len(settings) == 2
    for path in settings:
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict), path


def test_the_helm_values_use_the_chart_s_top_level_sections(values) -> None:
    assert set(values) <= {"hub", "proxy", "singleuser", "cull", "scheduling", "prePuller", "ingress", "debug",
                           "rbac", "global", "custom", "imagePullSecret", "imagePullSecrets"}
    assert values["singleuser"]["image"]["name"] and values["singleuser"]["image"]["tag"]


def test_the_hub_the_exchange_and_the_course_agree(values, exchange) -> None:
    hub = values["hub"]
    service = hub["services"]["nbexchange"]
    port = exchange["Service"]["spec"]["ports"][0]["port"]
    name = exchange["Service"]["metadata"]["name"]
    assert service["url"] == f"http://{name}:{port}"
    assert values["singleuser"]["extraEnv"]["NAAS_BASE_URL"] == f"http://{name}:{port}"
    assert values["singleuser"]["extraEnv"]["NAAS_COURSE_ID"] == COURSE
    labels = exchange["Deployment"]["spec"]["template"]["metadata"]["labels"]
    (rule,) = values["singleuser"]["networkPolicy"]["egress"]
    assert rule["to"][0]["podSelector"]["matchLabels"].items() <= labels.items()
    assert rule["ports"][0]["port"] == exchange["Deployment"]["spec"]["template"]["spec"]["containers"][0][
        "ports"][0]["containerPort"] == port
    env = {e["name"]: e for e in exchange["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CALCML_COURSE_ID"]["value"] == COURSE
    # The chart generates the service's token and keeps it in its Secret `hub` under this key.
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hub",
                                                                       "key": "hub.services.nbexchange.apiToken"}
    config = hub["config"]["JupyterHub"]
    assert set(config["load_groups"]) == {f"formgrade-{COURSE}", f"nbgrader-{COURSE}"}
    assert "load_roles" not in config, "the chart sets load_roles from hub.loadRoles"
    role = hub["loadRoles"]["nbexchange"]
    assert role["services"] == ["nbexchange"] and "read:users:groups" in role["scopes"]
    assert values["singleuser"]["cmd"] is None, "Docker Stacks images start through start.sh (before-notebook.d)"
    handler = (DEPLOY / "nbexchange" / "calcml_user_handler.py").read_text(encoding="utf-8")
    assert 'f"formgrade-{self.course_id}"' in handler and 'f"nbgrader-{self.course_id}"' in handler
    assert "formgrade-calcml" in hub["extraConfig"]["calcml-roles"]
    assert f'course_id = "{COURSE}"' in (DEPLOY / "singleuser" / "nbgrader_config.py").read_text(encoding="utf-8")


def copied_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if line.startswith(("COPY ", "ADD ")):
            parts = [p for p in line.split()[1:] if not p.startswith("--")]
            sources += parts[:-1]
    return sources


def test_every_file_the_dockerfiles_copy_exists(tmp_path) -> None:
    dist = student_dist.build(tmp_path / "student", check=False)
    for dockerfile in DOCKERFILES:
        sources = copied_sources(dockerfile)
        assert sources, dockerfile
        for source in sources:
            prefix = "dist/student"
            path = dist / source[len(prefix):].lstrip("/") if source.startswith(prefix) else ROOT / source
            assert path.exists(), f"{dockerfile.relative_to(ROOT)} copies {source}, which does not exist"
    assert "dist/student" in copied_sources(DEPLOY / "Dockerfile")
    assert not [s for d in DOCKERFILES for s in copied_sources(d) if s.split("/")[0] in ("source", "autograder")]
    refs = {re.search(r"ARG NBEXCHANGE_REF=(\w+)", d.read_text(encoding="utf-8")).group(1) for d in DOCKERFILES}
    assert len(refs) == 1, "the plugin and the service must be the same nbexchange"


def test_the_python_files_compile_and_the_scripts_parse(tmp_path) -> None:
    for path in sorted(DEPLOY.rglob("*.py")):
        py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)
    for script in (DEPLOY / "singleuser" / "calcml-start.sh", DEPLOY / "singleuser" / "calcml-exchange"):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_the_exchange_user_handler_gives_roles_from_the_hub_groups(monkeypatch) -> None:
    """The handler's own logic, with the hub and nbexchange stubbed (neither runs here): the user's token names the
    user, the service's token reads their groups, and the groups give the role; anyone else gets no access."""
    import importlib.util
    import sys
    import types

    groups = {"ta": ["formgrade-calcml"], "ada": ["nbgrader-calcml"], "eve": ["other"]}
    tokens = {"t-ta": "ta", "t-ada": "ada", "t-eve": "eve"}

    class HubAuth:
        api_url, api_token = "http://hub:8081/hub/api", "service-token"

        def user_for_token(self, token, sync=True):
            return {"name": tokens[token]} if token in tokens else None

    class Response:
        def __init__(self, payload):
            self.payload = payload

        def raise_for_status(self):
            pass

        def json(self):
            return self.payload

    def get(url, headers, timeout):
        assert headers == {"Authorization": "token service-token"}
        return Response({"name": url.rsplit("/", 1)[1], "groups": groups[url.rsplit("/", 1)[1]]})

    stubs = {"jupyterhub": types.ModuleType("jupyterhub"), "jupyterhub.services": types.ModuleType("s"),
             "jupyterhub.services.auth": types.SimpleNamespace(HubAuth=HubAuth),
             "nbexchange": types.ModuleType("n"), "nbexchange.handlers": types.ModuleType("h"),
             "nbexchange.handlers.auth": types.ModuleType("a"),
             "nbexchange.handlers.auth.user_handler": types.SimpleNamespace(BaseUserHandler=object),
             "requests": types.SimpleNamespace(get=get)}
    for name, module in stubs.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("calcml_user_handler",
                                                  DEPLOY / "nbexchange" / "calcml_user_handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = module.CalcmlUserHandler()

    def request(cookie=None, header=""):
        return types.SimpleNamespace(request=types.SimpleNamespace(headers={"Authorization": header} if header else {}),
                                     get_cookie=lambda name: cookie if name == module.COOKIE else None)

    assert handler.get_current_user(request("t-ta"))["course_role"] == "Instructor"
    student = handler.get_current_user(request(header="token t-ada"))
    assert (student["name"], student["course_role"], student["course_id"]) == ("ada", "Student", COURSE)
    assert handler.get_current_user(request("t-eve")) is None
    assert handler.get_current_user(request("forged")) is None
    assert handler.get_current_user(request()) is None
