"""connect() (environments, API keys from env vars, settings) and doctor with a stand-in workspace."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from client_fakes import KEY, Recorder, reply, workspace

from lagosync.client import connect
from lagosync.client.doctor import doctor
from lagosync.errors import UserError

PROD = {"api_url": "https://lago.example.com", "api_key_env": "LAGO_PROD_API_KEY"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("LAGO_PROD_API_KEY", "LAGOSYNC_CONCURRENCY", "LAGOSYNC_RATE_LIMIT", "LAGOSYNC_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)


def test_connect_reads_the_key_from_the_named_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("LAGO_PROD_API_KEY", KEY + "\n")
    c = connect(workspace(tmp_path, prod=PROD), "prod")
    assert c.base_url == "https://lago.example.com/api/v1"
    assert c.environment == "prod" and c.api_key_env == "LAGO_PROD_API_KEY"
    assert c._key.reveal() == KEY
    assert (c.concurrency, c.rate_limit, c.timeout, c.max_retries) == (8, None, 30.0, 5)


def test_missing_key_names_variable_and_environment(tmp_path):
    with pytest.raises(UserError) as exc:
        connect(workspace(tmp_path, prod=PROD), "prod")
    assert str(exc.value) == (
        "environment 'prod' needs a Lago API key: set the environment variable LAGO_PROD_API_KEY "
        "(named by api_key_env in lagosync.yaml)"
    )


def test_unknown_environment_lists_the_known_ones(tmp_path):
    with pytest.raises(UserError) as exc:
        connect(workspace(tmp_path, prod=PROD, staging=PROD), "prd")
    assert str(exc.value) == (
        "unknown environment 'prd' (defined in lagosync.yaml: prod, staging); "
        "add it under environments: or pick one with -e"
    )


def test_environment_without_url_or_variable(tmp_path):
    with pytest.raises(UserError, match="environment 'prod' has no api_url"):
        connect(workspace(tmp_path, prod={"api_key_env": "X"}), "prod")
    with pytest.raises(UserError, match="has no api_key_env in lagosync.yaml.*LAGO_PROD_API_KEY"):
        connect(workspace(tmp_path, prod={"api_url": "https://h"}), "prod")


def test_lago_cloud_gets_its_50_per_second_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("LAGO_PROD_API_KEY", KEY)
    env = {"api_url": "https://api.eu.getlago.com/api/v1", "api_key_env": "LAGO_PROD_API_KEY"}
    assert connect(workspace(tmp_path, prod=env), "prod").rate_limit == 50.0
    monkeypatch.setenv("LAGOSYNC_RATE_LIMIT", "0")
    assert connect(workspace(tmp_path, prod=env), "prod").rate_limit is None


def test_settings_from_environment_entry_and_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("LAGO_PROD_API_KEY", KEY)
    env = {**PROD, "extra": {"concurrency": 3, "rate_limit": 20, "timeout": 5}}
    c = connect(workspace(tmp_path, prod=env), "prod")
    assert (c.concurrency, c.rate_limit, c.timeout) == (3, 20.0, 5.0)
    monkeypatch.setenv("LAGOSYNC_CONCURRENCY", "16")
    monkeypatch.setenv("LAGOSYNC_TIMEOUT", "60")
    c = connect(workspace(tmp_path, prod=env), "prod")
    assert (c.concurrency, c.rate_limit, c.timeout) == (16, 20.0, 60.0)
    monkeypatch.setenv("LAGOSYNC_CONCURRENCY", "many")
    with pytest.raises(UserError, match="environment variable LAGOSYNC_CONCURRENCY: LAGOSYNC_CONCURRENCY must be a number"):
        connect(workspace(tmp_path, prod=env), "prod")


# ------------------------------------------------------------------------- doctor

def lago(org_status=200, health_status=200):
    def handler(request):
        if request.url.path == "/health":
            if health_status != 200:
                return reply(health_status, text="oops")
            return reply(200, {"version": "v1.51.0", "github_url": "https://github.com/getlago/lago-api",
                               "message": "Success"})
        assert request.headers["authorization"] == f"Bearer {KEY}"
        if request.url.path == "/api/v1/organizations":
            if org_status == 401:
                return reply(401, {"status": 401, "error": "Unauthorized"})
            if org_status == 404:
                return reply(404, {"status": 404, "error": "Not Found", "code": "resource_not_found"})
            return reply(200, {"organization": {"name": "Acme Inc", "lago_id": "o1"}})
        if request.url.path == "/api/v1/billable_metrics":
            return reply(200, {"billable_metrics": [], "meta": {"total_pages": 0}})
        return reply(404, {"status": 404, "error": "Not Found", "code": "resource_not_found"})

    return httpx.MockTransport(handler)


def run_doctor(tmp_path, monkeypatch, transport, key=KEY):
    if key:
        monkeypatch.setenv("LAGO_PROD_API_KEY", key)
    return asyncio.run(doctor(workspace(tmp_path, prod=PROD), "prod", transport=transport, sleep=Recorder()))


def test_doctor_healthy(tmp_path, monkeypatch):
    report = run_doctor(tmp_path, monkeypatch, lago())
    assert report.healthy and report.exit_code == 0
    assert report.lago_version == "v1.51.0" and report.organization == "Acme Inc"
    text = report.format()
    assert text.splitlines()[0] == "lagosync doctor: environment 'prod' at https://lago.example.com/api/v1"
    assert "ok    server   Lago v1.51.0 answered /health in " in text
    assert "ok    api key  accepted; organization 'Acme Inc' (GET /organizations in " in text
    assert text.endswith("\nhealthy")


def test_doctor_checks_the_pinned_organization(tmp_path, monkeypatch):
    monkeypatch.setenv("LAGO_PROD_API_KEY", KEY)
    ws = workspace(tmp_path, prod=PROD)
    ws.settings.environments["prod"].organization = "Other Corp"
    report = asyncio.run(doctor(ws, "prod", transport=lago(), sleep=Recorder()))
    assert not report.healthy
    assert report.checks[-1].detail == (
        "the API key of environment 'prod' belongs to organization 'Acme Inc', but lagosync.yaml pins "
        "environment 'prod' to organization 'Other Corp': use an API key of 'Other Corp' (set "
        "LAGO_PROD_API_KEY), or correct organization: for environment 'prod' in lagosync.yaml"
    )
    for pinned in ("Acme Inc", "o1"):
        ws.settings.environments["prod"].organization = pinned
        assert asyncio.run(doctor(ws, "prod", transport=lago(), sleep=Recorder())).healthy


def test_doctor_rejected_key(tmp_path, monkeypatch):
    report = run_doctor(tmp_path, monkeypatch, lago(org_status=401))
    assert not report.healthy and report.exit_code == 1
    assert "FAIL  api key  Lago rejected the API key for environment 'prod' (read from $LAGO_PROD_API_KEY)" in report.format()
    assert report.format().endswith("\nnot healthy")
    assert KEY not in report.format()


def test_doctor_falls_back_when_organizations_is_missing(tmp_path, monkeypatch):
    report = run_doctor(tmp_path, monkeypatch, lago(org_status=404))
    assert report.healthy
    assert "accepted (GET /billable_metrics in" in report.format()


def test_doctor_unreachable(tmp_path, monkeypatch):
    def handler(request):
        raise httpx.ConnectError("refused")

    report = run_doctor(tmp_path, monkeypatch, httpx.MockTransport(handler))
    assert not report.healthy
    assert "FAIL  server   GET /health failed: cannot reach Lago at https://lago.example.com/api/v1" in report.format()
    assert [c.name for c in report.checks] == ["server"]  # the key is not checked without a server


def test_doctor_non_json_health(tmp_path, monkeypatch):
    report = run_doctor(tmp_path, monkeypatch, lago(health_status=502))
    assert not report.healthy
    assert "HTTP 502 with a non-JSON body on GET /health" in report.format()


def test_doctor_missing_key_is_a_failed_check(tmp_path, monkeypatch):
    report = run_doctor(tmp_path, monkeypatch, lago(), key=None)
    assert not report.healthy
    assert report.checks[0].name == "config" and "LAGO_PROD_API_KEY" in report.checks[0].detail
