"""A seeded fuzzer over workspace files: every input ends as exit 0, or exit 1 with diagnostics,
never a traceback or an internal error, and the whole run is bounded (each input is at most a
few kB, except the alias and nesting bombs whose expansion the loader refuses before building).

Inputs: the example workspace with one file replaced or mutated: wrong types at random places,
unicode, huge numbers, deep nesting, anchors and aliases (bombs included), tags, binary bytes,
truncation, empty files. A few hundred inputs through ``lagosync validate`` in-process; the ones
that validate also go through ``lagosync plan`` against the embedded emulator."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml
from hostile_helpers import REPO, assert_no_crash, example_workspace, invoke, within

SEED = 20250107
INPUTS = 300
TARGETS = ("lagosync.yaml", "orgs.yaml", "plans/plans.yaml", "plans/metrics.yaml", "plans/extra_fuzz.yaml")
MAX_INPUT_BYTES = 64 * 1024  # every generated file stays this small: the work per input is bounded

WEIRD_SCALARS: list[Any] = [
    "", " ", "\u0000", "\u202e", "\u2028x", "ß" * 50, "🙂" * 20, "a" * 3000, "${HOME}", "../../etc/passwd",
    "1e309", "NaN", ".inf", "-.inf", "0x1F", "0o17", "1_000", "~", "null", "yes", "no", "on", "2024-13-45",
    "2025-01-01T00:00:00Z", 10**30, -(10**30), 2**63, -1, 0, 1.5, float("inf"), True, False, None,
]
TAGGED = [
    "!!python/object/apply:os.system ['echo pwned > PWNED']",
    "!!python/object:builtins.dict {a: 1}",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!Ref something",
    "!!timestamp 2025-01-01",
    "!!float '1.5'",
    "!!int '12'",
    "!!str 12",
]


def _bomb(rng: random.Random) -> str:
    width, depth = rng.randint(5, 12), rng.randint(6, 12)
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


def _merge_bomb(rng: random.Random) -> str:
    width = rng.randint(6, 10)
    lines = ["m0: &m0 {a: 1, b: 2, c: 3}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}], k: [{', '.join([f'*m{i - 1}'] * width)}]}}" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def _deep(rng: random.Random) -> str:
    n = rng.choice([150, 199, 201, 400, 1200, 5000])
    if rng.random() < 0.5:
        return "plans: " + "[" * n + "]" * n + "\n"
    return "plans:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(min(n, 250)))


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.55:
        return rng.choice(WEIRD_SCALARS)
    if roll < 0.8:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {str(rng.choice(WEIRD_SCALARS)): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, prefix + (i,))
    return out


def _replace(data: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    data[path[0]] = _replace(data[path[0]], path[1:], value)
    return data


def _wrong_types(text: str, rng: random.Random) -> str:
    data = yaml.safe_load(text)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(_paths(data))
        data = _replace(data, path, _random_value(rng))
    return yaml.safe_dump(data, allow_unicode=rng.random() < 0.5, sort_keys=False)


def _tagged(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    spots = [i for i, line in enumerate(lines) if ": " in line and not line.lstrip().startswith("#")]
    for i in rng.sample(spots, min(len(spots), rng.randint(1, 3))):
        head = lines[i].split(": ", 1)[0]
        lines[i] = f"{head}: {rng.choice(TAGGED)}"
    return "\n".join(lines) + "\n"


def _anchors(text: str, rng: random.Random) -> str:
    """Anchor one value and alias it elsewhere (a legit use), or a self-reference."""
    lines = text.splitlines()
    spots = [i for i, line in enumerate(lines) if line.rstrip().endswith(":") and not line.lstrip().startswith("#")]
    if len(spots) < 2:
        return text
    a, b = sorted(rng.sample(spots, 2))
    lines[a] = lines[a].rstrip() + " &x"
    lines[b] = lines[b].rstrip() + " *x" if rng.random() < 0.7 else lines[a] + "\n" + lines[a].split(":")[0] + "_: *x"
    return "\n".join(lines) + "\n"


def _bytes_mutation(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 20)):
        op = rng.random()
        pos = rng.randrange(len(data) + 1)
        if op < 0.4 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op < 0.7:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            del data[pos:pos + rng.randint(1, 40)]
    return bytes(data)


def generate(rng: random.Random, original: bytes) -> bytes:
    text = original.decode()
    kind = rng.randrange(12)
    if kind == 0:
        return b""
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000)))
    if kind == 2:
        return original[: rng.randrange(len(original) + 1)]
    if kind == 3:
        return _bomb(rng).encode()
    if kind == 4:
        return _merge_bomb(rng).encode()
    if kind == 5:
        return _deep(rng).encode()
    if kind == 6:
        return _tagged(text, rng).encode()
    if kind == 7:
        return _anchors(text, rng).encode()
    if kind == 8:
        return _bytes_mutation(original, rng)
    if kind == 9:
        return ("\ufeff" + text.replace("code: ", "code: \u202e", 1)).encode("utf-8")
    if kind == 10:
        return text.replace("amount_cents: 1900", f"amount_cents: {rng.choice(['1' * 400, '1e400', '-0', '19.00'])}").encode()
    return _wrong_types(text, rng).encode()


def test_fuzzed_workspace_files_never_crash_and_finish(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    root = example_workspace(tmp_path / "ws")
    originals = {t: (root / t).read_bytes() if (root / t).exists() else (REPO / "plans" / "taxes.yaml").read_bytes()
                 for t in TARGETS}
    outcomes = {0: 0, 1: 0}
    planned = 0

    def run_all() -> None:
        nonlocal planned
        for n in range(INPUTS):
            target = rng.choice(TARGETS)
            data = generate(rng, originals[target])
            assert len(data) <= MAX_INPUT_BYTES, (n, target, len(data))
            path = root / target
            path.write_bytes(data)
            result = invoke("validate", "-w", root)
            assert_no_crash(result)
            outcomes[result.exit_code] += 1
            if result.exit_code == 1:
                assert "in the workspace" in result.stderr, (n, target, result.stderr)
            elif planned < 15:  # a valid variant also plans against the emulator
                planned += 1
                assert_no_crash(invoke("plan", "-w", root, "--no-color"))
            # restore (the extra file goes away) so every input mutates the example, not the last input
            if target in ("plans/extra_fuzz.yaml",):
                path.unlink()
            else:
                path.write_bytes(originals[target])
        assert not (root / "PWNED").exists() and not Path("PWNED").exists()

    within(120, run_all)
    assert outcomes[0] + outcomes[1] == INPUTS
    assert outcomes[1] > INPUTS // 2 and outcomes[0] > 0  # both outcomes are exercised
    assert planned > 0
