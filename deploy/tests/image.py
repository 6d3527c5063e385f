"""deploy/Dockerfile without a container builder: lint its shape, replay its build stage in a
plain shell, then run the binary as the runtime stage would.

CI has no container builder that can work here (docs/deployment.md, "The container image"),
so this is how `make test-deploy` keeps the Dockerfile honest:

1. Lint (always): two or more stages; the last is distroless or scratch and has no RUN or
   SHELL (nothing needs a shell at run time); its USER is a numeric non-root uid; ENTRYPOINT
   and CMD are exec form; EXPOSE matches POLLUX_LISTEN's port; every ENV of the last stage is
   a variable pollux reads; COPY --from names an earlier stage; a distroless-debian12 runtime
   is built on bookworm (same glibc).
2. Replay (`--replay DIR`): the build stage's WORKDIR, COPY and RUN steps, in order, under
   DIR as the stage's root: COPY takes the files from the repository (the build context,
   minus .dockerignore), RUN runs under /bin/sh -c in the mapped WORKDIR with the stage's ARG
   and ENV values (CARGO_TARGET_DIR unset, as in the image). DIR is kept, so a second run
   rebuilds only what changed. Then the runtime stage's COPY --from steps fill a fresh root.
3. Run: the copied binary needs only the libraries distroless/cc ships, and no glibc newer
   than Debian 12's; started the way the image starts it (ENTRYPOINT, the image's ENV, its
   USER via setpriv when run as root, its root as working directory), it validates its
   configuration, refuses to serve a Gemini key on 0.0.0.0 without client keys, answers
   /healthz and /readyz on a loopback port, refuses a request without a client key, and
   exits 0 on SIGTERM.

Usage: image.py REPO_ROOT [--replay DIR]. Exits 1 if any check failed.
"""

import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve()
REPLAY = Path(sys.argv[3]).resolve() if len(sys.argv) > 3 and sys.argv[2] == "--replay" else None
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
FAILED: list[str] = []

# What gcr.io/distroless/cc-debian12 provides besides the binary: glibc's libraries and
# libgcc_s (https://github.com/GoogleContainerTools/distroless/blob/main/cc/README.md).
DISTROLESS_CC_LIBS = {
    "libc.so.6", "libm.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "libpthread.so.0",
    "libdl.so.2", "librt.so.1", "libutil.so.1",
}
DEBIAN12_GLIBC = (2, 36)


def log(message: str) -> None:
    print(f"image: {message}", flush=True)


def check(ok: bool, message: str) -> bool:
    if not ok:
        FAILED.append(message)
        log(f"FAILED {message}")
    return ok


