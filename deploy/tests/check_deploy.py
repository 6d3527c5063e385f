"""Checks what the Kubernetes schemas cannot: that deploy/ agrees with the pollux binary and
with itself. The schemas (kubernetes-validate) say a manifest is well formed; this says that
its environment variables are ones pollux reads, that the probes, ports and selectors line up,
that the kill timeouts outlast the drain, that the pods run as the image's non-root user, that
POLLUX_STATE names the Redis Service, and that the figures cited from docs/benchmarks.md are
still there.

Usage: check_deploy.py REPO_ROOT. Prints one line per failed check and exits 1 if any failed.
"""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(sys.argv[1]).resolve()
KUBE = ROOT / "deploy" / "kubernetes"
FAILED: list[str] = []


def check(ok: bool, message: str) -> None:
    if not ok:
        FAILED.append(message)


def binary_env() -> tuple[set[str], int]:
    """The environment variables pollux reads (clap `env = "..."` in config.rs, plus the
    logger's RUST_LOG) and the default drain grace."""
    source = (ROOT / "crates" / "server" / "src" / "config.rs").read_text()
    names = set(re.findall(r'env = "([A-Z0-9_]+)"', source)) | {"RUST_LOG"}
    grace = re.search(r'env = "POLLUX_SHUTDOWN_GRACE", default_value_t = (\d+)', source)
    if grace is None:
        FAILED.append("config.rs: no POLLUX_SHUTDOWN_GRACE default found")
        return names, 0
    return names, int(grace.group(1))


ENV_NAMES, DEFAULT_GRACE = binary_env()
check(len(ENV_NAMES) > 20, f"config.rs: only {len(ENV_NAMES)} env names found; parser out of date?")


def load(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((KUBE / name).read_text()) if doc]


def one(name: str, kind: str) -> dict:
    docs = [d for d in load(name) if d.get("kind") == kind]
    if len(docs) != 1:
        FAILED.append(f"{name}: expected one {kind}, found {len(docs)}")
        return {}
    return docs[0]


def dockerfile_user() -> int | None:
    users = re.findall(r"^USER\s+(\d+)", (ROOT / "deploy" / "Dockerfile").read_text(), re.M)
    return int(users[-1]) if users else None


