"""6.5 资源调度 Resource scheduling."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest

from pytest_sca.capabilities import (
    TERMINAL_JOB_STATUSES,
    Clusters,
    Compute,
    ImageCache,
    Images,
    Job,
    JobEvent,
    Jobs,
    RefusalReason,
    Refused,
    Resources,
    Scheduling,
    TargetError,
    Tenancy,
    Unsupported,
    WaitTimeout,
    wait_for,
)
from pytest_sca.fixtures import CheckContext
from pytest_sca.verdicts import NotAssessed

from ..conftest import MakeProbeUser
from ..library import (
    SeenByJob,
    print_visible_devices_then_sleep,
    printed_visible_devices,
    seen_by_job,
)
from .conftest import (
    CardPool,
    Submit,
    card_pools,
    cards_listed,
    cards_of,
    node_of,
    sleeper,
)
from .test_6_03_images import Pull, timed_pull, unseen_speedup

#: How long an unschedulable job may take to say why.
REASON_WAIT_S = 5.0
#: How long probe jobs that must stay up run (the check stops them; the adapter removes them).
HOLD_S = 600
#: Jobs queued behind the held capacity, in submission order: neither first-in-first-out nor
#: last-in-first-out is their priority order, so only a priority queue starts them 100, 50.
QUEUED = (("low", 1), ("high", 100), ("mid", 50))
#: Statuses of a job that has started (or already ran to its end).
STARTED = frozenset({"running", "succeeded"})


def _free_pool(compute: Compute, *, single_node: bool = False) -> CardPool:
    """The smallest pool of one model whose cards are all free (on one node if asked)."""
    pools = [p for p in card_pools(compute.list_nodes())
             if p.free == p.cards and (len(p.nodes) == 1 or not single_node)]
    if not pools:
        raise TargetError("no accelerator model has all its cards free: the platform is busy, "
                          "evaluate it when one model is idle")
    return pools[0]


def _reasons(events: list[JobEvent]) -> list[str]:
    return [f"{e.get('reason')}: {e.get('message')}" for e in events
            if e.get("type") != "Created"]


#: Words by which a scheduler's reason names accelerators, besides the requested model and
#: the resource name the inventory gives its cards (``nvidia.com/gpu``, a GRES).
CARD_WORDS = ("accelerator", "card", "gpu", "npu", "mlu", "dcu", "gres")


def _names_the_cards(reason: str, pool: CardPool) -> bool:
    """Whether ``reason`` names the unmet resource: the card model, the cards' resource name,
    or accelerators in a scheduler's words (case-insensitive)."""
    said = reason.lower()
    resources = {str(c.get("resource")) for n in pool.nodes for c in pool.of(n)
                 if c.get("resource")}
    return any(word.lower() in said for word in (pool.model, *resources, *CARD_WORDS))


@pytest.mark.clause("6.5.a")
@pytest.mark.mutating
def test_schedules_by_request(sca: CheckContext, jobs: Jobs, compute: Compute,
                              submit: Submit) -> None:
    """A job requesting a card model lands on a node with that model and holds cards of it;
    a request no node can hold stays pending with a reason that names the unmet resource
    (the cards: their model, their resource name or accelerators in so many words)."""
    start_wait = sca.settings.jobs.start_timeout_s
    pools = card_pools(compute.list_nodes())
    pool = next((p for p in pools if p.free), None)
    if pool is None:
        raise TargetError("[6.5.a] no free accelerator to schedule a probe on")
    placed = submit("by-model", sleeper(0.2), {"cpu": 1, "memory_gib": 1, "accelerators": 1,
                                               "accelerator_model": pool.model})
    placed = jobs.wait(placed["id"], until={"running", "succeeded", "failed"},
                       timeout=start_wait)
    node_id = node_of(placed)
    if node_id is None:
        raise TargetError(f"[6.5.a] job {placed['id']} {placed.get('status')} names no node")
    node = compute.get_node(node_id)
    models = sorted({str(c.get("model")) for c in node.get("accelerators") or []})
    held = cards_of(placed)
    held_models = sorted({str(c.get("model")) for c in node.get("accelerators") or []
                          if str(c.get("index")) in held})
    widest = max(len(pool.of(n)) for n in pool.nodes)
    impossible = submit("impossible", sleeper(0.2), {
        "cpu": 1, "memory_gib": 1, "accelerators": widest + 1, "accelerator_model": pool.model})
    try:
        reasons = _reasons(wait_for(lambda: jobs.events(impossible["id"]),
                                    lambda events: bool(_reasons(events)), REASON_WAIT_S,
                                    lambda events: f"{len(events)} event(s), none after Created"))
    except WaitTimeout:
        reasons = []
    waiting = jobs.get(impossible["id"])
    sca.evidence("placement", {"requested": pool.model, "node": node_id, "models": models,
                               "cards held": held, "their models": held_models,
                               "impossible": waiting.get("status"), "reasons": reasons})
    assert pool.model in models, (
        f"[6.5.a] job requesting {pool.model} landed on {node_id} ({', '.join(models)})")
    assert not held or held_models == [pool.model], (
        f"[6.5.a] job requesting {pool.model} holds cards {held} of {node_id}: {held_models}")
    assert waiting.get("status") == "pending", (
        f"[6.5.a] a request for {widest + 1} {pool.model} cards on one node is "
        f"{waiting.get('status')}, not pending")
    assert reasons, f"[6.5.a] job {impossible['id']} is pending without a reason"
    assert any(_names_the_cards(r, pool) for r in reasons), (
        f"[6.5.a] job {impossible['id']} is pending for reasons that do not name the "
        f"{pool.model} cards it lacks: {reasons[:3]}")