# --- parsing ----------------------------------------------------------------------------------
def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) pairs: comments dropped, backslash continuations joined."""
    out, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment line inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def substitute(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)",
                  lambda m: variables.get(m.group(1) or m.group(2), ""), value)


def key_values(args: str) -> dict[str, str]:
    """ENV/ARG arguments: `K=V K2="V 2"` or the legacy `K V`."""
    if "=" not in args.split(" ", 1)[0]:
        name, _, value = args.partition(" ")
        return {name: value.strip()}
    pairs = re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', args)
    return {k: v[1:-1] if v.startswith('"') else v for k, v in pairs}


def stages(text: str) -> tuple[dict[str, str], list[dict]]:
    global_args: dict[str, str] = {}
    out: list[dict] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            words = args.split()
            flags = [w for w in words if w.startswith("--")]
            words = [w for w in words if not w.startswith("--")]
            named = len(words) >= 3 and words[1].upper() == "AS"
            name = words[2] if named else f"stage{len(out)}"
            out.append({"base": substitute(words[0], global_args), "name": name,
                        "flags": flags, "steps": []})
        elif not out:
            if keyword == "ARG":
                global_args.update(key_values(args))
        else:
            out[-1]["steps"].append((keyword, args))
    return global_args, out


def binary_env() -> set[str]:
    source = (ROOT / "crates" / "server" / "src" / "config.rs").read_text()
    return set(re.findall(r'env = "([A-Z0-9_]+)"', source)) | {"RUST_LOG"}


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


# --- lint -------------------------------------------------------------------------------------
def lint(global_args: dict[str, str], all_stages: list[dict]) -> dict:
    check(len(all_stages) >= 2, f"expected a multi-stage build, found {len(all_stages)} stage(s)")
    final = all_stages[-1]
    base = final["base"]
    check(base == "scratch" or base.startswith("gcr.io/distroless/"),
          f"the runtime stage should be distroless or scratch, not {base}")
    keywords = [k for k, _ in final["steps"]]
    check("RUN" not in keywords and "SHELL" not in keywords,
          "the runtime stage must not RUN anything (no shell at run time)")
    users = [a for k, a in final["steps"] if k == "USER"]
    user = users[-1] if users else ""
    uid = user.split(":")[0]
    check(uid.isdigit() and int(uid) != 0, f"the runtime stage's USER should be a numeric "
          f"non-root uid (for runAsNonRoot), not '{user or 'unset (root)'}'")
    entry = [a for k, a in final["steps"] if k == "ENTRYPOINT"]
    entrypoint = exec_form(entry[-1]) if entry else None
    check(bool(entrypoint), "ENTRYPOINT must be in exec form (JSON array): there is no shell")
    for k, a in final["steps"]:
        if k == "CMD":
            check(exec_form(a) is not None, "CMD must be in exec form (JSON array)")
    env: dict[str, str] = {}
    for k, a in final["steps"]:
        if k == "ENV":
            env.update(key_values(a))
    known = binary_env()
    for name in env:
        check(name in known, f"ENV {name} is not read by pollux (crates/server/src/config.rs)")
    exposed = [a.split("/")[0] for k, a in final["steps"] if k == "EXPOSE"]
    listen_port = env.get("POLLUX_LISTEN", "127.0.0.1:8080").rsplit(":", 1)[-1]
    check(exposed == [listen_port], f"EXPOSE {exposed} is not POLLUX_LISTEN's port {listen_port}")
    check(env.get("POLLUX_LISTEN", "").startswith("0.0.0.0:"),
          "ENV POLLUX_LISTEN should listen on 0.0.0.0 inside the container")
    names = [s["name"] for s in all_stages[:-1]]
    for k, a in final["steps"]:
        if k == "COPY" and "--from=" in a:
            source = re.search(r"--from=(\S+)", a).group(1)
            check(source in names, f"COPY --from={source} names no earlier stage")
    if "debian12" in base:
        for s in all_stages[:-1]:
            check("bookworm" in s["base"], f"stage {s['name']} ({s['base']}) should be Debian 12 "
                  "(bookworm) like the runtime, so the binary needs no newer glibc")
    log(f"lint: {len(all_stages)} stages, runtime {base}, USER {user}, ENTRYPOINT {entrypoint}")
    return {"env": env, "user": user, "entrypoint": entrypoint or []}


# --- replay -----------------------------------------------------------------------------------
def ignored_patterns() -> list[str]:
    path = ROOT / ".dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def is_ignored(relative: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, pattern + "/*"):
            return True
        if pattern.startswith("**/"):
            tail = pattern[3:]
            parts = relative.split("/")
            if any(fnmatch.fnmatch(p, tail) for p in parts):
                return True
    return False


def copy_into(sources: list[Path], dest: Path, context: Path | None) -> None:
    """Docker's COPY: a directory's contents go into dest; files into dest/ or onto dest."""
    patterns = ignored_patterns() if context else []
    into_dir = len(sources) > 1 or str(dest).endswith("/") or dest.is_dir()
    for src in sources:
        target = dest / src.name if into_dir and src.is_file() else dest
        if src.is_dir():
            if target.exists():
                shutil.rmtree(target)

            def ignore(directory: str, names: list[str]) -> list[str]:
                if context is None:
                    return []
                base = Path(directory).relative_to(context).as_posix()
                prefix = "" if base == "." else base + "/"
                return [n for n in names if is_ignored(prefix + n, patterns)]

            shutil.copytree(src, target, ignore=ignore, symlinks=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def stage_path(root: Path, workdir: str, path: str) -> Path:
    absolute = path if path.startswith("/") else f"{workdir.rstrip('/')}/{path}"
    keep_slash = "/" if path.endswith("/") else ""
    return Path(str(root / absolute.lstrip("/")) + keep_slash)


def replay(global_args: dict[str, str], all_stages: list[dict], workroot: Path,
           runtime_root: Path) -> None:
    roots: dict[str, Path] = {}
    for index, stage in enumerate(all_stages):
        final = index == len(all_stages) - 1
        root = runtime_root if final else workroot / stage["name"]
        root.mkdir(parents=True, exist_ok=True)
        roots[stage["name"]] = root
        variables = dict(global_args)
        workdir = "/"
        for keyword, args in stage["steps"]:
            if keyword in ("ARG", "ENV"):
                variables.update({k: substitute(v, variables)
                                  for k, v in key_values(args).items()})
            elif keyword == "WORKDIR":
                workdir = substitute(args, variables)
                stage_path(root, "/", workdir).mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY":
                words = [substitute(w, variables) for w in args.split()]
                source_stage = next((w.split("=", 1)[1] for w in words
                                     if w.startswith("--from=")), None)
                words = [w for w in words if not w.startswith("--")]
                *srcs, dest = words
                if source_stage is not None:
                    sources = [stage_path(roots[source_stage], "/", s) for s in srcs]
                    context = None
                else:
                    sources = [ROOT / s for s in srcs]
                    context = ROOT
                for src in sources:
                    check(src.exists(), f"stage {stage['name']}: COPY source {src} is missing")
                log(f"{stage['name']}: COPY {' '.join(srcs)} {dest}")
                copy_into(sources, stage_path(root, workdir, dest), context)
            elif keyword == "RUN":
                command = re.sub(r"^(--\S+\s+)+", "", args)
                env = {k: v for k, v in os.environ.items()
                       if k not in ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR")}
                env.update(variables)
                cwd = stage_path(root, "/", workdir)
                log(f"{stage['name']}: RUN {command}   (in {cwd})")
                status = subprocess.run(["/bin/sh", "-c", command], cwd=cwd, env=env).returncode
                if not check(status == 0, f"stage {stage['name']}: RUN exited {status}"):
                    return


# --- the binary as the image runs it ----------------------------------------------------------
def libraries(binary: Path) -> None:
    dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True)
    needed = set(re.findall(r"\(NEEDED\).*\[(.+?)\]", dynamic.stdout))
    check(needed <= DISTROLESS_CC_LIBS,
          f"the binary needs {sorted(needed - DISTROLESS_CC_LIBS)}, not in distroless/cc")
    symbols = subprocess.run(["objdump", "-T", str(binary)], capture_output=True, text=True)
    versions = {tuple(int(x) for x in v.split("."))
                for v in re.findall(r"GLIBC_(\d+\.\d+(?:\.\d+)?)", symbols.stdout)}
    newest = max(versions, default=(0,))
    check(newest[:2] <= DEBIAN12_GLIBC,
          f"the binary needs glibc {newest}, newer than Debian 12's {DEBIAN12_GLIBC}")
    log(f"binary links {sorted(needed)}, needs glibc <= {'.'.join(map(str, newest))}")


def as_user(user: str) -> list[str]:
    if os.geteuid() != 0:
        log(f"not root: running as uid {os.geteuid()} instead of the image's USER {user}")
        return []
    uid, _, gid = user.partition(":")
    return ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups", "--"]


def run_image(image: dict, runtime_root: Path) -> None:
    entry = image["entrypoint"]
    binary = runtime_root / entry[0].lstrip("/")
    if not check(binary.is_file(), f"ENTRYPOINT {entry[0]} is not in the runtime stage"):
        return
    libraries(binary)
    argv = as_user(image["user"]) + [str(binary), *entry[1:]]

    def run(extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv + list(args), env={**image["env"], **extra_env},
                              cwd=runtime_root, capture_output=True, text=True, timeout=30)

    plain = run({}, "check-config")
    check(plain.returncode == 0, f"check-config with the image's ENV exited {plain.returncode}: "
          f"{plain.stderr.strip()[-300:]}")
    exposed = run({"GEMINI_API_KEY": "test-key"}, "check-config")
    check(exposed.returncode == 2 and "refusing to listen on 0.0.0.0" in exposed.stderr,
          "a Gemini key on 0.0.0.0 without client keys should be refused at start-up "
          f"(exit {exposed.returncode})")

    env = {**image["env"], "POLLUX_LISTEN": "127.0.0.1:0", "GEMINI_API_KEY": "test-key",
           "POLLUX_CLIENT_KEYS": "test-client-key", "GEMINI_BASE_URL": "http://127.0.0.1:9"}
    proc = subprocess.Popen(argv, env=env, cwd=runtime_root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    address: list[str] = []
    ready = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            found = re.search(r"pollux listening on (http://127\.0\.0\.1:\d+)", line)
            if found and not address:
                address.append(found.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        ready.wait(20)
        if not check(bool(address), "pollux did not report its address: " + "".join(lines)[-500:]):
            return
        base = address[0]

        def get(path: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(base + path, timeout=5) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()

        status, body = get("/healthz")
        check(status == 200 and json.loads(body) == {"status": "ok"},
              f"/healthz answered {status} {body}")
        status, body = get("/readyz")
        check(status == 200 and json.loads(body)["status"] == "ready"
              and json.loads(body)["state"] == {"kind": "memory"},
              f"/readyz answered {status} {body}")
        status, body = get("/v1/models")
        check(status == 401, f"/v1/models without a client key answered {status}, expected 401")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        check(code == 0, f"pollux exited {code} on SIGTERM, expected 0")
        log(f"ran {binary.name} as the image would: /healthz, /readyz, 401 without a client "
            f"key, exit {code} on SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    global_args, all_stages = stages(DOCKERFILE.read_text())
    image = lint(global_args, all_stages)
    if REPLAY is not None and not FAILED:
        rust = global_args.get("RUST_VERSION")
        local = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout
        log(f"the image builds with Rust {rust}; this shell has {local.strip()}")
        with tempfile.TemporaryDirectory(prefix="pollux-image-") as tmp:
            runtime_root = Path(tmp) / "rootfs"
            runtime_root.mkdir()
            # The image's user must be able to reach its files, as in the image.
            os.chmod(tmp, 0o755)
            replay(global_args, all_stages, REPLAY, runtime_root)
            if not FAILED:
                run_image(image, runtime_root)
    log("FAILED" if FAILED else "ok")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
