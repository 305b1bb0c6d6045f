"""``tenancy``: tenants are slurmdbd accounts, users are associations, quotas are ``GrpTRES``.

- A tenant is an account (``sacctmgr add account``, its description carrying the labels,
  ``labels: sca-run=<run id>``), under ``adapters.slurm.parent_account``, allowed the QOS of
  ``adapters.slurm.qos`` (every QOS when unset).
- A user is a Unix account of ``adapters.slurm.probe_users`` (Slurm runs jobs as real users),
  claimed for the run on the login node (an atomic ``mkdir`` under
  ``<output_dir>/.sca-claims``), associated with the account, with a JWT minted by
  ``scontrol token`` (the login node's SSH account must be root or SlurmUser). Roles are
  Slurm's own: ``platform_admin`` AdminLevel=Administrator, ``tenant_admin`` a coordinator
  of the account, ``member`` a plain association, ``readonly`` an association with
  ``MaxSubmitJobs=0`` (Slurm's way to withhold the right to submit).
- The quota is the account's ``GrpTRES`` (cpu, mem, ``gres/<card GRES>``); what it uses is
  the sum of the running jobs' allocated TRES.

Writes go through ``sacctmgr`` as the acting principal (its JWT): slurmrestd 22.05's
slurmdb writes are incomplete, and the command keeps Slurm's own authorization.
"""

from __future__ import annotations

import contextlib
import shlex
from typing import Any

from pytest_sca.adapters.base import Facade
from pytest_sca.adapters.slurm.session import SlurmSession
from pytest_sca.adapters.slurm.shapes import (
    decode_labels,
    encode_labels,
    max_submit,
    tres_list,
)
from pytest_sca.capabilities import (
    RUN_LABEL,
    Labels,
    Quota,
    Refused,
    Role,
    StorageCredentials,
    TargetError,
    Tenant,
    Unsupported,
    User,
    WaitTimeout,
    WhoAmI,
    wait_for,
)

#: The contract's roles → what Slurm makes of them (added by :meth:`SlurmTenancy.create_user`).
ROLES: dict[str, list[str]] = {
    "platform_admin": ["AdminLevel=Administrator"],
    "tenant_admin": ["coordinator of the account: adds users, controls the account's jobs"],
    "member": ["association with the account: submits and controls own jobs"],
    "readonly": ["association with MaxSubmitJobs=0: reads own jobs, submits none"],
}
#: Where users are claimed for a run, under ``output_dir``.
CLAIMS = ".sca-claims"
#: How long removing an account or user waits for its jobs to end.
REMOVE_WAIT_S = 30.0


def role_of(user: dict[str, Any], account: str | None,
            associations: list[dict[str, Any]]) -> str:
    """The contract's role of a slurmdbd user in ``account``."""
    level = str(user.get("administrator_level") or "None")
    if isinstance(user.get("administrator_level"), list):
        level = ",".join(user["administrator_level"])
    if "Administrator" in level or "Operator" in level:
        return "platform_admin"
    if any(c.get("name") == account for c in user.get("coordinators") or []):
        return "tenant_admin"
    mine = [a for a in associations if a.get("account") == account]
    if mine and all(max_submit(a) == 0 for a in mine):
        return "readonly"
    return "member"


