"""deploy/kubernetes validates against the Kubernetes API schemas and agrees with the code.

kubernetes-validate carries the OpenAPI schemas of every Kubernetes release, so no cluster is needed; strict
mode refuses fields the API does not know (a misspelt `readinessProbe` would otherwise be silently dropped
by the API server). The rest ties the manifests to the services: settings names, ports, probes, selectors,
the NATS cluster the services are told about, and the real nats-server's check of the cluster config.
"""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from services.cli import DEFAULT_PORTS, SERVICES
from shared.devservers import nats_server_binary
from shared.settings import ServiceSettings
from tests.unit.deploy.test_production_shape import env_names, settings_class

pytestmark = pytest.mark.unit

KUBE = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.31"  # what the manifests target; any later release accepts them too


def documents() -> list[tuple[str, dict]]:
    return [(f.name, d) for f in sorted(KUBE.glob("*.yaml")) if f.name != "kustomization.yaml"
            for d in yaml.safe_load_all(f.read_text()) if d]


def find(kind: str, name: str) -> dict:
    return next(d for _, d in documents() if d["kind"] == kind and d["metadata"]["name"] == name)


def config() -> dict[str, str]:
    return find("ConfigMap", "mcc-config")["data"]


def validate(doc: dict) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(("file", "doc"), documents(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_every_manifest_is_valid_for_the_kubernetes_api(file, doc):
    validate(doc)


def test_the_validator_refuses_a_misspelt_field_so_the_check_above_can_fail():
    import kubernetes_validate

    broken = copy.deepcopy(find("Deployment", "dispatch"))
    broken["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_kustomization_lists_every_manifest_in_the_folder_and_puts_them_in_one_namespace():
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(f.name for f in KUBE.glob("*.yaml")
                                                        if f.name != "kustomization.yaml")
    assert {d["metadata"].get("namespace", kustomization["namespace"]) for _, d in documents()
            if d["kind"] != "Namespace"} == {kustomization["namespace"]}


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_runs_two_pods_of_the_one_image_probed_on_readyz_and_healthz(service):
    spec = find("Deployment", service)["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] >= 2 and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert container["args"] == [service]
    assert container["ports"][0]["containerPort"] == DEFAULT_PORTS[service]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert pod["terminationGracePeriodSeconds"] > 15  # uvicorn's graceful shutdown, then the outbox flush


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_and_the_disruption_budget_select_exactly_the_deployments_pods(service):
    labels = find("Deployment", service)["spec"]["template"]["metadata"]["labels"]
    selected = find("Service", service)["spec"]["selector"]
    budget = find("PodDisruptionBudget", service)["spec"]
    assert selected.items() <= labels.items()
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert budget.get("minAvailable", 0) >= 1 or budget.get("maxUnavailable") == 1


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_a_pod_sets_is_a_real_setting_of_its_service(service):
    container = find("Deployment", service)["spec"]["template"]["spec"]["containers"][0]
    own = {e["name"] for e in container["env"]}
    assert not own - set(env_names(settings_class(service)))
    assert {f"MCC_{service.upper()}_DATABASE_URL", "MCC_TOKEN_SECRET"} <= own


def test_every_variable_of_the_shared_config_map_is_a_setting_of_some_service():
    known = set().union(*(env_names(settings_class(service)) for service in SERVICES))
    assert not set(config()) - known


@pytest.mark.parametrize("service", SERVICES)
def test_secrets_come_from_the_secret_never_from_the_config_map(service):
    assert not {"MCC_TOKEN_SECRET", f"MCC_{service.upper()}_DATABASE_URL"} & set(config())
    container = find("Deployment", service)["spec"]["template"]["spec"]["containers"][0]
    for env in container["env"]:
        if env["name"] in ("MCC_TOKEN_SECRET", f"MCC_{service.upper()}_DATABASE_URL"):
            assert env["valueFrom"]["secretKeyRef"]["name"] == "mcc-secrets"


def test_the_services_know_every_nats_pod_and_ask_for_as_many_stream_replicas():
    nats = find("StatefulSet", "nats")
    pods = [f"nats-{i}.nats:4222" for i in range(nats["spec"]["replicas"])]
    assert sorted(u.removeprefix("nats://") for u in config()["MCC_NATS_URL"].split(",")) == pods
    assert int(config()["MCC_STREAM_REPLICAS"]) == nats["spec"]["replicas"] == 3
    assert ServiceSettings(stream_replicas=int(config()["MCC_STREAM_REPLICAS"])).stream_replicas == 3
    anti = nats["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert find("PodDisruptionBudget", "nats")["spec"]["maxUnavailable"] == 1


def test_the_nats_cluster_config_passes_the_real_servers_check_and_routes_to_every_pod(tmp_path):
    text = find("ConfigMap", "nats-config")["data"]["nats.conf"]
    replicas = find("StatefulSet", "nats")["spec"]["replicas"]
    assert all(f"nats-route://nats-{i}.nats:6222" in text for i in range(replicas))
    assert "sync_interval: always" in text
    conf = tmp_path / "nats.conf"
    conf.write_text(text.replace("store_dir: /data", f"store_dir: {tmp_path}"))
    check = subprocess.run([nats_server_binary(), "-t", "-c", str(conf)], capture_output=True, text=True,
                           timeout=30, env=dict(os.environ, POD_NAME="nats-0"))
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("service", ["grid", "dispatch"])
def test_photos_and_attachments_live_on_one_volume_the_grid_and_dispatch_pods_share(service):
    pod = find("Deployment", service)["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    for variable in ("MCC_GRID_PHOTO_DIR", "MCC_ATTACHMENT_DIR"):
        directory = config()[variable]
        mount = max((path for path in mounts if directory.startswith(path + "/")), key=len)  # the innermost
        volume = next(v for v in pod["volumes"] if v["name"] == mounts[mount])
        claim = volume["persistentVolumeClaim"]["claimName"]
        assert claim == "mcc-files"
        assert find("PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteMany"]
