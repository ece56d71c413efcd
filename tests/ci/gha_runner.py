"""A small local runner for this repository's GitHub workflows and composite action.

It executes what GitHub would: each ``run:`` script with ``bash -eo pipefail``, the ``env:`` of the
workflow, job and step evaluated from the expression contexts, ``if:`` conditions,
``continue-on-error``, ``$GITHUB_OUTPUT``/``$GITHUB_ENV`` files, job outputs, ``needs`` and
``strategy.matrix.include``. Steps that only prepare a GitHub runner are not run:
``actions/checkout`` (the work directory is already the checkout), ``actions/setup-python``,
``actions/cache`` and the step with ``id: install`` (lagosync is installed in this virtualenv).
Each ``run:`` step gets its own ``$GITHUB_STEP_SUMMARY`` file; what it wrote is ``StepResult.summary``. ``upload-artifact`` and
``download-artifact`` are emulated with a store that the fake GitHub also serves.

Expressions: literals, context paths (``a.b``, ``a[b.c]``), ``!``, ``==``, ``!=``, ``&&``, ``||``,
parentheses, ``fromJSON``, ``format``, ``always``, ``success``; anything else raises, so a
workflow cannot silently use something this runner does not understand.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PREP_ACTIONS = ("actions/checkout@", "actions/setup-python@", "actions/cache@")
SKIPPED_RUN_IDS = {"install"}


# --------------------------------------------------------------------------- expressions

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\)|\[|\]|,|\.)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))")


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse expression {expr!r} at {pos}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def truthy(v: Any) -> bool:
    return v not in (None, False, 0, "") and v == v


class _Parser:
    def __init__(self, expr: str, ctx: dict):
        self.toks, self.i, self.ctx, self.expr = _tokens(expr), 0, ctx, expr

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, value=None):
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise ValueError(f"expected {value!r} in {self.expr!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self):
        v = self.or_()
        if self.i != len(self.toks):
            raise ValueError(f"trailing tokens in {self.expr!r}")
        return v

    def or_(self):
        v = self.and_()
        while self.peek()[1] == "||":
            self.take()
            rhs = self.and_()
            v = v if truthy(v) else rhs
        return v

    def and_(self):
        v = self.cmp()
        while self.peek()[1] == "&&":
            self.take()
            rhs = self.cmp()
            v = rhs if truthy(v) else v
        return v

    def cmp(self):
        v = self.unary()
        while self.peek()[1] in ("==", "!="):
            op = self.take()[1]
            rhs = self.unary()
            a, b = (x.lower() if isinstance(x, str) else x for x in (v, rhs))
            v = (a == b) if op == "==" else (a != b)
        return v

    def unary(self):
        if self.peek()[1] == "!":
            self.take()
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self):
        kind, val = self.take()
        if kind == "str":
            v = val[1:-1].replace("''", "'")
        elif kind == "num":
            v = float(val) if "." in val else int(val)
        elif val == "(":
            v = self.or_()
            self.take(")")
        elif kind == "name" and self.peek()[1] == "(":
            self.take("(")
            args = []
            while self.peek()[1] != ")":
                args.append(self.or_())
                if self.peek()[1] == ",":
                    self.take()
            self.take(")")
            v = self.call(val, args)
        elif kind == "name":
            if val in ("true", "false", "null"):
                return {"true": True, "false": False, "null": None}[val]
            if val not in self.ctx:
                raise ValueError(f"unknown context {val!r} in {self.expr!r}")
            v = self.ctx[val]
        else:
            raise ValueError(f"unexpected {val!r} in {self.expr!r}")
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                key = self.take()[1]
            else:
                key = self.or_()
                self.take("]")
            v = v.get(key) if isinstance(v, dict) else None
        return v

    def call(self, name, args):
        if name == "fromJSON":
            return json.loads(args[0])
        if name == "format":
            return re.sub(r"\{(\d+)\}", lambda m: str(args[1 + int(m.group(1))]), args[0])
        if name in ("always",):
            return True
        if name == "success":
            return not self.ctx.get("_failed")
        if name == "failure":
            return bool(self.ctx.get("_failed"))
        raise ValueError(f"function {name}() is not supported by the local runner")


def evaluate(expr: str, ctx: dict) -> Any:
    return _Parser(expr, ctx).parse()


_INTERP = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def interpolate(value: Any, ctx: dict) -> Any:
    """``${{ }}`` in a YAML value: a whole-value expression keeps its type, embedded ones become text."""
    if isinstance(value, dict):
        return {k: interpolate(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, ctx) for v in value]
    if not isinstance(value, str):
        return value
    m = _INTERP.fullmatch(value.strip())
    if m and value.count("${{") == 1:
        return evaluate(m.group(1), ctx)

    def text(match):
        v = evaluate(match.group(1), ctx)
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return _INTERP.sub(text, value)


def condition(expr: str | bool | None, ctx: dict) -> bool:
    if expr is None:
        return not ctx.get("_failed")
    if isinstance(expr, bool):
        return expr
    s = expr.strip()
    m = _INTERP.fullmatch(s)
    s = m.group(1) if m else s
    status_fn = re.search(r"\b(always|success|failure|cancelled)\(", s)
    result = truthy(evaluate(s, ctx))
    return result if status_fn else (result and not ctx.get("_failed"))


# --------------------------------------------------------------------------- running


@dataclass
class StepResult:
    name: str
    id: str | None
    outcome: str  # success | failure | skipped
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict = field(default_factory=dict)
    summary: str = ""  # what the step wrote to $GITHUB_STEP_SUMMARY


@dataclass
class JobResult:
    name: str
    matrix: dict
    steps: list[StepResult]
    outputs: dict
    failed: bool

    def step(self, name_or_id: str) -> StepResult:
        for s in self.steps:
            if name_or_id in (s.id, s.name):
                return s
        raise KeyError(name_or_id)

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} [{s.outcome} rc={s.returncode}]\n{s.stdout}{s.stderr}" for s in self.steps)

    @property
    def summary(self) -> str:
        """The job's summary page: what its steps wrote to $GITHUB_STEP_SUMMARY, in order."""
        return "".join(s.summary for s in self.steps)