def sub(labels: dict, selector: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --- Deployment -------------------------------------------------------------------------------
deploy = one("deployment.yaml", "Deployment")
pod = deploy.get("spec", {}).get("template", {})
pod_labels = pod.get("metadata", {}).get("labels", {})
spec = pod.get("spec", {})
containers = spec.get("containers", [])
check(len(containers) == 1, "deployment.yaml: expected one container")
c = containers[0] if containers else {}
check(sub(pod_labels, deploy.get("spec", {}).get("selector", {}).get("matchLabels", {})),
      "deployment.yaml: selector does not match the pod labels")

env = {e["name"]: e.get("value") for e in c.get("env", [])}
for name in env:
    check(name in ENV_NAMES, f"deployment.yaml: env {name} is not read by pollux (config.rs)")
ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
listen = env.get("POLLUX_LISTEN", "")
check(listen.startswith("0.0.0.0:"), "deployment.yaml: POLLUX_LISTEN should be 0.0.0.0:PORT")
listen_port = int(listen.rsplit(":", 1)[1]) if ":" in listen else None
check(ports.get("http") == listen_port,
      f"deployment.yaml: port 'http' ({ports.get('http')}) is not POLLUX_LISTEN's ({listen_port})")

for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    get = c.get(probe, {}).get("httpGet", {})
    check(get.get("path") == path, f"deployment.yaml: {probe} should GET {path}")
    check(get.get("port") in ports or get.get("port") in ports.values(),
          f"deployment.yaml: {probe} port {get.get('port')} is not a container port")

grace = int(env.get("POLLUX_SHUTDOWN_GRACE", DEFAULT_GRACE))
pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
kill = spec.get("terminationGracePeriodSeconds", 30)
check(kill > pre_stop + grace,
      f"deployment.yaml: terminationGracePeriodSeconds {kill} must exceed preStop {pre_stop} s "
      f"+ drain grace {grace} s")

pod_sc = spec.get("securityContext", {})
c_sc = c.get("securityContext", {})
check(pod_sc.get("runAsNonRoot") is True, "deployment.yaml: runAsNonRoot must be true")
check(pod_sc.get("runAsUser", 0) != 0, "deployment.yaml: runAsUser must not be 0")
check(pod_sc.get("runAsUser") == dockerfile_user(),
      f"deployment.yaml: runAsUser {pod_sc.get('runAsUser')} is not the Dockerfile's USER "
      f"{dockerfile_user()}")
check(c_sc.get("readOnlyRootFilesystem") is True, "deployment.yaml: root fs must be read-only")
check(c_sc.get("allowPrivilegeEscalation") is False,
      "deployment.yaml: allowPrivilegeEscalation must be false")
check(c_sc.get("capabilities", {}).get("drop") == ["ALL"],
      "deployment.yaml: capabilities must drop ALL")

resources = c.get("resources", {})
for kind in ("requests", "limits"):
    for res in ("cpu", "memory"):
        check(res in resources.get(kind, {}), f"deployment.yaml: resources.{kind}.{res} missing")

# Figures the resource comments cite must still be in docs/benchmarks.md.
bench = (ROOT / "docs" / "benchmarks.md").read_text()
text = (KUBE / "deployment.yaml").read_text()
cited = re.findall(r"(\d[\d,.]*\d)(?= MB| requests/s| copies)", text)
check(len(cited) >= 4, f"deployment.yaml: expected benchmark figures in comments, found {cited}")
for figure in cited:
    check(figure in bench, f"deployment.yaml cites '{figure}', not found in docs/benchmarks.md")

secret_refs = [e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e]

# --- Secret -----------------------------------------------------------------------------------
secret = one("secret.yaml", "Secret")
check(secret.get("metadata", {}).get("name") in secret_refs,
      f"deployment.yaml: envFrom does not name the Secret {secret.get('metadata', {}).get('name')}")
keys = {**secret.get("stringData", {}), **secret.get("data", {})}
check({"GEMINI_API_KEYS", "POLLUX_CLIENT_KEYS"} <= keys.keys(),
      "secret.yaml: needs GEMINI_API_KEYS and POLLUX_CLIENT_KEYS")
for name, value in keys.items():
    check(name in ENV_NAMES, f"secret.yaml: {name} is not read by pollux (config.rs)")
    check("REPLACE_WITH" in str(value), f"secret.yaml: {name} should hold a placeholder")

# --- Service, PodDisruptionBudget, HorizontalPodAutoscaler ------------------------------------
service = one("service.yaml", "Service")
check(sub(pod_labels, service.get("spec", {}).get("selector", {})),
      "service.yaml: selector does not match the pod labels")
for port in service.get("spec", {}).get("ports", []):
    check(port.get("targetPort") in ports or port.get("targetPort") in ports.values(),
          f"service.yaml: targetPort {port.get('targetPort')} is not a container port")

pdb = one("pdb.yaml", "PodDisruptionBudget")
check(sub(pod_labels, pdb.get("spec", {}).get("selector", {}).get("matchLabels", {})),
      "pdb.yaml: selector does not match the pod labels")

hpa = one("hpa.yaml", "HorizontalPodAutoscaler")
target = hpa.get("spec", {}).get("scaleTargetRef", {})
check((target.get("kind"), target.get("name")) == ("Deployment", deploy["metadata"]["name"]),
      "hpa.yaml: scaleTargetRef is not the pollux Deployment")
metrics = [m.get("resource", {}).get("name") for m in hpa.get("spec", {}).get("metrics", [])]
check(metrics == ["cpu"], f"hpa.yaml: expected one cpu metric, found {metrics}")
check(hpa.get("spec", {}).get("minReplicas", 1) >= 2,
      "hpa.yaml: minReplicas below 2 leaves nothing serving while the PDB's one pod drains")

# --- Redis and kustomization ------------------------------------------------------------------
redis_service = [d for d in load("redis.yaml") if d.get("kind") == "Service"]
redis_deploy = [d for d in load("redis.yaml") if d.get("kind") == "Deployment"]
check(len(redis_service) == 1 and len(redis_deploy) == 1,
      "redis.yaml: expected one Deployment and one Service")
if redis_service and redis_deploy:
    rs = redis_service[0]
    state = env.get("POLLUX_STATE", "")
    url = re.fullmatch(r"redis://([\w.-]+):(\d+)(/\d+)?", state)
    check(url is not None, f"deployment.yaml: POLLUX_STATE '{state}' is not redis://HOST:PORT/DB")
    if url:
        check(url.group(1) == rs["metadata"]["name"],
              f"deployment.yaml: POLLUX_STATE names {url.group(1)}, the Redis Service is "
              f"{rs['metadata']['name']}")
        check(int(url.group(2)) in [p.get("port") for p in rs.get("spec", {}).get("ports", [])],
              f"deployment.yaml: POLLUX_STATE port {url.group(2)} is not the Redis Service's")
    redis_labels = redis_deploy[0]["spec"]["template"]["metadata"]["labels"]
    check(sub(redis_labels, rs.get("spec", {}).get("selector", {})),
          "redis.yaml: the Service's selector does not match the Redis pods")
    check(not sub(pod_labels, rs.get("spec", {}).get("selector", {})) and
          not sub(redis_labels, service.get("spec", {}).get("selector", {})),
          "redis.yaml: the pollux and Redis selectors overlap")
kust = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
for res in kust.get("resources", []):
    check((KUBE / res).is_file(), f"kustomization.yaml: {res} does not exist")
check("secret.yaml" not in kust.get("resources", []),
      "kustomization.yaml: the Secret is a template with placeholders, not applied as is")
check({f.name for f in KUBE.glob("*.yaml")} - {"kustomization.yaml", "secret.yaml"}
      <= set(kust.get("resources", [])), "kustomization.yaml: a manifest is missing from it")

# --- systemd unit -----------------------------------------------------------------------------
unit = (ROOT / "deploy" / "systemd" / "pollux.service").read_text()
settings: dict[str, list[str]] = {}
for line in unit.splitlines():
    if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
        key, value = line.split("=", 1)
        settings.setdefault(key.strip(), []).append(value.strip())
unit_env = dict(v.split("=", 1) for v in settings.get("Environment", []))
for name in unit_env:
    check(name in ENV_NAMES, f"pollux.service: Environment {name} is not read by pollux")
example = (ROOT / "deploy" / "systemd" / "pollux.env.example").read_text()
for name in re.findall(r"^#?([A-Z][A-Z0-9_]+)=", example, re.M):
    check(name in ENV_NAMES, f"pollux.env.example: {name} is not read by pollux")
unit_grace = int(unit_env.get("POLLUX_SHUTDOWN_GRACE", DEFAULT_GRACE))
stop = settings.get("TimeoutStopSec", ["90s"])[-1]
stop_secs = int(stop.rstrip("s")) if stop.rstrip("s").isdigit() else 0
check(stop_secs > unit_grace,
      f"pollux.service: TimeoutStopSec {stop} must exceed the drain grace {unit_grace} s")
check(settings.get("KillSignal") == ["SIGTERM"], "pollux.service: KillSignal must be SIGTERM")
for key in ("DynamicUser", "NoNewPrivileges"):
    check(settings.get(key) == ["yes"], f"pollux.service: {key}=yes missing")
check(settings.get("ProtectSystem") == ["strict"], "pollux.service: ProtectSystem=strict missing")
check(bool(settings.get("EnvironmentFile")), "pollux.service: EnvironmentFile missing")

for message in FAILED:
    print(f"check_deploy: {message}")
print(f"check_deploy: {'FAILED' if FAILED else 'ok'} ({len(ENV_NAMES)} env names known to pollux)")
sys.exit(1 if FAILED else 0)
