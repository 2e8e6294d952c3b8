"""The production shape stays consistent with the code: compose.yaml, deploy/Dockerfile and the server configs.

No Docker engine is needed. What can run here does: the settings classes read compose's environment, the
real nats-server checks and serves deploy/nats/nats.conf, the healthcheck script probes a real HTTP server,
and `docker compose config` runs when a compose client is installed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import http.server
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices, TypeAdapter

from services.cli import DEFAULT_PORTS, SERVICES
from shared.devservers import free_port, nats_server_binary, wait_for_port
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SECRETS = {"MCC_TOKEN_SECRET", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}

_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, with a missing required variable an error."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("name"), m.group("op"), m.group("arg")
        have = env.get(name)
        if op in (":-", "-"):
            return have if have or (op == "-" and have is not None) else arg
        if op in (":?", "?") and not have:
            raise KeyError(f"{name}: {arg}")
        return have or ""

    return _INTERPOLATION.sub(one, value)


def required_variables(text: str) -> dict[str, str]:
    """Every ${VAR:?message} in the text: variables compose refuses to run without."""
    return {m.group("name"): m.group("arg") for m in _INTERPOLATION.finditer(text) if m.group("op") in (":?", "?")}


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.config")
    return next(v for v in vars(module).values()
                if isinstance(v, type) and issubclass(v, ServiceSettings) and v.__module__ == module.__name__)


def env_names(cls: type[ServiceSettings]) -> dict[str, str]:
    """Environment variable (upper case) → field, as pydantic-settings reads them."""
    prefix = cls.model_config.get("env_prefix", "")
    names: dict[str, str] = {}
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update({str(choice).upper(): name for choice in alias.choices if isinstance(choice, str)})
        elif isinstance(alias, str):
            names[alias.upper()] = name
        else:
            names[f"{prefix}{name}".upper()] = name
    return names


def compose_env(service: str) -> dict[str, str]:
    dummies = {name: f"dummy-{name.lower()}" for name in SECRETS}
    raw = COMPOSE["services"][service]["environment"]
    return {key: interpolate(str(value), dummies) for key, value in raw.items()}


def bind_mounts(service: str) -> dict[str, str]:
    """Container path → repository path of the service's bind mounts (named volumes left out)."""
    mounts = {}
    for volume in COMPOSE["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = source
    return mounts


# --- compose.yaml --------------------------------------------------------------------------------------


def test_compose_has_the_infrastructure_the_services_and_the_monitoring():
    assert set(COMPOSE["services"]) == {*SERVICES, "postgres", "redis", "nats", "nats-2", "nats-3", "prometheus",
                                        "grafana"}
    assert COMPOSE["services"]["postgres"]["image"].startswith("postgres:16")
    assert COMPOSE["services"]["redis"]["image"].startswith("redis:7")
    major, minor = re.match(r"nats:(\d+)\.(\d+)", COMPOSE["services"]["nats"]["image"]).groups()
    assert (int(major), int(minor)) >= (2, 12)


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_runs_from_the_one_image_with_its_own_name_as_command(service):
    spec = COMPOSE["services"][service]
    assert spec["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
    assert spec["image"] == COMPOSE["services"]["grid"]["image"]
    assert spec["command"] == [service]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_restarts_waits_for_healthy_infrastructure_and_checks_readiness(service):
    spec = COMPOSE["services"][service]
    assert spec["restart"] == "unless-stopped"
    for dependency in ("postgres", "redis", "nats"):
        assert spec["depends_on"][dependency] == {"condition": "service_healthy"}
    assert spec["healthcheck"]["test"] == ["CMD", "python", "/opt/mcc/healthcheck.py", "/readyz"]


def test_intake_also_waits_for_a_healthy_grid_and_finds_it_by_service_name():
    assert COMPOSE["services"]["intake"]["depends_on"]["grid"] == {"condition": "service_healthy"}
    assert compose_env("intake")["MCC_INTAKE_GRID_URL"] == f"http://grid:{DEFAULT_PORTS['grid']}"


def test_infrastructure_has_healthchecks_for_the_services_to_wait_on():
    checks = {name: COMPOSE["services"][name]["healthcheck"]["test"] for name in ("postgres", "redis", "nats")}
    assert checks["postgres"][:2] == ["CMD", "pg_isready"] and "127.0.0.1" in checks["postgres"]
    assert "redis-cli ping" in " ".join(checks["redis"])
    assert "http://127.0.0.1:8222/healthz?js-enabled-only=true" in checks["nats"]
    assert COMPOSE["services"]["redis"]["command"][-4:-2] == ["--appendonly", "yes"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_mcc_variable_in_compose_is_a_real_setting_of_that_service(service, monkeypatch):
    cls = settings_class(service)
    known = env_names(cls)
    env = compose_env(service)
    unknown = {key for key in env if key.startswith("MCC_") and key.upper() not in known}
    assert unknown == set(), f"{service} would silently ignore {sorted(unknown)}"

    for key in list(os.environ):
        if key.upper().startswith("MCC_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = cls()
    for key, value in env.items():
        field = known[key.upper()]
        expected = TypeAdapter(cls.model_fields[field].annotation).validate_python(value)
        assert getattr(settings, field) == expected, key


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_publishes_the_port_it_listens_on(service):
    port = int(compose_env(service)[f"MCC_{service.upper()}_PORT"])
    assert port == DEFAULT_PORTS[service] == settings_class(service).model_fields["port"].default
    assert COMPOSE["services"][service]["ports"] == [f"{port}:{port}"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_uses_its_own_postgres_database(service):
    url = urlsplit(compose_env(service)[f"MCC_{service.upper()}_DATABASE_URL"])
    assert (url.scheme, url.hostname, url.port, url.path) == ("postgresql", "postgres", 5432, f"/mcc_{service}")
    assert url.password == "dummy-postgres_password"


def test_the_init_script_creates_exactly_the_databases_the_services_use():
    sql = (DEPLOY / "postgres/init/01-databases.sql").read_text()
    created = set(re.findall(r"^\s*CREATE DATABASE\s+(\w+)\s*;", sql, flags=re.MULTILINE | re.IGNORECASE))
    used = {urlsplit(compose_env(s)[f"MCC_{s.upper()}_DATABASE_URL"]).path.lstrip("/") for s in SERVICES}
    assert created == used == {f"mcc_{s}" for s in SERVICES}
    assert bind_mounts("postgres")["/docker-entrypoint-initdb.d"] == "./deploy/postgres/init"


def test_secrets_have_no_defaults_in_compose():
    required = required_variables((ROOT / "compose.yaml").read_text())
    assert set(required) == SECRETS
    assert COMPOSE["x-mcc-env"]["MCC_TOKEN_SECRET"] == "${MCC_TOKEN_SECRET:?set a long random secret}"
    with pytest.raises(KeyError, match="MCC_TOKEN_SECRET"):
        interpolate(COMPOSE["x-mcc-env"]["MCC_TOKEN_SECRET"], {})


def test_only_the_services_and_the_dashboards_publish_ports():
    published = {name for name, spec in COMPOSE["services"].items() if spec.get("ports")}
    assert published == {*SERVICES, "prometheus", "grafana"}


def test_every_file_compose_mounts_exists_in_the_repository():
    sources = {source for name in COMPOSE["services"] for source in bind_mounts(name).values()}
    assert sources
    missing = sorted(s for s in sources if not (ROOT / s).exists())
    assert missing == []


# --- NATS ----------------------------------------------------------------------------------------------

NATS_CONF = DEPLOY / "nats/nats.conf"


def test_nats_conf_passes_the_real_servers_config_check():
    result = subprocess.run([nats_server_binary(), "-t", "-c", str(NATS_CONF)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout + result.stderr


def test_compose_runs_nats_with_the_mounted_config_and_keeps_the_store_on_a_volume():
    nats = COMPOSE["services"]["nats"]
    assert interpolate(" ".join(nats["command"]), {}) == "nats-server -c /etc/nats/nats.conf"
    assert bind_mounts("nats")["/etc/nats/nats.conf"] == "./deploy/nats/nats.conf"
    store_dir = re.search(r"^\s*store_dir:\s*(\S+)", NATS_CONF.read_text(), flags=re.MULTILINE).group(1)
    assert f"nats-data:{store_dir}" in nats["volumes"]


CLUSTER_CONF = DEPLOY / "nats/nats-cluster.conf"
CLUSTER_ENV = dict(line.split("=", 1) for line in (DEPLOY / "cluster.env").read_text().splitlines()
                   if line and not line.startswith("#"))


def test_the_cluster_profile_runs_three_nats_nodes_that_route_to_each_other_on_a_checked_config():
    nodes = [name for name, spec in COMPOSE["services"].items() if name.startswith("nats")]
    assert [n for n in nodes if "cluster" in COMPOSE["services"][n].get("profiles", [])] == ["nats-2", "nats-3"]
    text = CLUSTER_CONF.read_text()
    assert all(f"nats-route://{node}:6222" in text for node in nodes) and "sync_interval: always" in text
    names = {COMPOSE["services"][n]["environment"]["NATS_SERVER_NAME"] for n in nodes}
    assert len(names) == 3
    command = interpolate(" ".join(COMPOSE["services"]["nats"]["command"]), CLUSTER_ENV)
    assert command == "nats-server -c /etc/nats/nats-cluster.conf"
    for node in nodes:
        assert bind_mounts(node)["/etc/nats/nats-cluster.conf"] == "./deploy/nats/nats-cluster.conf"
    result = subprocess.run([nats_server_binary(), "-t", "-c", str(CLUSTER_CONF)], capture_output=True, text=True,
                            timeout=30, env=dict(os.environ, NATS_SERVER_NAME="mcc-nats-1"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cluster_env_points_every_service_at_all_three_nodes_and_asks_for_three_replicas():
    assert CLUSTER_ENV["COMPOSE_PROFILES"] == "cluster" and CLUSTER_ENV["MCC_STREAM_REPLICAS"] == "3"
    env = {key: interpolate(str(v), {**CLUSTER_ENV, **{s: "x" for s in SECRETS}})
           for key, v in COMPOSE["x-mcc-env"].items()}
    assert env["MCC_NATS_URL"].split(",") == [f"nats://{n}:4222" for n in ("nats", "nats-2", "nats-3")]
    assert ServiceSettings(stream_replicas=env["MCC_STREAM_REPLICAS"]).stream_replicas == 3


@pytest.fixture
def running_nats(tmp_path: Path) -> Iterator[int]:
    """The real nats-server on deploy/nats/nats.conf, moved to loopback, free ports and a temporary store."""
    port, monitor = free_port(), free_port()
    text = NATS_CONF.read_text()
    for key, value in (("listen", f"127.0.0.1:{port}"), ("http", f"127.0.0.1:{monitor}"),
                       ("store_dir", str(tmp_path / "store"))):
        text, n = re.subn(rf"^(\s*){key}:.*$", rf"\g<1>{key}: {value}", text, flags=re.MULTILINE)
        assert n == 1, key
    conf = tmp_path / "nats.conf"
    conf.write_text(text)
    log = tmp_path / "nats.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([nats_server_binary(), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            wait_for_port(monitor, timeout=10, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"nats-server did not start on nats.conf: {exc}\n{log.read_text()}")
        yield monitor
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=2) as response:
                return response.status, response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_nats_started_on_the_config_fsyncs_every_write_and_reports_jetstream_healthy(running_nats):
    status, _ = _get(f"http://127.0.0.1:{running_nats}/healthz?js-enabled-only=true")
    assert status == 200
    varz = json.loads(_get(f"http://127.0.0.1:{running_nats}/varz")[1])
    assert varz["jetstream"]["config"]["sync_always"] is True
    assert varz["max_payload"] == 1024 * 1024


# --- Prometheus and Grafana ----------------------------------------------------------------------------

PROMETHEUS = DEPLOY / "prometheus/prometheus.yml"


def test_prometheus_scrapes_the_four_services_and_itself():
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "mcc"}
    assert jobs["mcc"].get("metrics_path", "/metrics") == "/metrics"
    targets = {(target, group["labels"]["service"]) for group in jobs["mcc"]["static_configs"]
               for target in group["targets"]}
    assert targets == {(f"{s}:{DEFAULT_PORTS[s]}", s) for s in SERVICES}


def test_prometheus_rule_files_exist_and_every_rule_is_complete():
    config = yaml.safe_load(PROMETHEUS.read_text())
    files = sorted({f for pattern in config["rule_files"] for f in glob.glob(str(PROMETHEUS.parent / pattern))})
    assert files, config["rule_files"]
    alerts = {}
    for path in files:
        for group in yaml.safe_load(Path(path).read_text())["groups"]:
            assert group["name"] and group["rules"], path
            for rule in group["rules"]:
                assert rule["alert"] and rule["expr"] and rule["labels"]["severity"], (path, rule)
                alerts[rule["alert"]] = rule
    assert alerts["ServiceDown"]["expr"] == 'up{job="mcc"} == 0'


def test_compose_mounts_the_prometheus_folder_where_the_config_and_rules_are_read():
    prometheus = COMPOSE["services"]["prometheus"]
    assert bind_mounts("prometheus")["/etc/prometheus"] == "./deploy/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


def test_grafana_reads_prometheus_and_the_mounted_dashboards_folder():
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert [(d["type"], d["url"]) for d in datasources["datasources"]] == [("prometheus", "http://prometheus:9090")]
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/mcc.yml").read_text())["providers"]
    mounts = bind_mounts("grafana")
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]
    assert mounts["/var/lib/grafana/dashboards"] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert list((DEPLOY / "grafana/dashboards").glob("*.json"))


# --- the image -----------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines
            if line and not line.startswith("#")]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def test_the_image_is_python_311_slim_and_runs_mcc_serve_as_a_user_that_is_not_root():
    args = {op_args.split("=", 1)[0]: op_args.split("=", 1)[1] for op, op_args in dockerfile_instructions()
            if op == "ARG" and "=" in op_args}
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    stage = dict(final_stage())
    assert stage["FROM"] == "${PYTHON_IMAGE}"
    assert stage["USER"].split(":")[0] not in ("root", "0")
    assert json.loads(stage["ENTRYPOINT"]) == ["mcc", "serve"]
    assert {int(p) for p in stage["EXPOSE"].split()} == set(DEFAULT_PORTS.values())
    assert "MCC_HOST=0.0.0.0" in stage["ENV"]


def test_the_image_installs_the_lock_file_then_the_project_without_dependencies():
    runs = [args for op, args in dockerfile_instructions() if op == "RUN"]
    lock = next(i for i, r in enumerate(runs) if "pip install -r requirements.lock" in r)
    project = next(i for i, r in enumerate(runs) if "pip install --no-deps ." in r)
    assert lock < project


def test_the_image_healthcheck_probes_healthz_with_the_script_it_copies():
    stage = final_stage()
    healthcheck = next(args for op, args in stage if op == "HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command == ["python", "/opt/mcc/healthcheck.py", "/healthz"]
    copies = [args for op, args in dockerfile_instructions() if op == "COPY"]
    assert "deploy/healthcheck.py /opt/mcc/healthcheck.py" in copies


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides; `!` re-includes."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        forms = [pattern] + ([pattern[3:]] if pattern.startswith("**/") else [])
        if any(fnmatch.fnmatchcase(c, f) for c in candidates for f in forms):
            ignored = not negate
    return ignored


def test_every_file_the_build_copies_is_in_the_build_context():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = [src for op, args in dockerfile_instructions() if op == "COPY" and not args.startswith("--from")
               for src in args.split()[:-1]]
    assert "requirements.lock" in sources and "services" in sources
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not dockerignored(src, patterns), src
    for heavy in (".venv", ".git", "var", "services/grid/__pycache__", "deploy/nats/nats.conf"):
        assert dockerignored(heavy, patterns), heavy


# --- the healthcheck script ----------------------------------------------------------------------------


def _load_healthcheck():
    spec = importlib.util.spec_from_file_location("mcc_healthcheck", DEPLOY / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load_healthcheck()


def test_the_healthcheck_knows_the_same_default_ports_as_the_services():
    assert healthcheck.DEFAULT_PORTS == DEFAULT_PORTS
    assert {s: settings_class(s).model_fields["port"].default for s in SERVICES} == DEFAULT_PORTS


def test_the_healthcheck_finds_the_service_behind_docker_init_and_its_port():
    cmdline = b"/sbin/docker-init\0--\0/opt/mcc/bin/python\0/opt/mcc/bin/mcc\0serve\0dispatch\0"
    argv = healthcheck.service_argv(cmdline)
    assert argv == ["dispatch"]
    assert healthcheck.service_port(argv, {}) == 8004
    assert healthcheck.service_port(argv, {"MCC_DISPATCH_PORT": "9100"}) == 9100
    assert healthcheck.service_port(["grid", "--port", "9200"], {"MCC_GRID_PORT": "9100"}) == 9200
    assert healthcheck.service_port(["grid", "--port=9300"], {}) == 9300
    with pytest.raises(ValueError):
        healthcheck.service_port(healthcheck.service_argv(b"postgres\0-D\0/data\0"), {})


@contextlib.contextmanager
def _http_server(statuses: dict[str, int]) -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(statuses.get(self.path, 404))
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_passes_on_200_and_fails_on_503_or_nothing_listening(tmp_path):
    cmdline = tmp_path / "cmdline"
    with _http_server({"/healthz": 200, "/readyz": 503}) as port:
        cmdline.write_bytes(f"python\0mcc\0serve\0hotline\0--port\0{port}\0".encode())
        assert healthcheck.main([], cmdline=cmdline, env={}) == 0
        assert healthcheck.main(["/readyz"], cmdline=cmdline, env={}) == 1
    assert healthcheck.main(["/healthz"], cmdline=cmdline, env={}) == 1


# --- docker compose config, where a compose client is installed ----------------------------------------


def _compose_command() -> list[str] | None:
    """`docker compose` (plugin) or `docker-compose`, whichever answers `version` without an engine."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            if subprocess.run([*command, "version"], capture_output=True, timeout=30).returncode == 0:
                return command
    return None


def test_docker_compose_accepts_the_file_and_refuses_to_run_without_the_secrets():
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client on this machine")
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    base = [*command, "-f", str(ROOT / "compose.yaml"), "--project-directory", str(ROOT), "config"]
    ok = subprocess.run(base, capture_output=True, text=True, timeout=60,
                        env=env | {name: "dummy" for name in SECRETS})
    assert ok.returncode == 0, ok.stderr
    rendered = yaml.safe_load(ok.stdout)
    assert rendered["services"]["dispatch"]["environment"]["MCC_DISPATCH_DATABASE_URL"] == (
        "postgresql://mcc:dummy@postgres:5432/mcc_dispatch")
    missing = subprocess.run(base, capture_output=True, text=True, timeout=60,
                             env=env | {"POSTGRES_PASSWORD": "x", "GRAFANA_ADMIN_PASSWORD": "x"})
    assert missing.returncode != 0
    assert "set a long random secret" in missing.stderr


@pytest.mark.parametrize("service", ["grid", "dispatch"])
def test_photos_and_attachments_are_on_the_volume_grid_and_dispatch_share_not_in_the_container(service):
    env = {**{k: str(v) for k, v in COMPOSE["x-mcc-env"].items()}, **compose_env(service)}
    volumes = dict(v.split(":")[:2] for v in COMPOSE["services"][service].get("volumes", []))
    assert volumes.get("mcc-files") == "/var/lib/mcc/files"
    assert env["MCC_ATTACHMENT_DIR"].startswith("/var/lib/mcc/files/")
    if service == "grid":
        assert env["MCC_GRID_PHOTO_DIR"].startswith("/var/lib/mcc/files/")
    assert "install -d -o mcc -g mcc /var/lib/mcc/files" in (DEPLOY / "Dockerfile").read_text()
