"""7.1 开发机 Development machines."""

from __future__ import annotations

import re

import pytest

from pytest_sca.capabilities import (
    DevMachine,
    DevMachines,
    ExecResult,
    Resources,
    TargetError,
    WaitTimeout,
    WebAnswer,
    wait_for,
)
from pytest_sca.fixtures import CheckContext

from ..library import DEVICE_VARIABLES, SMALL

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


@pytest.mark.clause("7.1.a")
@pytest.mark.mutating
def test_devmachine_has_image_and_accelerators(sca: CheckContext, devmachines: DevMachines,
                                               probe_image: str) -> None:
    """A dev machine with an image and N cards reaches running; inside, the image and N cards."""
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
    sca.evidence("inside", {"image": image_inside, "visible accelerators": seen})
    assert seen == cards, (
        f"[7.1.a] the dev machine sees {seen} of the {cards} accelerators it requested")
    if image_inside is None:
        sca.evidence("image", "no JUPYTER_IMAGE inside: image checked from the record only")
        image_inside = machine.get("image")
    assert image_inside and image_inside.endswith(probe_image), (
        f"[7.1.a] the dev machine runs image {image_inside!r}, not {probe_image!r}")


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