class SlurmTenancy(Facade[SlurmSession]):
    """:class:`~pytest_sca.capabilities.Tenancy` over slurmdbd (slurmrestd + sacctmgr)."""

    # --- reads ------------------------------------------------------------------------------------

    def _accounting(self) -> None:
        if not self.subject.rest.has_accounting():
            raise Unsupported("tenants are slurmdbd accounts: the cluster's slurmrestd serves "
                              "no /slurmdb paths (run slurmrestd with accounting)")

    def whoami(self) -> WhoAmI:
        session = self.subject
        self._accounting()
        user = self._user(session.user)
        default = (user.get("default") or {}).get("account")
        associations = self._associations(user=session.user)
        return {"user_id": session.user, "tenant_id": default,
                "role": role_of(user, default, associations)}

    def list_tenants(self) -> list[Tenant]:
        self._accounting()
        answer = self.subject.rest.get("slurmdb", "accounts", empty_ok=True)
        return [self._tenant(a) for a in answer.get("accounts") or []]

    def get_tenant(self, tenant_id: str) -> Tenant:
        return self._tenant(self._account(tenant_id))

    def list_users(self, tenant_id: str) -> list[User]:
        try:
            self._account(tenant_id)  # refused when the caller may not see the account
        except Refused as refusal:
            # PrivateData=accounts hides an account from its plain members too, and
            # PrivateData=users shows each user only its own association: a member lists
            # its tenant as Slurm shows it to it (itself). Anyone else keeps Slurm's refusal.
            if not refusal.is_authorization or not any(
                    a.get("account") == tenant_id
                    for a in self._associations(user=self.subject.user)):
                raise
        found: list[User] = []
        for association in self._associations(account=tenant_id):
            name = association.get("user")
            if not name:
                continue
            try:
                user = self._user(str(name))
            except Refused:
                user = {"name": name}
            found.append({"id": str(name), "tenant_id": tenant_id, "name": str(name),
                          "role": role_of(user, tenant_id, [association]), "labels": {}})
        return found

    def list_roles(self) -> list[Role]:
        return [{"name": name, "permissions": list(permissions)}
                for name, permissions in ROLES.items()]

    def get_quota(self, tenant_id: str) -> Quota:
        session = self.subject
        self._account(tenant_id)
        limits: dict[str, float] = {}
        for association in self._associations(account=tenant_id):
            if not association.get("user") and not association.get("partition"):
                limits = tres_list(((association.get("max") or {}).get("tres") or {})
                                   .get("total"))
        used: dict[str, float] = {}
        for job in session.jobs():
            if job.account == tenant_id and job.state in ("RUNNING", "SUSPENDED"):
                for key, value in job.tres_alloc.items():
                    used[key] = used.get(key, 0.0) + value
        cards = self._card_tres()
        limit_cards = [limits[k] for k in cards if k in limits]
        return {
            "cpu": limits.get("cpu"),
            "memory_gib": round(limits["mem"] / 1024, 3) if "mem" in limits else None,
            "accelerators": int(max(limit_cards)) if limit_cards else None,
            "used": {"cpu": used.get("cpu", 0.0),
                     "memory_gib": round(used.get("mem", 0.0) / 1024, 3),
                     "accelerators": int(sum(used.get(k, 0.0) for k in cards))},
        }

    def storage_credentials(self, tenant_id: str) -> StorageCredentials:
        raise Unsupported("Slurm has no tenant object storage: add `adapters.platform` for "
                          "tenant buckets")

    # --- writes -----------------------------------------------------------------------------------

    def create_tenant(self, name: str, labels: Labels | None = None) -> Tenant:
        session = self.subject
        self._accounting()
        account = name.lower()
        all_labels = {**(labels or {}), RUN_LABEL: session.context.run_id}
        argv = ["sacctmgr", "-i", "add", "account", account,
                f"description={encode_labels(all_labels)}", "organization=sca",
                f"parent={session.config.parent_account}"]
        qos = self._qos_names()
        if qos:
            argv.append(f"qos={','.join(qos)}")
        session.slurm(argv, "creating a tenant")
        principal = session.root_principal()
        session.remember("accounts", account, f"delete Slurm account {account}",
                         lambda: remove_account(principal, account))
        with session.root.lock:
            session.root.accounts.add(account)
        return self.get_tenant(account)

    def delete_tenant(self, tenant_id: str) -> None:
        session = self.subject
        self._account(tenant_id)
        remove_account(session, tenant_id)
        session.forget("accounts", tenant_id)

    def create_user(self, tenant_id: str, name: str, role: str,
                    labels: Labels | None = None) -> User:
        session = self.subject
        if role not in ROLES:
            raise Refused("slurm create user", 422, "invalid_request",
                          f"role {role!r} is none of {', '.join(ROLES)}")
        if not session.config.probe_users:
            raise Unsupported("Slurm users are Unix accounts: list accounts the run may use "
                              "under adapters.slurm.probe_users")
        self._account(tenant_id)
        principal = session.root_principal()
        unix = claim_user(principal)
        try:
            argv = ["sacctmgr", "-i", "add", "user", unix, f"account={tenant_id}"]
            if role == "readonly":
                argv.append("maxsubmitjobs=0")
            if role == "platform_admin":
                argv.append("adminlevel=Administrator")
            session.slurm(argv, "creating a user")
        except Exception:
            release_claim(principal, unix)
            raise
        session.remember("users", unix, f"remove Slurm user {unix}",
                         lambda: remove_user(principal, unix))
        if role == "tenant_admin":
            session.slurm(["sacctmgr", "-i", "add", "coordinator", f"account={tenant_id}",
                           f"names={unix}"], "creating a tenant administrator")
        token = mint_token(principal, unix)
        return {"id": unix, "tenant_id": tenant_id, "name": unix, "role": role,
                "labels": {**(labels or {}), RUN_LABEL: session.context.run_id},
                "created_at": "", "api_key": token}

    def delete_user(self, tenant_id: str, user_id: str) -> None:
        session = self.subject
        if not session.created_here("users", user_id):
            raise Refused(f"delete user {user_id}", 403, "forbidden",
                          "the run deletes only the probe users it created")
        session.slurm(["sacctmgr", "-i", "delete", "user", f"name={user_id}",
                       f"account={tenant_id}"], "deleting a user")
        remove_user(session.root_principal(), user_id)
        session.forget("users", user_id)

    def set_quota(self, tenant_id: str, *, cpu: float | None = None,
                  memory_gib: float | None = None, accelerators: int | None = None) -> Quota:
        session = self.subject
        limits = []
        if cpu is not None:
            limits.append(f"cpu={int(cpu)}")
        if memory_gib is not None:
            limits.append(f"mem={int(memory_gib * 1024)}")
        if accelerators is not None:
            limits += [f"{key}={int(accelerators)}" for key in self._card_tres()]
        if limits:
            session.slurm(["sacctmgr", "-i", "modify", "account", "where",
                           f"name={tenant_id}", "set", f"GrpTRES={','.join(limits)}"],
                          "setting a quota")
        return self.get_quota(tenant_id)

    # --- helpers ----------------------------------------------------------------------------------

    def _user(self, name: str) -> dict[str, Any]:
        answer = self.subject.rest.get("slurmdb", f"user/{name}")
        users = [u for u in answer.get("users") or [] if u.get("name") == name]
        if not users:
            raise Refused(f"GET user/{name}", 404, "not_found", f"no Slurm user {name}")
        return dict(users[0])

    def _account(self, name: str) -> dict[str, Any]:
        self._accounting()
        answer = self.subject.rest.get("slurmdb", f"account/{name}", empty_ok=True)
        accounts = [a for a in answer.get("accounts") or [] if a.get("name") == name]
        if not accounts:
            raise Refused(f"GET account/{name}", 404, "not_found", f"no Slurm account {name}")
        return dict(accounts[0])

    def _associations(self, **query: str) -> list[dict[str, Any]]:
        answer = self.subject.rest.get("slurmdb", "associations", query, empty_ok=True)
        return [dict(a) for a in answer.get("associations") or []]

    def _qos_names(self) -> list[str]:
        if self.subject.config.qos is not None:
            return list(self.subject.config.qos)
        answer = self.subject.rest.get("slurmdb", "qos", empty_ok=True)
        return [str(q["name"]) for q in answer.get("QOS") or answer.get("qos") or []
                if q.get("name")]

    def _card_tres(self) -> list[str]:
        """The TRES of the cluster's card GRES (``gres/gpu``…)."""
        names = self.subject.config.accelerator_gres
        found = {item.name for node in self.subject.nodes() for item in node.gres
                 if item.name in names}
        return [f"gres/{name}" for name in sorted(found or {"gpu"})]

    @staticmethod
    def _tenant(account: dict[str, Any]) -> Tenant:
        return {"id": str(account.get("name")), "name": str(account.get("name")),
                "labels": decode_labels(account.get("description")), "created_at": ""}