def _next_to_start(jobs: Jobs, waiting: dict[str, str], start_wait: float) -> str:
    """The name of the one job of ``waiting`` (name → id) that starts next within
    ``start_wait`` s; ``error`` when none does or several started at once (their order
    cannot be told)."""

    def read() -> dict[str, Job]:
        return {name: jobs.get(job_id) for name, job_id in waiting.items()}

    seen = wait_for(read, lambda now: any(j.get("status") in STARTED for j in now.values()),
                    start_wait, lambda now: "no queued job started once capacity was free "
                    f"({ {n: j.get('status') for n, j in now.items()} })")
    started = [name for name, job in seen.items() if job.get("status") in STARTED]
    if len(started) > 1:
        raise TargetError(f"[6.5.b] inconclusive: {started} started at once although each "
                          "needs every card of the model")
    return started[0]


@pytest.mark.clause("6.5.b")
@pytest.mark.disruptive
def test_higher_priority_admitted_first(sca: CheckContext, compute: Compute, tenancy: Tenancy,
                                        probe_tenant: MakeProbeUser, scheduling: Scheduling,
                                        probe_image: str) -> None:
    """While a job holds every card of one model, jobs of priority 1, 100 and 50 queue for
    them, in that order; as capacity frees, the priority-100 job starts first, then the
    priority-50 one. Queued jobs that did not wait make the check inconclusive (error)."""
    start_wait = sca.settings.jobs.start_timeout_s
    pool = _free_pool(compute, single_node=True)
    cards = pool.cards
    user = probe_tenant("prio")
    tenancy.set_quota(user.tenant_id, accelerators=cards * (len(QUEUED) + 1))
    queue = scheduling.acting_as(user.user["api_key"])
    wanted: Resources = {"cpu": 1, "memory_gib": 1, "accelerators": cards,
                         "accelerator_model": pool.model}
    blocker = queue.submit_queued(sca.name("prio-blocker"), probe_image, sleeper(HOLD_S),
                                  wanted, priority=0, labels=sca.labels)
    user.jobs.wait(blocker["id"], until={"running"}, timeout=start_wait)
    ids = {name: queue.submit_queued(sca.name(f"prio-{name}"), probe_image, sleeper(HOLD_S),
                                     wanted, priority=priority, labels=sca.labels)["id"]
           for name, priority in QUEUED}
    before = {name: user.jobs.get(job_id).get("status") for name, job_id in ids.items()}
    holding = user.jobs.get(blocker["id"]).get("status")
    if holding != "running" or any(s in STARTED | TERMINAL_JOB_STATUSES
                                   for s in before.values()):
        raise TargetError(
            f"[6.5.b] inconclusive: the queued jobs did not wait behind the job holding every "
            f"{pool.model} card (it is {holding}; queued: {before}), so no order shows")
    priority = dict(QUEUED)
    order: list[str] = []
    running = blocker["id"]
    for _ in range(2):
        user.jobs.stop(running)
        name = _next_to_start(user.jobs, {n: i for n, i in ids.items() if n not in order},
                              start_wait)
        order.append(name)
        running = ids[name]
    sca.evidence("queue", {"model": pool.model, "cards": cards, "submitted": list(QUEUED),
                           "waiting before": before,
                           "started in order": [(n, priority[n]) for n in order]})
    assert order[0] == "high", (
        f"[6.5.b] the priority-{priority[order[0]]} job started first, not the priority-100 "
        f"job (submitted as priorities {[p for _, p in QUEUED]})")
    assert order[1] == "mid", (
        f"[6.5.b] after the priority-100 job, the priority-{priority[order[1]]} job started, "
        "not the priority-50 job")


