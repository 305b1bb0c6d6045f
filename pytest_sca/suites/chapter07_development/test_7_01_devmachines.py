"""7.1 开发机 Development machines."""

from __future__ import annotations

import re

import pytest

from pytest_sca.capabilities import (
    DevMachine,
    DevMachines,
    ExecResult,
    Jobs,
    Resources,
    TargetError,
    WaitTimeout,
    WebAnswer,
    wait_for,
)
from pytest_sca.fixtures import CheckContext

from ..library import DEVICE_VARIABLES, SMALL, json_lines, python

#: Device files of accelerators inside a container.
DEVICE_FILES = re.compile(r"^(nvidia\d+|davinci\d+|cambricon_dev\d+|mlu\d+)$")
#: Polls a URL inside the machine (no proxy) for up to 10 s; exits 1 if it never answers.
WAIT_FOR_URL = """import sys, time, urllib.request as u
opener = u.build_opener(u.ProxyHandler({}))
for _ in range(100):
    try:
        opener.open(sys.argv[1], timeout=1).read()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
"""


def _machine(sca: CheckContext, devmachines: DevMachines, image: str, resources: Resources,
             suffix: str) -> DevMachine:
    """Create a dev machine (the adapter removes it after the check) and wait until it runs."""
    machine = devmachines.create(sca.name(suffix), image, resources, labels=sca.labels)
    return devmachines.wait(machine["id"], timeout=120)


def _shell(devmachines: DevMachines, machine_id: str, script: str,
           timeout: float = 60) -> ExecResult:
    return devmachines.exec(machine_id, ["sh", "-c", script], timeout=timeout)


def visible_devices(environment: str) -> int:
    """How many accelerators ``env`` output and a ``/dev`` listing show (after ``__DEV__``)."""
    env_part, _, dev_part = environment.partition("__DEV__")
    counts = [0]
    for line in env_part.splitlines():
        name, _, value = line.partition("=")
        if name in DEVICE_VARIABLES and value.strip() not in ("", "void", "none", "all"):
            counts.append(len([v for v in value.split(",") if v.strip()]))
    counts.append(len([n for n in dev_part.split() if DEVICE_FILES.match(n)]))
    return max(counts)


#: Prints, as one JSON line, what an image carries that a process in it can read: its OS
#: release, its Python's version and every installed Python distribution with its version.
IMAGE_CONTENT = """import importlib.metadata as m, json, platform
release = {}
for path in ("/etc/os-release", "/usr/lib/os-release"):
    try:
        with open(path, encoding="utf-8") as f:
            release = dict(l.strip().split("=", 1) for l in f if "=" in l)
        break
    except OSError:
        pass
print(json.dumps({"sca-image-content": {
    "os": {k: release[k].strip('"') for k in ("ID", "VERSION_ID") if k in release},
    "python": platform.python_version(),
    "distributions": {(d.metadata["Name"] or "").lower(): d.version
                      for d in m.distributions() if d.metadata["Name"]}}}), flush=True)
"""
#: How long the reference job in the probe image may take (a cold node pulls the image).
REFERENCE_WAIT_S = 300.0


def _image_content(output: str) -> dict[str, object] | None:
    """The :data:`IMAGE_CONTENT` report in ``output`` (the last one), or None."""
    found = [c for c in json_lines(output, "sca-image-content") if isinstance(c, dict)]
    return found[-1] if found else None


def _reference_content(sca: CheckContext, jobs: Jobs, image: str) -> dict[str, object]:
    """What ``image`` carries, as a job the platform runs in it reads it; ``TargetError``
    when the job does not say."""
    job = jobs.submit(sca.name("image-content"), image, python(IMAGE_CONTENT), SMALL,
                      labels=sca.labels)
    done = jobs.wait(job["id"], timeout=REFERENCE_WAIT_S)
    content = _image_content(jobs.logs(job["id"]))
    if content is None:
        raise TargetError(f"[7.1.a] a job in {image} ended {done.get('status')} without "
                          "saying what the image carries: nothing to compare the dev machine "
                          "with")
    return content


def names_other_image(name: str, image: str) -> bool:
    """Whether the reference ``name`` names another image than ``image`` (``name:tag``): a
    registry prefix may come before it, a digest after it, or a digest in place of its tag."""
    bare = name.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    repository = image.rsplit(":", 1)[0] if ":" in last else image

    def is_(reference: str) -> bool:
        return bare == reference or bare.endswith("/" + reference)
    return not (is_(image) or ("@" in name and is_(repository)))


def content_differences(expected: dict[str, object], inside: dict[str, object]) -> list[str]:
    """Where the dev machine's content contradicts the image's: another OS release or Python,
    a distribution of the image missing or at another version. The machine may carry more
    (tools the platform adds to a dev machine)."""
    wrong = [f"{what} {inside.get(what)!r}, the image {expected.get(what)!r}"
             for what in ("os", "python") if expected.get(what) and inside.get(what)
             != expected.get(what)]
    ours, theirs = expected.get("distributions"), inside.get("distributions")
    if isinstance(ours, dict) and isinstance(theirs, dict):
        wrong += [f"{name} {theirs.get(name)!r}, the image {version!r}"
                  for name, version in sorted(ours.items()) if theirs.get(name) != version]
    return wrong