# --- users of the pool, tokens, removal (also used by the sweep) --------------------------------

def _claims_folder(session: SlurmSession) -> str:
    if not session.config.output_dir:
        raise Unsupported("probe users are claimed in a shared folder: set "
                          "adapters.slurm.output_dir in the target file")
    return f"{session.config.output_dir.rstrip('/')}/{CLAIMS}"


def claim_user(session: SlurmSession) -> str:
    """A probe user no run holds and slurmdbd knows no association of, claimed for this run."""
    folder = _claims_folder(session)
    shell = session.shell("probe users")
    run = shlex.quote(session.context.run_id)
    for unix in session.config.probe_users:
        claim = shlex.quote(f"{folder}/{unix}")
        made = shell.run(f"mkdir -p {shlex.quote(folder)} && mkdir {claim} 2>/dev/null && "
                         f"printf %s {run} > {claim}/run")
        if made.exit_status != 0:
            continue
        answer = session.rest.get("slurmdb", f"user/{unix}", empty_ok=True)
        known = [u for u in answer.get("users") or [] if u.get("name") == unix]
        if known and known[0].get("associations"):
            shell.run(f"rm -rf -- {claim}")  # someone else's: leave it alone
            continue
        return unix
    raise TargetError(f"every probe user of adapters.slurm.probe_users "
                      f"({', '.join(session.config.probe_users)}) is in use: list more")