#: Cards one node needs for 6.5.c: one taken, four placed.
TOPOLOGY_CARDS = 5


def _topology_pool(compute: Compute) -> tuple[CardPool, list[str]]:
    """A model whose cards are all free on one node, preferring one whose cards list their
    topology group, then one with room for a held card and a 4-card worker; and why the
    cards of those pools that list none do not (the platform's notes, once each)."""
    pools = [p for p in card_pools(compute.list_nodes())
             if p.free == p.cards and len(p.nodes) == 1]
    if not pools:
        return _free_pool(compute, single_node=True), []  # raises: says why none fits

    def rank(pool: CardPool) -> tuple[bool, bool]:
        cards = pool.of(pool.nodes[0])
        return (not all(c.get("topology") for c in cards), len(cards) < TOPOLOGY_CARDS)

    notes = sorted({str(c["topology_note"]) for p in pools for c in p.of(p.nodes[0])
                    if not c.get("topology") and c.get("topology_note")})
    return min(pools, key=rank), notes


#: The levels a card's topology may name, finest first: its PCIe switch (or NVLink domain),
#: its NUMA node, its CPU socket (Slurm's gres.conf ``Cores=`` gives only that).
TOPOLOGY_LEVELS = ("switch", "numa", "socket")


def _group_level(topology: Mapping[str, Mapping[str, str]]) -> str | None:
    """The finest topology level every card of the node names, or None: cards compared by a
    level some of them lack would all fall into one group "None" and pass."""
    return next((level for level in TOPOLOGY_LEVELS
                 if topology and all(t.get(level) for t in topology.values())), None)


#: Cards the 6.5.c worker asks for.
GROUP_CARDS = 4


def _group_problems(seen: SeenByJob, held: list[str], node_id: str,
                    topology: Mapping[str, Mapping[str, str]], level: str) -> list[str]:
    """Why the 4-card worker's placement breaks 6.5.c, judged by the cards the job sees (the
    record only cross-checks them); :class:`TargetError` where what it sees cannot be placed
    in the node's topology. ``held``: the record's cards; ``topology``: the node's cards of
    the model by index (as text)."""
    devices = seen.devices or []
    if len(set(devices)) < GROUP_CARDS:
        return [f"the {GROUP_CARDS}-card worker sees {len(set(devices))} distinct card(s) "
                f"({seen.device_variable or 'no visibility variable set'}: {devices}; its "
                f"record: {held})"]
    strangers = sorted(set(devices) - set(topology))
    if strangers:
        raise TargetError(
            f"[6.5.c] the {GROUP_CARDS}-card worker sees cards {strangers} "
            f"({seen.device_variable}) that name none of the cards {sorted(topology)} of "
            f"{node_id}: their {level} group cannot be told")
    agree = set(devices) == set(held)
    if not agree and not seen.devices_as_recorded:
        raise TargetError(
            f"[6.5.c] the {GROUP_CARDS}-card worker sees cards {devices} through "
            f"{seen.device_variable}, its record lists {held}: a runtime's variable may "
            "number cards otherwise than the platform, so which cards it holds cannot be told")
    problems = []
    groups = sorted({str(topology[d].get(level)) for d in devices})
    if len(groups) != 1:
        problems.append(f"{GROUP_CARDS}-card worker placed across {level} groups {groups} "
                        f"(the cards it sees: {devices} of {node_id})")
    if not agree:
        problems.append(f"the record and the job disagree: the platform records cards "
                        f"{held} for the worker, the job sees {devices}")
    return problems