@pytest.mark.clause("7.1.a")
@pytest.mark.mutating
def test_devmachine_has_image_and_accelerators(sca: CheckContext, devmachines: DevMachines,
                                               jobs: Jobs, probe_image: str) -> None:
    """A dev machine with an image and N cards reaches running; inside, N cards, and the
    image: what a process inside reads of it (OS release, Python, installed distributions)
    is what a job the platform runs in the same image reads, and an image variable inside
    (``JUPYTER_IMAGE``) and the record, where they name one, name it. The record alone never
    passes it: nothing to read inside is ``error``."""
    cards = sca.settings.devmachines.accelerators
    machine = _machine(sca, devmachines, probe_image, {**SMALL, "accelerators": cards},
                       "dev-image")
    inside = _shell(devmachines, machine["id"], "env; echo __DEV__; ls /dev 2>/dev/null")
    sca.evidence("dev machine", {k: machine.get(k) for k in ("id", "status", "image",
                                                              "node_id", "accelerators")})
    if inside.get("exit_code") != 0:
        raise TargetError(f"[7.1.a] could not look inside dev machine {machine['id']}: a shell "
                          f"command exited {inside.get('exit_code')}")
    output = inside.get("output", "")
    env = dict(line.partition("=")[::2] for line in output.split("__DEV__")[0].splitlines()
               if "=" in line)
    image_inside = env.get("JUPYTER_IMAGE") or env.get("SCA_IMAGE")
    seen = visible_devices(output)
    sca.evidence("inside", {"image variable": image_inside, "visible accelerators": seen})
    assert seen == cards, (
        f"[7.1.a] the dev machine sees {seen} of the {cards} accelerators it requested")
    named = {"image variable inside": image_inside, "record": machine.get("image")}
    other = {where: name for where, name in named.items()
             if name and names_other_image(name, probe_image)}
    assert not other, f"[7.1.a] the dev machine is not said to run {probe_image!r}: {other}"
    content = _image_content(devmachines.exec(
        machine["id"], ["python3", "-c", IMAGE_CONTENT], timeout=60).get("output", ""))
    if content is None:
        raise TargetError(f"[7.1.a] could not read inside dev machine {machine['id']} what "
                          "its image carries (python3 printed no report): which image runs "
                          "is not known from the inside, and the record alone is no "
                          "observation")
    expected = _reference_content(sca, jobs, probe_image)
    sca.evidence("image content", {"inside the dev machine": content,
                                   f"a job in {probe_image}": expected})
    wrong = content_differences(expected, content)
    assert not wrong, (
        f"[7.1.a] the dev machine does not carry what {probe_image} carries: "
        f"{'; '.join(wrong[:5])}")


@pytest.mark.clause("7.1.b")
@pytest.mark.mutating
def test_docker_builds_inside_devmachine(sca: CheckContext, devmachines: DevMachines,
                                         probe_image: str) -> None:
    """Inside a dev machine `docker version` works and a one-step image builds and is listed."""
    machine = _machine(sca, devmachines, probe_image, SMALL, "dev-docker")
    version = _shell(devmachines, machine["id"], "docker version 2>&1")
    sca.evidence("docker version", version["output"][-2000:])
    assert version["exit_code"] == 0, (
        f"[7.1.b] `docker version` failed inside the dev machine (exit {version['exit_code']}): "
        f"{version['output'].strip()[-160:]}")
    tag = f"{sca.name('probe')}:v1"
    build = _shell(devmachines, machine["id"], (
        "mkdir -p sca-image && cd sca-image && echo " + sca.run_id + " > token.txt && "
        "printf 'FROM scratch\\nCOPY token.txt /token.txt\\n' > Dockerfile && "
        f"docker build -q -t {tag} . 2>&1 && docker images 2>&1"), timeout=240)
    sca.evidence("docker build", build["output"][-2000:])
    assert build["exit_code"] == 0 and tag.split(":")[0] in build["output"], (
        f"[7.1.b] `docker build` of a one-step image failed inside the dev machine "
        f"(exit {build['exit_code']}): {build['output'].strip()[-160:]}")


@pytest.mark.clause("7.1.c")
@pytest.mark.mutating
def test_port_in_devmachine_is_reachable(sca: CheckContext, devmachines: DevMachines,
                                         probe_image: str) -> None:
    """An HTTP server started inside (and seen answering inside) answers through the
    platform's exposed URL with the token written inside."""
    machine = _machine(sca, devmachines, probe_image, SMALL, "dev-port")
    exposed = devmachines.expose(machine["id"], sca.settings.devmachines.port)
    token = f"sca-token-{sca.run_id}"
    devmachines.exec(machine["id"], ["sh", "-c", (
        f"echo {token} > sca-token.txt && exec python3 -m http.server {exposed['port']} "
        "--bind ${SCA_BIND_ADDRESS:-0.0.0.0}")], background=True)
    # Wait inside until the server answers, so that the exposed URL is asked only once it can.
    local = f"http://127.0.0.1:{exposed['port']}/sca-token.txt"
    ready = devmachines.exec(machine["id"], ["python3", "-c", WAIT_FOR_URL, local], timeout=30)
    if ready.get("exit_code") != 0:
        raise TargetError(f"[7.1.c] the HTTP server started inside dev machine {machine['id']} "
                          f"never answered there (exit {ready.get('exit_code')})")
    url = exposed["url"] + "sca-token.txt"
    try:
        answer = wait_for(lambda: devmachines.open_url(url),
                          lambda a: a.status == 200 and token in a.text,
                          sca.settings.devmachines.expose_timeout_s,
                          lambda a: f"the exposed URL answered {a.status}", first=0.25,
                          longest=1.0)
    except WaitTimeout as waited:
        last = waited.last
        answer = last if isinstance(last, WebAnswer) else devmachines.open_url(url)
    sca.evidence("exposed URL", {"url": exposed["url"], "status": answer.status,
                                 "body": answer.text[:200]})
    # A gateway error here is the observation itself: the server answers inside (seen above)
    # and the platform's forward to it does not.
    assert answer.status == 200 and token in answer.text, (
        f"[7.1.c] the exposed URL did not return the token written inside: last answer "
        f"{answer.status} {answer.text.strip()[:120]}")
