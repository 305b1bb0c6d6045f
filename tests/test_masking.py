"""Secrets are masked in every form they can take, in every output of a run.

A secret's forms: raw, URL-encoded, JSON-escaped (repeatedly), HTML/XML-escaped,
repr-escaped, and base64 on its own or inside ``Bearer <value>`` / ``user:<value>``. The
canaries hold quotes, backslashes and ``&<>`` so that every escaping really changes them.
"""

from __future__ import annotations

import base64
import html
import json
import urllib.parse

import pytest

from pytest_sca.redaction import MASK, Redactor

from .conftest import write_checks

CANARIES = ('canary-"quo\'te\\back&amp<lt>gt-7f3a9c51e2', "sk-CANARY0123456789abcdef",
            "pässwörd-日本-canary-42")


def forms(secret: str) -> dict[str, str]:
    """Every form of ``secret`` an output could carry."""
    raw = secret.encode("utf-8")
    return {
        "raw": secret,
        "url": urllib.parse.quote(secret, safe=""),
        "url-plus": urllib.parse.quote_plus(secret),
        "json": json.dumps(secret)[1:-1],
        "json-twice": json.dumps(json.dumps(secret))[1:-1],
        "json-thrice": json.dumps(json.dumps(json.dumps(secret)))[1:-1],
        "json-unicode": json.dumps(secret, ensure_ascii=False)[1:-1],
        "html": html.escape(secret),
        "repr": repr(secret)[1:-1],
        "base64": base64.b64encode(raw).decode(),
        "base64-bearer": base64.b64encode(b"Bearer " + raw).decode(),
        "base64-basic": base64.b64encode(b"admin:" + raw).decode(),
        "base64-basic-long-user": base64.b64encode(b"evaluation-lab-user:" + raw).decode(),
        "base64url": base64.urlsafe_b64encode(b"x" + raw).decode(),
    }


@pytest.mark.parametrize("secret", CANARIES, ids=["quotes-and-markup", "plain", "unicode"])
def test_every_form_is_masked(secret: str) -> None:
    redact = Redactor([secret])
    for name, form in forms(secret).items():
        masked = redact(f"before {form} after")
        assert secret not in masked, name
        assert form not in masked, f"the {name} form survived: {masked}"
        assert masked.startswith("before ") and masked.endswith(" after")
        assert MASK in masked, name


def test_short_and_unrelated_text_is_left_alone() -> None:
    redact = Redactor(["abc", "sk-CANARY0123456789abcdef"])
    assert redact("abc and ab") == "abc and ab"  # 3 characters: no secret anyone keeps
    assert redact("nothing secret here: c2stQ0FO") == "nothing secret here: c2stQ0FO"



@pytest.mark.parametrize("order", ["key-first", "url-first"])
def test_secrets_learned_one_by_one_are_masked_whole(order: str) -> None:
    """Secrets arrive during a run, between outputs (an API key per probe user, then a
    presigned URL that contains one): each is masked whole, whichever came first."""
    keys = [f"sk-probe-user-{n:03d}-0123456789abcdef" for n in range(100)]
    url = f"https://127.0.0.1:9000/b/o?X-Amz-Credential={keys[70]}&X-Amz-Signature=9f8e7d6c5b4a"
    redact, knows_url = Redactor(), False
    for secret in (keys + [url] if order == "key-first" else [url] + keys):
        redact.add([secret])
        knows_url = knows_url or secret == url
        if knows_url:  # at every moment, not only once all are known
            assert redact(f"get {url} now") == f"get {MASK} now", secret
    for name, form in forms(keys[42]).items():
        assert keys[42] not in redact(form) and form not in redact(form), name
LEAKY_CHECKS = """
import base64
import html
import json
import logging
import os
import urllib.parse

import pytest

SECRET = os.environ["CANARY_SECRET"]


def _forms():
    raw = SECRET.encode()
    return [SECRET, urllib.parse.quote(SECRET, safe=""), json.dumps(json.dumps(SECRET)),
            html.escape(SECRET), repr(SECRET), base64.b64encode(b"Bearer " + raw).decode(),
            base64.b64encode(b"admin:" + raw).decode()]


@pytest.mark.clause("6.1.a")
def test_leaks_every_form_everywhere(sca):
    for form in _forms():
        print("stdout says", form)
        logging.getLogger("sca.test").warning("log says %s", form)
    sca.evidence("request", {"forms": _forms()})
    assert False, "forms: " + " | ".join(_forms())


@pytest.mark.clause("6.1.b")
def test_raises_with_every_form(sca):
    raise RuntimeError("connect failed: " + " | ".join(_forms()))
"""


def test_no_form_of_a_canary_reaches_any_output(pytester: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    secret = CANARIES[0]
    pytester.makefile(".yaml", target="name: canary\nadapters:\n  platform:\n"
                      "    url: http://127.0.0.1:9/\n    token: ${CANARY_SECRET}\n")
    write_checks(pytester, LEAKY_CHECKS)
    monkeypatch.setenv("CANARY_SECRET", secret)
    result = pytester.runpytest_subprocess(
        # The platform is unreachable on purpose (its token is the canary); the checks are
        # local, so the preflight, which would end the run, is off.
        "--sca-target=target.yaml", "--sca-preflight=off", "checks", "--alluredir=allure",
        "--junitxml=junit.xml",
        "-rA", "-l", "--log-cli-level=WARNING", "--sca-json=report.json", "--sca-html=r.html",
        "-o", "junit_logging=all")
    outputs = {"terminal": result.stdout.str() + result.stderr.str()}
    for path in pytester.path.rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".yaml", ".pyc"):
            outputs[str(path.relative_to(pytester.path))] = path.read_text(errors="replace")
    assert {"junit.xml", "report.json", "r.html"} <= set(outputs)
    assert any(name.startswith("allure") for name in outputs)
    for output, text in outputs.items():
        for name, form in forms(secret).items():
            assert form not in text, f"the {name} form of the secret leaked into {output}"
    assert MASK in outputs["report.json"] and MASK in outputs["junit.xml"]