@pytest.mark.clause("6.5.c")
@pytest.mark.mutating
def test_multi_card_request_stays_in_one_topology_group(sca: CheckContext, jobs: Jobs,
                                                        compute: Compute,
                                                        submit: Submit) -> None:
    """With one card of a node taken, a 4-card worker gets 4 cards of one PCIe switch / NUMA
    group on that node (the finest level every card names: switch, NUMA node or socket), not
    the next four indices across groups: judged by the cards the job itself sees, which the
    platform's record of the job must agree with."""
    start_wait = sca.settings.jobs.start_timeout_s
    pool, notes = _topology_pool(compute)
    node = pool.nodes[0]
    topology = {str(c.get("index")): c.get("topology") or {} for c in pool.of(node)}
    level = _group_level(topology)
    if not all(topology.values()) or level is None:
        sca.not_assessed(f"node {node.get('id')} lists no topology (switch/NUMA) of its "
                         f"{pool.model} cards, nor does another free model"
                         + (f": {'; '.join(notes)}" if notes else ""))
    wanted: Resources = {"cpu": 1, "memory_gib": 1, "accelerator_model": pool.model}
    one = submit("topo-one", sleeper(HOLD_S), {**wanted, "accelerators": 1})
    jobs.wait(one["id"], until={"running"}, timeout=start_wait)
    four = submit("topo-four", print_visible_devices_then_sleep(HOLD_S),
                  {**wanted, "accelerators": GROUP_CARDS})
    four = jobs.wait(four["id"], until={"running", "failed"}, timeout=start_wait)
    if four.get("status") != "running":
        jobs.stop(one["id"])
        raise AssertionError(f"[6.5.c] the {GROUP_CARDS}-card job {four['id']} ended "
                             f"{four.get('status')} instead of running on {node.get('id')}")
    try:
        seen = seen_by_job(printed_visible_devices(jobs, four["id"], start_wait))
    except TargetError as exc:
        raise TargetError(f"[6.5.c] {exc}") from None
    held = cards_of(four)
    sca.evidence("placement", {
        "node": node.get("id"), "ran on (record)": node_of(four), "cards (record)": held,
        "cards (the job sees)": seen.devices, "seen through": seen.device_variable,
        "topology level": level, "topology": topology})
    jobs.stop(one["id"])
    jobs.stop(four["id"])
    assert node_of(four) == node.get("id"), (
        f"[6.5.c] the {GROUP_CARDS}-card worker runs on {node_of(four)}, not on "
        f"{node.get('id')}, the one node with {pool.model} cards")
    if cards_listed(four)[:1] == [None]:
        raise TargetError(f"[6.5.c] the record of the running job {four['id']} does not say "
                          "which cards its worker holds: nothing to cross-check what it sees")
    problems = _group_problems(seen, held, str(node.get("id")), topology, level)
    assert not problems, f"[6.5.c] {'; '.join(problems)}"


@pytest.mark.clause("6.5.d")
@pytest.mark.mutating
def test_one_endpoint_runs_work_on_either_cluster(sca: CheckContext, jobs: Jobs,
                                                  compute: Compute, submit: Submit) -> None:
    """Through the one job endpoint, work for a card model only cluster A has and work for one
    only cluster B has both run, each on its cluster."""
    start_wait = sca.settings.jobs.start_timeout_s
    nodes = compute.list_nodes()
    cluster_of = {str(n.get("id")): n.get("cluster_id") for n in nodes}
    by_cluster: dict[str, CardPool] = {}
    for pool in card_pools(nodes):
        owners = {cluster_of[str(n.get("id"))] for n in pool.nodes}
        owner = owners.pop() if len(owners) == 1 else None
        if owner and pool.free:
            by_cluster.setdefault(owner, pool)
    if len(by_cluster) < 2:
        sca.not_assessed("fewer than two clusters have a card model of their own: declare "
                         "two clusters with distinct accelerator models")
    placed: dict[str, str | None] = {}
    for cluster_id, pool in list(by_cluster.items())[:2]:
        job = submit(f"xc-{pool.model.lower()}", sleeper(0.2), {
            "cpu": 1, "memory_gib": 1, "accelerators": 1, "accelerator_model": pool.model})
        try:
            done = jobs.wait(job["id"], until={"running", "succeeded"}, timeout=start_wait)
        except WaitTimeout as exc:
            last = exc.last if isinstance(exc.last, dict) else {}
            raise AssertionError(f"[6.5.d] job for cluster {cluster_id} stayed "
                                 f"{last.get('status')}") from None
        placed[cluster_id] = cluster_of.get(node_of(done) or "")
    sca.evidence("cross-cluster", placed)
    wrong = {c: p for c, p in placed.items() if c != p}
    assert not wrong, f"[6.5.d] work for a cluster ran elsewhere: {wrong}"


