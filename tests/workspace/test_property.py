"""Property tests: malformed YAML and random structures never crash validate; errors stay clean."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lagosync.errors import Diagnostic
from lagosync.workspace import validate_workspace

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = {
    "lagosync.yaml": (REPO / "lagosync.yaml").read_text(),
    "orgs.yaml": (REPO / "orgs.yaml").read_text(),
    **{f"plans/{p.name}": p.read_text() for p in sorted((REPO / "plans").glob("*.yaml"))},
}
FIELDS = ["code", "name", "plans", "charges", "properties", "amount", "graduated_ranges", "volume_ranges",
          "from_value", "to_value", "filters", "values", "key", "billable_metric_code", "charge_model",
          "aggregation_type", "field_name", "recurring", "orgs", "subscriptions", "external_id", "plan_code",
          "metadata", "tax_codes", "applies_to", "plan_codes", "environments", "api_key", "ensure", "currency",
          "amount_cents", "amount_currency", "migrate_from", "billable_metrics", "taxes", "coupons", "add_ons"]
# WORKSPACE_FUZZ_EXAMPLES raises the example count for a longer local fuzzing run.
SETTINGS = settings(max_examples=int(os.environ.get("WORKSPACE_FUZZ_EXAMPLES", "120")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**12), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["absent", "standard", "graduated", "USD", "EUR",
                                                           "count_agg", "sum_agg", "api_call", "starter"]))
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)),
                                               children, max_size=5)),
    max_leaves=25,
)


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    """A workspace with an empty plans/ and ``files`` (bytes verbatim, text with lone surrogates kept)."""
    (root / "plans").mkdir()
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")


def _check(files: dict[str, str | bytes]) -> list[Diagnostic]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, files)
        diags = validate_workspace(root)
    assert isinstance(diags, list)
    for d in diags:
        assert isinstance(d, Diagnostic)
        assert d.line >= 1 and d.column >= 1 and d.message
        text = d.format()
        assert "Traceback" not in text and len(text.splitlines()) == 1, text
    return diags


@SETTINGS
@given(name=st.sampled_from(sorted(EXAMPLE)), data=st.binary(max_size=300))
def test_random_bytes_in_any_file(name, data):
    _check({**EXAMPLE, name: data})


@SETTINGS
@given(name=st.sampled_from(sorted(EXAMPLE)), pos=st.integers(0, 10**6), cut=st.integers(0, 40),
       insert=st.text(alphabet=":-[]{}'\"\t #&*!|>%@`\n ab1.", max_size=8))
def test_corrupted_example_yaml(name, pos, cut, insert):
    text = EXAMPLE[name]
    pos %= len(text) + 1
    diags = _check({**EXAMPLE, name: text[:pos] + insert + text[pos + cut:]})
    assert all(d.file in EXAMPLE or d.file == "plans/" for d in diags)


@SETTINGS
@given(plans=values, orgs=values, workspace=values)
def test_random_structures(plans, orgs, workspace):
    _check({"lagosync.yaml": yaml.safe_dump(workspace), "plans/p.yaml": yaml.safe_dump(plans),
            "orgs.yaml": yaml.safe_dump(orgs)})


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@SETTINGS
@given(name=st.sampled_from(sorted(EXAMPLE)), choice=st.integers(0, 10**6), value=values)
def test_example_with_one_node_replaced(name, choice, value):
    data = yaml.safe_load(EXAMPLE[name])
    paths = list(_paths(data))
    path = paths[choice % len(paths)]
    if not path:
        data = value
    else:
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = value
    _check({**EXAMPLE, name: yaml.safe_dump(data)})


def _cli_validate(files: dict[str, str | bytes]):
    import re

    from click.testing import CliRunner

    from lagosync.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, files)
        result = CliRunner().invoke(main, ["validate", "-w", str(root)])
    # the CLI's catch-all would turn a crash into "unexpected internal error": that is a failure here too
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "unexpected internal error" not in result.output
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 0:
        assert re.fullmatch(r"ok: \d+ objects? in \d+ files?", result.stdout.strip()), result.stdout
    else:
        lines = result.stderr.strip().splitlines()
        assert re.fullmatch(r"\d+ errors? in the workspace", lines[-1]), lines
        assert all(re.match(r"[^:]+:\d+:\d+: ", line) for line in lines[:-1]), lines
        assert int(lines[-1].split()[0]) == len(lines) - 1


@settings(max_examples=int(os.environ.get("WORKSPACE_FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(EXAMPLE)), pos=st.integers(0, 10**6), cut=st.integers(0, 40),
       insert=st.one_of(st.text(alphabet=":-[]{}'\"\t #&*!|>%@`\n ab1.", max_size=8), st.binary(max_size=8)),
       structure=values)
def test_cli_validate_never_crashes(name, pos, cut, insert, structure):
    """`lagosync validate` itself (exit code, summary line, one `file:line:col:` per error) on broken input."""
    text = EXAMPLE[name]
    pos %= len(text) + 1
    if isinstance(insert, bytes):
        broken: str | bytes = text[:pos].encode() + insert + text[pos + cut:].encode()
    else:
        broken = text[:pos] + insert + text[pos + cut:]
    _cli_validate({**EXAMPLE, name: broken})
    _cli_validate({**EXAMPLE, "plans/random.yaml": yaml.safe_dump(structure)})