def _read_kv_file(path: Path) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT / $GITHUB_ENV: ``name=value`` lines and ``name<<DELIM`` blocks."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1: j])
            i = j + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
            i += 1
        else:
            i += 1
    return out


class Runner:
    def __init__(self, workdir: Path, *, github: dict, vars: dict | None = None, secrets: dict | None = None,
                 base_env: dict | None = None, artifacts: dict | None = None, on_upload=None,
                 action_root: Path | None = None):
        self.workdir = Path(workdir)
        self.github = github
        self.vars = vars or {}
        self.secrets = secrets or {}
        self.base_env = dict(base_env or {})
        self.artifacts = artifacts if artifacts is not None else {}  # name -> {relpath: bytes}
        self.on_upload = on_upload
        self.action_root = action_root
        self.skipped_runs: list[str] = []
        self._counter = 0

    # ---- workflows
    def run_workflow(self, path: Path, inputs: dict | None = None) -> dict[str, list[JobResult]]:
        wf = yaml.safe_load(Path(path).read_text())
        results: dict[str, list[JobResult]] = {}
        done: set[str] = set()
        jobs = wf["jobs"]
        while len(done) < len(jobs):
            ready = [n for n, j in jobs.items() if n not in done and set(_as_list(j.get("needs"))) <= done]
            if not ready:
                raise ValueError("cyclic needs")
            for name in ready:
                job = jobs[name]
                needs = {n: {"outputs": results[n][0].outputs if results[n] else {},
                             "result": "skipped" if not results[n] else
                             "failure" if any(r.failed for r in results[n]) else "success"}
                         for n in _as_list(job.get("needs"))}
                if any(v["result"] != "success" for v in needs.values()):
                    results[name] = []
                else:
                    results[name] = self.run_job(name, job, wf.get("env") or {}, needs, inputs or {})
                done.add(name)
        return results

    def _ctx(self, **extra) -> dict:
        return {"github": self.github, "vars": self.vars, "secrets": self.secrets, "runner": {
            "temp": str(self.workdir / ".runner-temp"), "os": "Linux"}, "env": {}, "steps": {},
            "matrix": {}, "needs": {}, "inputs": {}, "job": {}, "strategy": {}, **extra}

    def run_job(self, name: str, job: dict, wf_env: dict, needs: dict, inputs: dict) -> list[JobResult]:
        ctx0 = self._ctx(needs=needs, inputs=inputs)
        include = (job.get("strategy") or {}).get("matrix", {}).get("include")
        combos = interpolate(include, ctx0) if include is not None else [{}]
        results = []
        for combo in combos:
            ctx = self._ctx(needs=needs, inputs=inputs, matrix=combo)
            env = {k: _env_str(v) for k, v in interpolate(wf_env, ctx).items()}
            ctx["env"] = dict(env)
            env.update({k: _env_str(v) for k, v in interpolate(job.get("env") or {}, ctx).items()})
            ctx["env"] = dict(env)
            steps = self.run_steps(job["steps"], ctx, env)
            outputs = {k: _env_str(interpolate(v, ctx)) for k, v in (job.get("outputs") or {}).items()}
            results.append(JobResult(name, combo, steps, outputs, bool(ctx.get("_failed"))))
        return results

    # ---- steps (workflow jobs and composite actions)
    def run_steps(self, steps: list[dict], ctx: dict, env: dict) -> list[StepResult]:
        results = []
        self._counter += 1
        github_env = self.workdir / ".runner-temp" / f"github_env_{self._counter}"
        github_env.parent.mkdir(parents=True, exist_ok=True)
        github_env.write_text("")
        for i, step in enumerate(steps):
            ctx["env"] = {**env, **_read_kv_file(github_env)}
            sid = step.get("id")
            label = step.get("name") or sid or step.get("uses") or step.get("run", "").splitlines()[0]
            if not condition(step.get("if"), ctx):
                res = StepResult(label, sid, "skipped")
            else:
                res = self.run_step(step, ctx, env, github_env, i)
                if res.outcome == "failure" and not step.get("continue-on-error"):
                    ctx["_failed"] = True
            if sid:
                ctx["steps"][sid] = {"outputs": res.outputs, "outcome": res.outcome,
                                     "conclusion": "success" if step.get("continue-on-error") else res.outcome}
            results.append(res)
        return results

    def run_step(self, step: dict, ctx: dict, env: dict, github_env: Path, index: int) -> StepResult:
        sid = step.get("id")
        label = step.get("name") or sid or step.get("uses") or step.get("run", "").splitlines()[0]
        uses = step.get("uses")
        if uses:
            with_ = {k: _env_str(v) for k, v in interpolate(step.get("with") or {}, ctx).items()}
            if uses.startswith(PREP_ACTIONS):
                return StepResult(label, sid, "success", 0, "(runner preparation, not run locally)")
            if uses.startswith("actions/upload-artifact@"):
                return self._upload(label, sid, with_)
            if uses.startswith("actions/download-artifact@"):
                return self._download(label, sid, with_)
            if uses == "./" and self.action_root is not None:
                return self._composite(label, sid, with_, ctx, env)
            raise ValueError(f"the local runner cannot run `uses: {uses}`")
        if sid in SKIPPED_RUN_IDS:
            self.skipped_runs.append(step["run"])
            return StepResult(label, sid, "success", 0, "(installation, not run locally)")
        step_env = dict(ctx["env"])
        step_env.update({k: _env_str(v) for k, v in interpolate(step.get("env") or {}, ctx).items()})
        self._counter += 1
        out_file = self.workdir / ".runner-temp" / f"out_{self._counter}"
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text("")
        summary_file = out_file.with_name(f"summary_{self._counter}")
        summary_file.write_text("")
        proc_env = {**self.base_env, **self._github_env_vars(), **step_env,
                    "GITHUB_OUTPUT": str(out_file), "GITHUB_ENV": str(github_env),
                    "GITHUB_STEP_SUMMARY": str(summary_file)}
        with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False, dir=out_file.parent) as fh:
            fh.write(step["run"])
        cmd = ["bash", "--noprofile", "--norc", "-eo", "pipefail", fh.name]
        proc = subprocess.run(cmd, cwd=self.workdir, env=proc_env, capture_output=True, text=True, timeout=300)
        outputs = _read_kv_file(out_file)
        return StepResult(label, sid, "success" if proc.returncode == 0 else "failure", proc.returncode,
                          proc.stdout, proc.stderr, outputs, summary_file.read_text())

    def _github_env_vars(self) -> dict:
        g = self.github
        return {k: str(v) for k, v in {
            "GITHUB_REPOSITORY": g.get("repository"), "GITHUB_SHA": g.get("sha"),
            "GITHUB_EVENT_NAME": g.get("event_name"), "GITHUB_EVENT_PATH": g.get("event_path"),
            "GITHUB_API_URL": g.get("api_url"), "GITHUB_SERVER_URL": g.get("server_url"),
            "GITHUB_RUN_ID": g.get("run_id"), "GITHUB_WORKSPACE": str(self.workdir), "CI": "true",
            "GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(self.workdir / ".runner-temp"),
        }.items() if v is not None}

    def _upload(self, label, sid, with_) -> StepResult:
        src = self.workdir / with_["path"]
        files = {}
        if src.is_dir():
            files = {str(p.relative_to(src)): p.read_bytes() for p in sorted(src.rglob("*")) if p.is_file()}
        elif src.is_file():
            files = {src.name: src.read_bytes()}
        if not files and with_.get("if-no-files-found") != "ignore":
            return StepResult(label, sid, "failure", 1, "", f"no files at {with_['path']}")
        self.artifacts[with_["name"]] = files
        if self.on_upload:
            self.on_upload(with_["name"], files)
        return StepResult(label, sid, "success", 0, f"uploaded {with_['name']}: {sorted(files)}")

    def _download(self, label, sid, with_) -> StepResult:
        dest = self.workdir / with_.get("path", ".")
        names = [n for n in self.artifacts if fnmatch.fnmatchcase(n, with_.get("pattern") or with_.get("name"))]
        for name in names:
            for rel, data in self.artifacts[name].items():
                target = dest / name / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        return StepResult(label, sid, "success", 0, f"downloaded {names}")

    def _composite(self, label, sid, with_, ctx, env) -> StepResult:
        action = yaml.safe_load((self.action_root / "action.yml").read_text())
        inputs = {}
        for name, spec in action.get("inputs", {}).items():
            default = spec.get("default", "")
            inputs[name] = with_.get(name, _env_str(interpolate(default, ctx)))
        actx = self._ctx(inputs=inputs)
        actx["github"] = {**self.github, "action_path": str(self.action_root)}
        steps = self.run_steps(action["runs"]["steps"], actx, {})
        failed = bool(actx.get("_failed"))
        outputs = {k: _env_str(interpolate(v["value"], actx)) for k, v in action.get("outputs", {}).items()}
        log = "\n".join(f"--- {s.name} [{s.outcome} rc={s.returncode}]\n{s.stdout}{s.stderr}" for s in steps)
        res = StepResult(label, sid, "failure" if failed else "success", 1 if failed else 0, log, "", outputs,
                         "".join(s.summary for s in steps))
        res.inner = steps  # type: ignore[attr-defined]
        return res


def _as_list(v) -> list:
    return [] if v is None else [v] if isinstance(v, str) else list(v)


def _env_str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def venv_env() -> dict:
    """The environment of a runner: this virtualenv's bin first on PATH; no inherited secrets."""
    bin_dir = str(Path(sys.executable).parent)
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")}
    return {**keep, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")}


def copy_workspace(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("lagosync.yaml", "orgs.yaml"):
        shutil.copy2(src / name, dest / name)
    shutil.copytree(src / "plans", dest / "plans")
    if (src / "schemas").is_dir():
        shutil.copytree(src / "schemas", dest / "schemas")
    return dest