def _share(value: object) -> bool:
    """A weight or utilisation threshold: a number in (0, 1]."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1


#: Separates the names of several targets of one burst rule (Slurm's: its cloud nodes).
TARGET_SEPARATOR = ","


@dataclass
class PlatformNames:
    """What a burst rule may target that the platform has: the names its listings give
    (clusters' ids and names, nodes' ids and host names, the nodes' clusters), the reads by
    which a name they lack may still be found (one cluster, one node), and why a source was
    not read."""

    listed: set[str] = field(default_factory=set)
    reads: list[Callable[[str], object]] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool | None:
        """Whether the platform has ``name``: listed or read back (True); every read answers
        not found (False); a read refused otherwise, or nothing to read it with (None)."""
        if name in self.listed:
            return True
        undecided = not self.reads
        for read in self.reads:
            try:
                read(name)
            except Refused as refusal:
                undecided = undecided or refusal.reason is not RefusalReason.NOT_FOUND
                continue
            except Unsupported:
                undecided = True
                continue
            return True
        return None if undecided else False


def _platform_names(request: pytest.FixtureRequest) -> PlatformNames:
    """The clusters (``clusters``) and nodes (``compute``) the platform has, as far as the
    target serves them."""
    names = PlatformNames()
    try:
        clusters: Clusters = request.getfixturevalue("clusters")
        names.listed |= {str(v) for c in clusters.list_clusters()
                         for v in (c.get("id"), c.get("name")) if v}
        names.reads.append(clusters.get_cluster)
    except (NotAssessed, Unsupported) as no_clusters:
        names.unread.append(f"clusters: {no_clusters}")
    try:
        compute: Compute = request.getfixturevalue("compute")
        names.listed |= {str(v) for n in compute.list_nodes()
                         for v in (n.get("id"), n.get("hostname"), n.get("cluster_id")) if v}
        names.reads.append(compute.get_node)
    except (NotAssessed, Unsupported) as no_compute:
        names.unread.append(f"nodes: {no_compute}")
    return names


@pytest.mark.clause("6.5.e")
def test_burst_policy_is_declared(sca: CheckContext, scheduling: Scheduling,
                                  request: pytest.FixtureRequest) -> None:
    """The platform API shows an enabled burst policy: rules by which off-cloud work uses the
    platform's clusters, each with a weight or utilisation threshold in (0, 1] and a target;
    every target a rule names is a cluster or node the platform has (its listings, else a
    read of that one name). Bursting itself is not driven."""
    policy = scheduling.burst_policy()
    sca.evidence("burst policy", policy)
    rules = [r for r in policy.get("rules") or []
             if r.get("target") and (_share(r.get("weight"))
                                     or _share(r.get("threshold_utilization")))]
    assert policy.get("enabled") is True and rules, (
        "[6.5.e] the platform declares no burst policy with a weight or threshold")
    names = _platform_names(request)
    targets = sorted({t.strip() for r in policy.get("rules") or []
                      for t in str(r.get("target") or "").split(TARGET_SEPARATOR) if t.strip()})
    found = {target: names.has(target) for target in targets}
    absent = [t for t, has in found.items() if has is False]
    undecided = [t for t, has in found.items() if has is None]
    sca.evidence("burst targets", {"found": found, "sources not read": names.unread or "none"})
    if names.unread and (absent or undecided):
        # A name the target's listings lack may be of a kind it does not list.
        sca.evidence("burst targets not compared", f"{absent + undecided} are not among the "
                     f"clusters and nodes the target lists, and it does not list both: the "
                     f"policy's word stands")
        return
    assert not absent, (
        f"[6.5.e] burst rules target what the platform does not have: {absent} (its clusters "
        f"and nodes: {sorted(names.listed)[:12]})")
    if undecided:
        raise TargetError(f"[6.5.e] cannot tell whether the platform has the burst targets "
                          f"{undecided}: reading them was refused otherwise than not found")


#: How much larger one preset image may be than the other for a full pull of one and a lazy
#: pull of the other to be compared on one node: within the check's margin (½), so a size
#: difference alone cannot pass it — and both nodes must show it, each with the roles swapped.
EQUAL_SIZE_RATIO = 1.5


def _image_pair(sca: CheckContext, images: Images) -> tuple[str, str] | None:
    """Two preset images (``name:tag``) of about equal size: the pair whose smaller image is
    largest (the longest pulls stand out most from a round trip). Where the catalogue states
    no preset's size, the first two presets, said in the evidence: the crossing still keeps a
    size difference from passing the check (it can only make it fail). None without two."""
    presets = [i for i in images.list_images() if i.get("preset")]
    sized = [(int(i.get("size_bytes") or 0), f"{i.get('name')}:{i.get('tag')}") for i in presets]
    pairs = [(a, b) for a, b in itertools.combinations(sorted(sized, reverse=True), 2)
             if b[0] > 0 and a[0] <= EQUAL_SIZE_RATIO * b[0]]
    if pairs:
        a, b = max(pairs, key=lambda pair: pair[1][0])
        return a[1], b[1]
    if len(sized) >= 2 and not any(size for size, _ in sized):
        sca.evidence("image sizes", "the catalogue states no preset image's size: the first "
                                    "two presets are compared")
        return sized[0][1], sized[1][1]
    return None


def _cold_node(compute: Compute, imagecache: ImageCache, steps: tuple[tuple[str, str], ...],
               taken: str | None) -> tuple[Pull, ...] | None:
    """The pulls ``steps`` (image, mode), in order, on the first node (not ``taken``) where
    none of them finds any of its layers cached; None when the nodes run out."""
    for node in compute.list_nodes():
        if node["id"] == taken:
            continue
        pulls: list[Pull] = []
        for image, mode in steps:
            pull = timed_pull(imagecache, node["id"], image, mode)
            if pull.get("layers_cached"):
                break
            pulls.append(pull)
        if len(pulls) == len(steps):
            return tuple(pulls)
    return None


def slower_lazy_start(full: Pull, lazy: Pull) -> str | None:
    """What speaks against the lazy start being under half the full one on one node: the
    platform's account, or the check's clock (:func:`unseen_speedup`); None when nothing."""
    if lazy["seconds"] >= 0.5 * full["seconds"]:
        return (f"on node {full['node_id']} the lazy-pull start of {lazy['image']} took "
                f"{lazy['seconds']:.3f} s, the full pull of {full['image']} "
                f"{full['seconds']:.3f} s")
    unseen = unseen_speedup(lazy, full)
    if unseen is not None:
        return (f"on node {full['node_id']} the lazy-pull start of {lazy['image']} is not "
                f"faster than the full pull of {full['image']} on the check's clock: {unseen}")
    return None


@pytest.mark.clause("6.5.f")
@pytest.mark.mutating  # pulls images onto nodes
@pytest.mark.measuring  # start-up times: runs alone under pytest-xdist
def test_lazy_pull_starts_faster(sca: CheckContext, compute: Compute, images: Images,
                                 imagecache: ImageCache) -> None:
    """On each of two nodes without two preset images of about equal size, a lazy-pull start
    of one image is faster than a full-pull start of the other, by the platform's account and
    on the check's own clock; the roles are crossed (node X pulls A full then B lazily, node Y
    A lazily then B full), so neither a faster node nor the larger image nor the order of
    the pulls makes the lazy start look faster."""
    pair = _image_pair(sca, images)
    if pair is None:
        sca.not_assessed(f"no two preset images within {EQUAL_SIZE_RATIO}x of each other's "
                         "size (or of sizes the catalogue does not state) to pull, one fully "
                         "and one lazily, on the same node")
    first, second = pair
    on_x = _cold_node(compute, imagecache, ((first, "full"), (second, "lazy")), None)
    on_y = on_x and _cold_node(compute, imagecache, ((first, "lazy"), (second, "full")),
                               on_x[0]["node_id"])
    if not on_x or not on_y:
        sca.not_assessed(f"no two nodes without {first} and {second} to pull each fully on "
                         "one and lazily on the other")
    (full_x, lazy_x), (lazy_y, full_y) = on_x, on_y
    sca.evidence("starts", {"node X": {"full": full_x, "lazy": lazy_x},
                            "node Y": {"lazy": lazy_y, "full": full_y}})
    per_node = {"node X": (full_x, lazy_x), "node Y": (full_y, lazy_y)}
    for node, (full, lazy) in per_node.items():
        sca.measure(f"full-pull start ({node})", full["seconds"], "s")
        sca.measure(f"lazy-pull start ({node})", lazy["seconds"], "s")
    slower = [why for full, lazy in per_node.values()
              if (why := slower_lazy_start(full, lazy)) is not None]
    assert not slower, f"[6.5.f] lazy-pull start not under half the full one: {'; '.join(slower)}"
