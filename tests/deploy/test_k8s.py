"""deploy/k8s: render every overlay with `kubectl kustomize` and check the objects.

- valid Kubernetes objects: each built-in kind is deserialized into the `kubernetes` client's model and must
  round-trip without losing a key (a misspelt field is lost, so it fails); KEDA objects are checked by hand;
- consistent with the services: images, commands, ports, probe paths, env names (all documented in .env.example),
  Secret references (one out-of-band Secret, keys = documented names), ConfigMap references;
- the security rules on every pod template, resources on every container, NetworkPolicies, PDBs, HPAs,
  ScaledObjects targeting existing Deployments, no Secret values, no StatefulSets;
- a checkov scan with no finding left unexplained (deploy/k8s/checkov-allowlist.yaml).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
PORTS = {"gateway": 5000, "auth": 5001, "shows": 5002, "media": 5003, "social": 5004}
API_SERVICES = ("auth", "shows", "media", "social")
ALL_SERVICES = ("gateway", *API_SERVICES)
WORKER_QUEUES = ("images", "video", "audio")
WORKERS = {f"media-worker-{q}": q for q in WORKER_QUEUES}
SECRET_NAME = "sharemyshows-secrets"
UID = 10001
# who may call whom (docs/conventions.md "Who owns what across services"; JWKS lives on auth)
CALLERS = {
    "auth": {"gateway", "shows", "media", "social"},
    "shows": {"gateway", "media", "social"},
    "media": {"gateway", "shows"},
    "social": {"gateway", "shows"},
}
MODELS = {
    ("apps/v1", "Deployment"): "V1Deployment",
    ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Namespace"): "V1Namespace",
    ("batch/v1", "Job"): "V1Job",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
    ("networking.k8s.io/v1", "Ingress"): "V1Ingress",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
}
CUSTOM = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}
VAR_EXPANSION = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _kustomize_command() -> list[str] | None:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


@pytest.fixture(scope="module")
def kustomize() -> list[str]:
    """`kubectl kustomize` (Debian's kubectl package) or a standalone kustomize."""
    cmd = _kustomize_command()
    if cmd is None:
        pytest.skip("neither `kubectl` nor `kustomize` is installed (apt-get install kubectl)")
    return cmd


_RENDERED: dict[str, str] = {}


def _render_text(kustomize: list[str], overlay: str) -> str:
    if overlay not in _RENDERED:
        proc = subprocess.run(
            [*kustomize, str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=False, timeout=120
        )
        assert proc.returncode == 0, f"kustomize {overlay} failed:\n{proc.stderr}"
        _RENDERED[overlay] = proc.stdout
    return _RENDERED[overlay]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> str:
    """The overlay under test."""
    return request.param


@pytest.fixture(scope="module")
def objects(kustomize, overlay) -> list[dict]:
    """Every object the overlay renders."""
    docs = [d for d in yaml.safe_load_all(_render_text(kustomize, overlay)) if d]
    assert docs, f"overlay {overlay} rendered nothing"
    return docs


def _by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _workloads(objects: list[dict]) -> dict[str, dict]:
    """Deployments and Jobs by `Kind/name`."""
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects if o["kind"] in ("Deployment", "Job")}


def _containers(workload: dict) -> list[dict]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _lost_keys(original, roundtrip, path="") -> list[str]:
    """Keys present in the manifest but dropped by the typed model (unknown or misspelt fields)."""
    lost = []
    if isinstance(original, dict):
        if not isinstance(roundtrip, dict):
            return [path or "/"] if original else []
        for k, v in original.items():
            if v is None:
                continue
            if k not in roundtrip:
                lost.append(f"{path}/{k}")
            else:
                lost += _lost_keys(v, roundtrip[k], f"{path}/{k}")
    elif isinstance(original, list):
        if not isinstance(roundtrip, list) or len(roundtrip) != len(original):
            return [path]
        for i, (a, b) in enumerate(zip(original, roundtrip, strict=True)):
            lost += _lost_keys(a, b, f"{path}[{i}]")
    return lost


# --------------------------------------------------------------------------------------------- validity


def test_objects_are_valid_kubernetes_objects(objects):
    from kubernetes.client import ApiClient

    api = ApiClient()
    for obj in objects:
        key = (obj.get("apiVersion"), obj.get("kind"))
        name = obj.get("metadata", {}).get("name")
        assert name, f"{key} without metadata.name"
        if key in CUSTOM:
            continue
        assert key in MODELS, f"unexpected kind {key} ({name}); StatefulSets etc. are not part of this deployment"
        model = api._ApiClient__deserialize(obj, MODELS[key])  # validates types and required fields
        roundtrip = api.sanitize_for_serialization(model)
        lost = _lost_keys(obj, roundtrip)
        assert not lost, f"{key[1]}/{name}: fields unknown to the Kubernetes API: {lost}"


def test_keda_objects(objects):
    deployments = _by_kind(objects, "Deployment")
    auths = _by_kind(objects, "TriggerAuthentication")
    scaled = _by_kind(objects, "ScaledObject")
    assert set(scaled) == set(WORKERS), "one ScaledObject per worker Deployment"
    for name, so in scaled.items():
        spec = so["spec"]
        target = spec["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment" and target["name"] in deployments, name
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], name
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == WORKERS[target["name"]]
        assert trigger["metadata"]["mode"] == "QueueLength" and int(trigger["metadata"]["value"]) >= 1
        assert trigger["authenticationRef"]["name"] in auths, name
    for name, ta in auths.items():
        for ref in ta["spec"]["secretTargetRef"]:
            assert ref["name"] == SECRET_NAME, name


def test_no_secret_values_and_no_stateful_infrastructure(objects, env_example):
    kinds = {o["kind"] for o in objects}
    assert "StatefulSet" not in kinds, "PostgreSQL/RabbitMQ/MinIO come from their operators, not from here"
    for obj in objects:
        if obj["kind"] == "Secret":
            assert not obj.get("data") and not obj.get("stringData"), f"Secret {obj['metadata']['name']} has values"
    for cm in _by_kind(objects, "ConfigMap").values():
        for key, value in (cm.get("data") or {}).items():
            assert key in env_example.documented, f"ConfigMap {cm['metadata']['name']}: {key} not in .env.example"
            assert not re.search(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY", key), f"secret {key} in a ConfigMap"
            assert not re.search(r"://[^/@\s]*:[^/@\s]+@", value), f"credentials in ConfigMap value {key}"


# --------------------------------------------------------------------------------------------- consistency


def test_api_services(objects, entry_points):
    deployments = _by_kind(objects, "Deployment")
    services = _by_kind(objects, "Service")
    assert set(services) == set(ALL_SERVICES), "a Service per API service, nothing else"
    for svc, port in PORTS.items():
        dep = deployments[svc]
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert container["image"].rsplit("/", 1)[-1].split(":")[0].split("@")[0] == svc, container["image"]
        assert container["command"] == [svc] and svc in entry_points[svc]
        assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("http", port)]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env.get("PORT") == str(port), f"{svc}: PORT env must match the container port"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready", svc
        assert container["livenessProbe"]["httpGet"]["path"] == "/health", svc
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["port"] in ("http", port), f"{svc} {probe} port"
        service = services[svc]
        (sport,) = service["spec"]["ports"]
        assert sport["port"] == port and sport["targetPort"] in ("http", port), svc
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", f"{svc}: only the Ingress is public"
        selector = service["spec"]["selector"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"Service {svc} does not select its pods"
    config = {k: v for cm in _by_kind(objects, "ConfigMap").values() for k, v in (cm.get("data") or {}).items()}
    for svc in API_SERVICES:
        assert config.get(f"{svc.upper()}_URL") == f"http://{svc}:{PORTS[svc]}", f"{svc.upper()}_URL"


def test_workers(objects, entry_points):
    deployments = _by_kind(objects, "Deployment")
    for name, queue in WORKERS.items():
        dep = deployments[name]
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["media-worker"] and "media-worker" in entry_points["media"]
        assert container["image"].rsplit("/", 1)[-1].split(":")[0] == "media"
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env["MEDIA_WORKER_QUEUES"] == queue
        assert "ports" not in container


def test_migration_jobs(objects, entry_points):
    jobs = _by_kind(objects, "Job")
    assert set(jobs) == {f"{svc}-migrate" for svc in API_SERVICES} | {"media-storage-setup"}
    for svc in API_SERVICES:
        spec = jobs[f"{svc}-migrate"]["spec"]
        (container,) = spec["template"]["spec"]["containers"]
        assert container["command"] == [f"{svc}-migrate"] and f"{svc}-migrate" in entry_points[svc]
        assert container["image"].rsplit("/", 1)[-1].split(":")[0] == svc
        assert spec["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
        env = {e["name"]: e.get("value", "") for e in container["env"]}
        assert f"/{svc}" in env["DATABASE_URL"] and env["DATABASE_URL"].startswith("postgresql"), svc


def test_bucket_setup_job(objects, entry_points):
    """media-storage-setup puts the AbortIncompleteMultipartUpload rule on the bucket, with S3 egress."""
    spec = _by_kind(objects, "Job")["media-storage-setup"]["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] == ["media-storage-setup"] and "media-storage-setup" in entry_points["media"]
    assert container["image"].rsplit("/", 1)[-1].split(":")[0] == "media"
    refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
    assert {"S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"} <= refs
    assert any(s["configMapRef"]["name"].startswith("media-config") for s in container["envFrom"])  # name-hash
    egress = _by_kind(objects, "NetworkPolicy")["object-storage-egress"]["spec"]
    (selector,) = egress["podSelector"]["matchExpressions"]
    assert "media-storage-setup" in selector["values"]


def test_env_is_documented_and_references_resolve(objects, env_example):
    """Each container's env names ⊆ .env.example; secretKeyRefs → the one Secret; $(VAR) defined before use."""
    configmaps = {name: set(cm.get("data") or {}) for name, cm in _by_kind(objects, "ConfigMap").items()}
    for wname, workload in _workloads(objects).items():
        for container in _containers(workload):
            defined: set[str] = set()
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef") or {}
                assert ref.get("name") in configmaps, f"{wname}: envFrom {source} does not exist"
                assert "secretRef" not in source, f"{wname}: use secretKeyRef per key, not a whole Secret"
                defined |= configmaps[ref["name"]]
            for item in container.get("env", []):
                name = item["name"]
                assert name in env_example.documented, f"{wname}: env {name} not documented in .env.example"
                value_from = item.get("valueFrom")
                if value_from:
                    if "secretKeyRef" in value_from:
                        ref = value_from["secretKeyRef"]
                        assert ref["name"] == SECRET_NAME, f"{wname}: {name} from Secret {ref['name']}"
                        assert ref["key"] in env_example.documented, f"{wname}: Secret key {ref['key']} undocumented"
                    if "configMapKeyRef" in value_from:
                        ref = value_from["configMapKeyRef"]
                        assert ref["key"] in configmaps.get(ref["name"], set()), f"{wname}: {ref}"
                else:
                    value = str(item.get("value", ""))
                    missing = {v for v in VAR_EXPANSION.findall(value)} - defined
                    assert not missing, f"{wname}: {name} uses $({', '.join(sorted(missing))}) before defining it"
                    if re.search(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY", name):
                        pytest.fail(f"{wname}: secret {name} given as a literal value")
                    assert not re.search(r"://[^/@\s]*:[^$/@\s][^/@\s]*@", value), f"{wname}: literal credential"
                defined.add(name)


def test_env_is_read_by_the_service(objects, service_reads, composition_only):
    """Every variable a container gets (env and envFrom keys) is read by that service's settings."""
    configmaps = {name: set(cm.get("data") or {}) for name, cm in _by_kind(objects, "ConfigMap").items()}
    for wname, workload in _workloads(objects).items():
        svc = wname.split("/", 1)[1].split("-")[0]
        reads = service_reads.get(svc)
        if reads is None:
            continue  # settings not landed yet
        for container in _containers(workload):
            names = {e["name"] for e in container.get("env", [])}
            for source in container.get("envFrom", []):
                names |= configmaps.get((source.get("configMapRef") or {}).get("name"), set())
            unread = names - reads - composition_only
            assert not unread, f"{wname}: {sorted(unread)} are not read by {svc}'s settings"


# --------------------------------------------------------------------------------------------- security and resources


def test_pod_security(objects):
    for wname, workload in _workloads(objects).items():
        spec = workload["spec"]["template"]["spec"]
        psc = spec.get("securityContext") or {}
        assert psc.get("runAsNonRoot") is True, wname
        assert psc.get("runAsUser") == UID, wname
        assert (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", wname
        assert spec.get("automountServiceAccountToken") is False, wname
        for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(forbidden), f"{wname}: {forbidden}"
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert not any("hostPath" in v for v in volumes.values()), wname
        for container in _containers(workload):
            csc = container.get("securityContext") or {}
            where = f"{wname}/{container['name']}"
            assert csc.get("allowPrivilegeEscalation") is False, where
            assert csc.get("readOnlyRootFilesystem") is True, where
            assert csc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not csc.get("capabilities", {}).get("add"), where
            assert not csc.get("privileged"), where
            assert csc.get("runAsUser", UID) == UID and csc.get("runAsNonRoot", True) is True, where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp must be an emptyDir"


def test_worker_scratch_is_larger(objects):
    def tmp_size(workload):
        spec = workload["spec"]["template"]["spec"]
        return _quantity(next(v for v in spec["volumes"] if v["name"] == "tmp")["emptyDir"].get("sizeLimit", "0"))

    deployments = _by_kind(objects, "Deployment")
    for worker in WORKERS:
        for svc in ("gateway", "auth", "shows", "social"):
            assert tmp_size(deployments[worker]) > tmp_size(deployments[svc]), worker


def _quantity(value) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert m, value
    return float(m.group(1)) * units.get(m.group(2), 1)


def test_resources_on_every_container(objects):
    for wname, workload in _workloads(objects).items():
        for container in _containers(workload):
            res = container.get("resources") or {}
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    assert r in res.get(kind, {}), f"{wname}/{container['name']}: no {kind}.{r}"
                    if kind == "limits":
                        assert _quantity(res["limits"][r]) >= _quantity(res["requests"][r]), f"{wname} {r}"


# --------------------------------------------------------------------------------------------- traffic and scaling


def test_network_policies(objects):
    policies = _by_kind(objects, "NetworkPolicy")
    deny = [
        p
        for p in policies.values()
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, "no default-deny NetworkPolicy"
    assert any(
        p["spec"]["podSelector"] == {}
        and any(any(port.get("port") == 53 for port in rule.get("ports", [])) for rule in p["spec"].get("egress", []))
        for p in policies.values()
    ), "no DNS egress policy"

    def selects(policy, name):
        sel = policy["spec"]["podSelector"]
        if sel.get("matchLabels", {}).get("app.kubernetes.io/name") == name:
            return True
        return any(
            e["key"] == "app.kubernetes.io/name" and e["operator"] == "In" and name in e["values"]
            for e in sel.get("matchExpressions", [])
        )

    for policy in policies.values():
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                if "namespaceSelector" in peer:
                    ns = peer["namespaceSelector"].get("matchLabels", {}).get("kubernetes.io/metadata.name")
                    if ns == "monitoring":
                        continue  # metrics scraping
                    assert ns and selects(policy, "gateway") and not any(selects(policy, s) for s in API_SERVICES), (
                        f"{policy['metadata']['name']}: only the gateway takes traffic from outside the namespace"
                    )
                assert "ipBlock" not in peer, policy["metadata"]["name"]
    for svc, callers in CALLERS.items():
        allowed: set[str] = set()
        for policy in policies.values():
            if not selects(policy, svc):
                continue
            for rule in policy["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        sel = peer["podSelector"]
                        allowed |= {sel.get("matchLabels", {}).get("app.kubernetes.io/name")} - {None}
                        for e in sel.get("matchExpressions", []):
                            allowed |= set(e["values"])
        assert allowed == callers, f"{svc} accepts {sorted(allowed)}, expected {sorted(callers)}"
    assert any(selects(p, "gateway") and p["spec"].get("ingress") for p in policies.values()), "gateway unreachable"


def test_ingress_only_for_the_gateway(objects):
    ingresses = list(_by_kind(objects, "Ingress").values())
    assert len(ingresses) == 1
    for rule in ingresses[0]["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == "gateway"


def test_pdbs_and_hpas(objects, overlay):
    deployments = _by_kind(objects, "Deployment")
    pdbs = _by_kind(objects, "PodDisruptionBudget")
    hpas = _by_kind(objects, "HorizontalPodAutoscaler")
    for svc in ALL_SERVICES:
        labels = deployments[svc]["spec"]["template"]["metadata"]["labels"]
        assert any(p["spec"]["selector"]["matchLabels"].items() <= labels.items() for p in pdbs.values()), svc
        hpa = hpas[svc]["spec"]
        assert hpa["scaleTargetRef"]["name"] == svc and hpa["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["minReplicas"] <= hpa["maxReplicas"]
        assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["metrics"]), svc
    for name in WORKERS:
        assert name not in hpas, f"{name} is scaled by KEDA, not by an HPA"
    if overlay == "prod":
        for svc in ALL_SERVICES:
            assert deployments[svc]["spec"]["replicas"] >= 2, svc
            assert hpas[svc]["spec"]["minReplicas"] >= 2, svc
            assert "minAvailable" in pdbs[svc]["spec"], svc
    if overlay == "dev":
        for dep in deployments.values():
            assert dep["spec"]["replicas"] == 1, dep["metadata"]["name"]


def test_prod_is_larger_than_dev(kustomize):
    if not {"dev", "prod"} <= set(OVERLAYS):
        pytest.skip("needs both overlays")

    def limits(text):
        deps = {o["metadata"]["name"]: o for o in yaml.safe_load_all(text) if o and o["kind"] == "Deployment"}
        return {
            n: _quantity(d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])
            for n, d in deps.items()
        }

    dev, prod = limits(_render_text(kustomize, "dev")), limits(_render_text(kustomize, "prod"))
    for name in ALL_SERVICES:
        assert prod[name] > dev[name], name


# --------------------------------------------------------------------------------------------- static scan


def _checkov() -> str | None:
    for candidate in (
        os.environ.get("CHECKOV"),
        shutil.which("checkov"),
        str(REPO / ".venv/bin/checkov"),
        str(Path.home() / ".local/bin/checkov"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def test_checkov_has_no_unexplained_findings(kustomize, overlay, tmp_path):
    """Fail on HIGH/CRITICAL findings, and on findings without a severity (open-source checkov has no severity
    feed, so every finding counts), unless deploy/k8s/checkov-allowlist.yaml explains it."""
    checkov = _checkov()
    if checkov is None:
        pytest.skip("checkov not installed (it conflicts with the workspace lock: `uv tool install checkov`)")
    allow = yaml.safe_load((K8S / "checkov-allowlist.yaml").read_text())["allow"]
    for entry in allow:
        assert entry.get("reason", "").strip(), f"allowlist entry {entry['id']} has no reason"
    (tmp_path / "rendered.yaml").write_text(_render_text(kustomize, overlay))
    proc = subprocess.run(
        [
            checkov,
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--compact",
            "--quiet",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.stdout.strip(), f"checkov printed nothing:\n{proc.stderr[-2000:]}"
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f for r in reports for f in (r.get("results") or {}).get("failed_checks", [])]
    unexplained = []
    for finding in failed:
        severity = (finding.get("severity") or "UNKNOWN").upper()
        if severity not in ("HIGH", "CRITICAL", "UNKNOWN"):
            continue
        resource = finding["resource"]  # Kind.namespace.name
        if not any(
            entry["id"] == finding["check_id"]
            and any(fnmatch.fnmatch(resource, pat) for pat in entry.get("resources", ["*"]))
            for entry in allow
        ):
            unexplained.append(f"{finding['check_id']} {severity} {resource}: {finding['check_name']}")
    assert not unexplained, "checkov findings not in deploy/k8s/checkov-allowlist.yaml:\n" + "\n".join(unexplained)
