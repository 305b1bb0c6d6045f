"""Security behaviour of the reference platform: node baselines, data protection, assets, TLS.

- **Node baseline**: each SSH node's directory holds the node's system files
  (``etc/ssh/sshd_config`` describing the node's real SSH policy, ``etc``,
  ``usr/bin``), rewritten at every start so that faults switch cleanly.
- **Data protection**: ingested text is scanned for personal data (mainland
  China mobile numbers, resident ID numbers with their ISO 7064 check digit,
  bank cards with their Luhn digit); the dataset is classified, a masked view
  hides every finding, and each read is audited.
- **Assets**: an inventory of every tenant resource (jobs, clusters, images,
  datasets) under its organisation unit, each with a risk status.
- **TLS**: a local CA and server certificate for the API and the S3 gateway.
"""

from __future__ import annotations

import os
import re
import ssl
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pytest_sca.loopback_tls import TlsFiles, issue_loopback_tls, tls_files_in
from pytest_sca.sandbox.faults import Fault, Faults

#: The node's SSH policy as its sshd_config says it (the asyncssh server enforces the same).
HARDENED_SSHD = """\
# sshd policy of this sandbox node (enforced by its SSH server)
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
X11Forwarding no
MaxAuthTries 3
"""
WEAK_SSHD = """\
# sshd policy of this sandbox node (enforced by its SSH server)
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
X11Forwarding no
MaxAuthTries 6
"""
#: Paths, relative to a node's directory, that hold its system files.
NODE_SYSTEM_PATHS = ("etc", "usr/bin")
NODE_SSHD_CONFIG = "etc/ssh/sshd_config"


def write_node_baseline(workdir: Path, faults: Faults) -> None:
    """(Re)write a node's system files and their modes as the faults say."""
    (workdir / "etc" / "ssh").mkdir(parents=True, exist_ok=True)
    (workdir / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    config = workdir / NODE_SSHD_CONFIG
    config.write_text(WEAK_SSHD if Fault.ROOT_PASSWORD_LOGIN in faults else HARDENED_SSHD)
    crontab = workdir / "etc" / "crontab"
    crontab.write_text("# m h dom mon dow user command\n")
    tool = workdir / "usr" / "bin" / "node-agent"
    tool.write_text("#!/bin/sh\necho node-agent\n")
    for path in (workdir / "etc", workdir / "etc" / "ssh", workdir / "usr" / "bin"):
        os.chmod(path, 0o755)
    os.chmod(config, 0o644)
    os.chmod(tool, 0o755)
    os.chmod(crontab, 0o666 if Fault.WORLD_WRITABLE_SYSTEM_FILE in faults else 0o644)


# --- data protection ---------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
#: A mobile number stands apart from letters and digits, as an ID number does: inside a
#: hexadecimal token (a UUID's last group "a13812345678") eleven digits are no number.
_PHONE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_BANK_CARD = re.compile(r"(?<!\d)\d{16,19}(?!\d)")


def id_card_valid(number: str) -> bool:
    """Whether an 18-character resident ID number has the right check character."""
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_valid(number: str) -> bool:
    """Whether a card number passes the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def find_personal_data(text: str) -> list[tuple[str, int, int]]:
    """Findings as ``(category, start, end)``: phone, id_card, bank_card; no overlaps."""
    findings: list[tuple[str, int, int]] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for match in _ID_CARD.finditer(text):
        if id_card_valid(match.group()):
            findings.append(("id_card", match.start(), match.end()))
            taken.append(match.span())
    for match in _BANK_CARD.finditer(text):
        if free(*match.span()) and luhn_valid(match.group()):
            findings.append(("bank_card", match.start(), match.end()))
            taken.append(match.span())
    for match in _PHONE.finditer(text):
        if free(*match.span()):
            findings.append(("phone", match.start(), match.end()))
            taken.append(match.span())
    return sorted(findings, key=lambda f: f[1])


def classify(text: str) -> dict[str, Any]:
    """The classification of a dataset: sensitive or not, and findings per category."""
    counts: dict[str, int] = {}
    for category, _, _ in find_personal_data(text):
        counts[category] = counts.get(category, 0) + 1
    return {"level": "sensitive" if counts else "public", "sensitive": bool(counts),
            "categories": counts}


def mask(text: str, faults: Faults) -> str:
    """The masked view: each finding keeps its first 3 and last 2 characters (``masking_off``:
    the text unchanged)."""
    if Fault.MASKING_OFF in faults:
        return text
    pieces: list[str] = []
    cursor = 0
    for _, start, end in find_personal_data(text):
        value = text[start:end]
        pieces += [text[cursor:start], value[:3] + "*" * (len(value) - 5) + value[-2:]]
        cursor = end
    return "".join(pieces) + text[cursor:]


# --- assets ------------------------------------------------------------------------------------

#: store kind → the asset kind the inventory lists it as.
ASSET_KINDS = {"job": "job", "cluster": "cluster", "image": "image", "dataset": "dataset"}


def risk_of(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """An asset's risk status (``low``/``medium``/``high``) and the findings behind it."""
    findings: list[str] = []
    if kind == "dataset" and doc.get("classification", {}).get("sensitive"):
        findings.append("holds personal data")
    if kind == "image" and not doc.get("preset"):
        findings.append("user-supplied image not from the platform's catalogue")
    status = "high" if len(findings) > 1 else "medium" if findings else "low"
    return {"status": status, "findings": findings}


# --- TLS material ------------------------------------------------------------------------------

#: Set to 1 to serve the sandbox's API and S3 over TLS (the target file then trusts its CA).
TLS_SWITCH = "PYTEST_SCA_SANDBOX_TLS"


def tls_enabled() -> bool:
    """Whether this sandbox serves TLS: yes, unless :data:`TLS_SWITCH` is ``0``."""
    return os.environ.get(TLS_SWITCH, "1") != "0"


def ensure_tls_material(state_dir: Path) -> TlsFiles:
    """A local CA and a certificate for 127.0.0.1/localhost in ``DIR/tls``, made once and kept.

    ECDSA P-256 keys, SHA-256 signatures; the server certificate lives 30 days
    and is remade when less than a day is left.
    """
    from cryptography import x509

    folder = state_dir / "tls"
    files = tls_files_in(folder)
    if files.cert.exists() and files.key.exists() and files.ca.exists():
        current = x509.load_pem_x509_certificate(files.cert.read_bytes())
        if current.not_valid_after_utc - datetime.now(timezone.utc) > timedelta(days=1):
            return files
    return issue_loopback_tls(folder, "pytest-sca sandbox CA", timedelta(days=30))


def server_ssl_context(files: TlsFiles, faults: Faults) -> ssl.SSLContext:
    """The servers' TLS context: TLS ≥ 1.2 (``tls_legacy_enabled``: TLS 1.0 and 1.1 too)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files.cert), str(files.key))
    if Fault.TLS_LEGACY_ENABLED in faults:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def trust_sandbox_ca(adapters: dict[str, Any], ca_path: str) -> None:
    """Make every adapter section that points at the sandbox over HTTPS trust its CA."""
    for section in adapters.values():
        url = section.get("url") or section.get("base_url") or section.get("endpoint") or ""
        if url.startswith("https://127.0.0.1:") and "verify" not in section:
            section["verify"] = ca_path