def release_claim(session: SlurmSession, unix: str) -> None:
    """Give a probe user back to the pool."""
    claim = shlex.quote(f"{_claims_folder(session)}/{unix}")
    session.shell("probe users").run(f"rm -rf -- {claim}")


def mint_token(session: SlurmSession, unix: str) -> str:
    """A JWT for ``unix`` (``scontrol token``, as the login node's root or SlurmUser)."""
    out = session.privileged(["scontrol", "token", f"username={unix}",
                              f"lifespan={session.config.token_lifespan_s}"],
                             "probe users' tokens")
    token = out.strip().rpartition("SLURM_JWT=")[2].strip()
    if not token:
        raise TargetError(f"scontrol token username={unix} printed no token")
    session.context.redact.add([token])
    with session.root.lock:
        session.root.tokens[token] = unix
    return token


def _cancel_where(session: SlurmSession, keep: Any) -> None:
    for job in session.jobs():
        if keep(job) and job.state not in ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT"):
            with contextlib.suppress(Refused):
                session.rest.delete("slurm", f"job/{job.job_id}")


def _until_removed(session: SlurmSession, argv: list[str], what: str) -> None:
    """Run a removal that slurmdbd refuses while the thing's jobs are still ending."""
    def attempt() -> str:
        try:
            session.slurm(argv, what)
        except TargetError as exc:
            return str(exc)
        return ""

    try:
        wait_for(attempt, lambda error: not error or "nothing" in error.lower(),
                 REMOVE_WAIT_S, lambda error: f"{what}: {error}", first=0.5)
    except WaitTimeout as exc:
        raise TargetError(str(exc)) from None


def remove_user(session: SlurmSession, unix: str) -> None:
    """Cancel a probe user's jobs, remove the user from slurmdbd, release its claim."""
    _cancel_where(session, lambda job: job.user == unix)
    _until_removed(session, ["sacctmgr", "-i", "delete", "user", f"name={unix}"],
                   f"remove Slurm user {unix}")
    release_claim(session, unix)


def remove_account(session: SlurmSession, account: str) -> None:
    """Cancel an account's jobs, remove its users' associations and the account."""
    _cancel_where(session, lambda job: job.account == account)
    answer = session.rest.get("slurmdb", "associations", {"account": account}, empty_ok=True)
    for association in answer.get("associations") or []:
        if association.get("user"):
            remove_user(session, str(association["user"]))
    _until_removed(session, ["sacctmgr", "-i", "delete", "account", f"name={account}"],
                   f"remove Slurm account {account}")

