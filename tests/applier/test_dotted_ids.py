"""Customer and subscription ids with a dot (`acme.com`): Lago's router cuts such a path segment at
the dot and reads the rest as a response format (lago-behaviour#route-segments), so
`/customers/acme.com` would be customer `acme`. lagosync never sends a literal dot there: reads go
through the lists filtered by the id, writes send the dot as `%2E`. Every request of a full life
cycle (create, plan in both read modes, rename, coupon terminated, org deleted) is recorded through
the emulator transport, and a decoy customer `acme` is never touched. Through the CLI on `local`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import lagosync.live
from lagosync.cli import main
from lagosync.client.core import LagoClient, UnroutableId, unroutable
from lagosync.emulator import Emulator, EmulatorTransport

KEY = "lago-local-key"
CATALOG = """\
plans:
  - code: pro
    name: Pro
    interval: monthly
    amount_cents: 4900
    amount_currency: USD
coupons:
  - code: welcome
    name: Welcome
    coupon_type: percentage
    percentage_rate: "10"
    frequency: once
    expiration: no_expiration
"""
ORGS = """\
orgs:
  - external_id: acme.com
    name: Acme
    currency: USD
    coupons:
      - coupon_code: welcome
    subscriptions:
      - plan_code: pro
        name: Acme Pro
"""


@pytest.fixture
def recorded(monkeypatch):
    """Every (method, raw path) the emulator receives, across the CLI's clients."""
    seen: list[tuple[str, str]] = []
    original = Emulator.handle

    def handle(self, method, path, *args, **kwargs):
        seen.append((method, path))
        return original(self, method, path, *args, **kwargs)

    monkeypatch.setattr(Emulator, "handle", handle)
    return seen


def _run(root: Path, *args: str):
    return CliRunner().invoke(main, [*args, "-w", str(root)], catch_exceptions=False)


def _call(root: Path, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    emu = Emulator(str(root / ".lagosync" / "local.db"), KEY)
    try:
        res = emu.handle(method, f"/api/v1{path}", [], {"authorization": f"Bearer {KEY}",
                                                       "content-type": "application/json"},
                         json.dumps(body).encode() if body is not None else b"")
    finally:
        emu.close()
    return res.status, json.loads(res.body) if res.body else {}


def _converged(root: Path, *flags: str) -> None:
    res = _run(root, "apply", "--auto-approve", *flags)
    assert res.exit_code == 0, res.output
    res = _run(root, "plan", "--detailed-exitcode")
    assert res.exit_code == 0 and "No changes" in res.output, res.output


def _cut_segments(seen: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Requests whose customer or subscription id segment holds a literal dot."""
    out = []
    for method, path in seen:
        parts = path.removeprefix("/api/v1").strip("/").split("/")
        if len(parts) > 1 and parts[0] in ("customers", "subscriptions") and "." in parts[1]:
            out.append((method, path))
    return out


def test_a_dotted_org_lives_and_dies_without_a_literal_dot_in_a_path(tmp_path, recorded, monkeypatch):
    root = tmp_path / "ws"
    (root / "plans").mkdir(parents=True)
    (root / ".lagosync").mkdir()
    (root / "lagosync.yaml").write_text("default_environment: local\nenvironments:\n  local: {}\n")
    (root / "plans" / "catalog.yaml").write_text(CATALOG)
    (root / "orgs.yaml").write_text(ORGS)
    # the customer Lago's router would reach for /customers/acme.com
    assert _call(root, "POST", "/customers", {"customer": {"external_id": "acme", "name": "Decoy"}})[0] == 200

    assert _run(root, "validate").exit_code == 0
    _converged(root)  # list mode (few objects)
    margin = lagosync.live.NARROW_MARGIN
    monkeypatch.setattr(lagosync.live, "NARROW_MARGIN", -10_000)  # one GET per declared org instead
    res = _run(root, "plan", "--detailed-exitcode")
    assert res.exit_code == 0 and "No changes" in res.output, res.output
    assert ("GET", "/api/v1/customers") in recorded  # the narrow read of acme.com is the filtered list
    monkeypatch.setattr(lagosync.live, "NARROW_MARGIN", margin)

    # a rename (PUT /subscriptions/{id}), a removed coupon (DELETE under /customers/{id}), the org deleted
    (root / "orgs.yaml").write_text(ORGS.replace("Acme Pro", "Acme Professional"))
    _converged(root)
    (root / "orgs.yaml").write_text(ORGS.replace("Acme Pro", "Acme Professional")
                                    .replace("    coupons:\n      - coupon_code: welcome\n", "    coupons: []\n"))
    _converged(root, "--allow-destroy", "--allow-reprice")
    (root / "orgs.yaml").write_text("orgs:\n  - external_id: acme.com\n    ensure: absent\n")
    _converged(root, "--allow-destroy", "--allow-reprice")

    assert _cut_segments(recorded) == []
    writes = {(m, p) for m, p in recorded if m in ("PUT", "DELETE")}
    assert ("PUT", "/api/v1/subscriptions/sub_acme%2Ecom") in writes
    assert ("DELETE", "/api/v1/customers/acme%2Ecom") in writes
    assert any(m == "DELETE" and p.startswith("/api/v1/customers/acme%2Ecom/applied_coupons/") for m, p in writes)
    assert _call(root, "GET", "/customers/acme")[1]["customer"]["name"] == "Decoy"  # untouched
    status, _ = _call(root, "GET", "/customers/acme%2Ecom")
    assert status == 404  # deleted


async def _no_sleep(_s: float) -> None:
    return None


@pytest.mark.parametrize("path", ["/customers/acme.com", "/subscriptions/sub.1?status=pending",
                                  "customers/a.b/applied_coupons/x"])
def test_the_client_never_sends_a_literal_dot_in_an_id_segment(path):
    import asyncio

    emulator = Emulator(":memory:", "k")
    sent: list[str] = []
    original = emulator.handle
    emulator.handle = lambda method, p, *a, **kw: sent.append(p) or original(method, p, *a, **kw)  # type: ignore[method-assign]

    async def go():
        async with LagoClient("http://lago.local", "k", transport=EmulatorTransport(emulator), sleep=_no_sleep) as c:
            with pytest.raises(UnroutableId, match="cut at the dot"):
                await c.request("DELETE", path)

    asyncio.run(go())
    assert sent == []  # refused before anything was sent
    assert unroutable("/customers/acme%2Ecom") is None and unroutable("/plans/a.b") is None
