"""``lagosync import``: write the workspace YAML for objects that already live in Lago.

Import is the inverse of ``lagosync.model.from_yaml``: live objects are read and canonicalised
(``read_live`` -> ``from_api``), then ``to_yaml`` turns each canonical object back into the
readable form a person would write (Lago field names, codes, decimal strings, defaults left out)
such that ``from_yaml(kind, to_yaml(kind, c)) == c``. So ``import`` then ``plan`` shows nothing.

Layout written (the workspace layout of the loader):
- ``plans/catalog.yaml``: taxes, billable_metrics, add_ons, coupons;
- ``plans/<plan code>.yaml``: one file per plan with its charges;
- ``orgs.yaml``: customers with their subscriptions.
An existing file is never changed without ``force``; with it the imported objects are added to
the file, whose declared objects are kept. Objects the workspace already declares are skipped
(they are managed already).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

KINDS = ("tax", "billable_metric", "add_on", "plan", "coupon", "customer", "subscription")
SELECT_KINDS = {
    "tax": "tax", "taxes": "tax",
    "metric": "billable_metric", "billable_metric": "billable_metric", "billable_metrics": "billable_metric",
    "add_on": "add_on", "add-on": "add_on", "add_ons": "add_on",
    "plan": "plan", "plans": "plan",
    "coupon": "coupon", "coupons": "coupon",
    "customer": "customer", "org": "customer", "customers": "customer", "orgs": "customer",
}
CATALOG_SECTIONS = (("tax", "taxes"), ("billable_metric", "billable_metrics"), ("add_on", "add_ons"),
                    ("coupon", "coupons"))


# --------------------------------------------------------------------------- canonical -> YAML


def _put(out: dict, key: str, value: Any, default: Any = None) -> None:
    """Write ``key`` unless the value is the default the model fills in anyway."""
    if value is None or value == default:
        return
    if isinstance(value, (list, dict)) and not value and default is None:
        return
    out[key] = value


def _trial(value: str | None) -> Any:
    if value in (None, "0"):
        return None
    return int(value) if value.isdigit() else value  # schema: integer or decimal string


def _tax(c: dict) -> dict:
    out = {"code": c["code"], "name": c["name"], "rate": c["rate"]}
    _put(out, "description", c.get("description"))
    _put(out, "applied_to_organization", c.get("applied_to_organization"), False)
    return out


def _metric(c: dict) -> dict:
    out = {"code": c["code"], "name": c["name"]}
    _put(out, "description", c.get("description"))
    out["aggregation_type"] = c["aggregation_type"]
    _put(out, "field_name", c.get("field_name"))
    _put(out, "recurring", c.get("recurring"), False)
    for key in ("weighted_interval", "rounding_function", "rounding_precision", "expression"):
        _put(out, key, c.get(key))
    filters = [{"key": k, "values": list(v)} for k, v in sorted((c.get("filters") or {}).items())]
    _put(out, "filters", filters)
    return out


def _add_on(c: dict) -> dict:
    out = {"code": c["code"], "name": c["name"]}
    _put(out, "invoice_display_name", c.get("invoice_display_name"))
    out["amount_cents"] = c["amount_cents"]
    out["amount_currency"] = c["amount_currency"]
    _put(out, "description", c.get("description"))
    _put(out, "tax_codes", list(c.get("tax_codes") or []))
    return out


def _charge(c: dict) -> dict:
    out: dict[str, Any] = {}
    if c.get("code") and c["code"] != c.get("billable_metric_code"):
        out["code"] = c["code"]
    out["billable_metric_code"] = c["billable_metric_code"]
    out["charge_model"] = c["charge_model"]
    _put(out, "invoice_display_name", c.get("invoice_display_name"))
    _put(out, "pay_in_advance", c.get("pay_in_advance"), False)
    _put(out, "prorated", c.get("prorated"), False)
    _put(out, "min_amount_cents", c.get("min_amount_cents"), 0)
    if c.get("properties") or c["charge_model"] != "dynamic":
        out["properties"] = dict(c.get("properties") or {})
    filters = []
    for f in c.get("filters") or []:
        item: dict[str, Any] = {}
        _put(item, "invoice_display_name", f.get("invoice_display_name"))
        item["properties"] = dict(f.get("properties") or {})
        item["values"] = {k: list(v) for k, v in (f.get("values") or {}).items()}
        filters.append(item)
    _put(out, "filters", filters)
    _put(out, "tax_codes", list(c.get("tax_codes") or []))
    return out


def _plan(c: dict) -> dict:
    out = {"code": c["code"], "name": c["name"]}
    _put(out, "invoice_display_name", c.get("invoice_display_name"))
    _put(out, "description", c.get("description"))
    out["interval"] = c["interval"]
    out["amount_cents"] = c["amount_cents"]
    out["amount_currency"] = c["amount_currency"]
    _put(out, "trial_period", _trial(c.get("trial_period")))
    _put(out, "pay_in_advance", c.get("pay_in_advance"), False)
    # None unless yearly/semiannual; there False is what the model fills for an omitted value
    _put(out, "bill_charges_monthly", c.get("bill_charges_monthly"), False)
    _put(out, "tax_codes", list(c.get("tax_codes") or []))
    _put(out, "metadata", dict(c.get("metadata") or {}))
    charges = [_charge(ch) for _, ch in sorted((c.get("charges") or {}).items())]
    _put(out, "charges", charges)
    return out


def _coupon(c: dict) -> dict:
    out = {"code": c["code"], "name": c["name"]}
    _put(out, "description", c.get("description"))
    out["coupon_type"] = c["coupon_type"]
    if c["coupon_type"] == "fixed_amount":
        out["amount_cents"] = c.get("amount_cents")
        out["amount_currency"] = c.get("amount_currency")
    else:
        out["percentage_rate"] = c.get("percentage_rate")
    out["frequency"] = c.get("frequency")
    if c.get("frequency") == "recurring":
        out["frequency_duration"] = c.get("frequency_duration")
    out["expiration"] = c.get("expiration")
    if c.get("expiration") == "time_limit":
        out["expiration_at"] = c.get("expiration_at")
    _put(out, "reusable", c.get("reusable"), True)
    applies: dict[str, Any] = {}
    _put(applies, "plan_codes", list((c.get("applies_to") or {}).get("plan_codes") or []))
    _put(applies, "billable_metric_codes", list((c.get("applies_to") or {}).get("billable_metric_codes") or []))
    _put(out, "applies_to", applies)
    return out


def _customer(c: dict) -> dict:
    out: dict[str, Any] = {"external_id": c["external_id"]}
    for key, value in c.items():
        if key in ("external_id", "metadata"):
            continue
        _put(out, key, value)
    meta = []
    for key, spec in sorted((c.get("metadata") or {}).items()):
        entry = {"key": key, "value": spec.get("value")}
        if spec.get("display_in_invoice"):
            entry["display_in_invoice"] = True
        meta.append(entry)
    _put(out, "metadata", meta)
    return out


def _subscription(c: dict, only_one: bool) -> dict:
    out: dict[str, Any] = {}
    # the loader names an org's only undeclared subscription sub_<org> (ARCHITECTURE "Workspace")
    if not (only_one and c["external_id"] == f"sub_{c['external_customer_id']}"):
        out["external_id"] = c["external_id"]
    out["plan_code"] = c["plan_code"]
    _put(out, "name", c.get("name"))
    _put(out, "billing_time", c.get("billing_time"), "calendar")
    return out


_TO_YAML = {"tax": _tax, "billable_metric": _metric, "add_on": _add_on, "plan": _plan, "coupon": _coupon,
            "customer": _customer}


def to_yaml(kind: str, canonical: dict, *, only_subscription: bool = False) -> dict:
    """The readable workspace form of a canonical object (inverse of ``model.from_yaml``)."""
    if kind == "subscription":
        return _subscription(canonical, only_subscription)
    return _TO_YAML[kind](canonical)


# --------------------------------------------------------------------------- selection and layout


def parse_select(items: list[str] | tuple[str, ...] | None) -> dict[str, set[str]] | None:
    """``KIND:CODE`` items (``plan:pro``, ``metric:api_calls``, ``customer:org_acme``; ``plan:*``)."""
    if not items:
        return None
    out: dict[str, set[str]] = {}
    for item in items:
        kind, sep, code = str(item).partition(":")
        kind = SELECT_KINDS.get(kind.strip().lower())
        if not sep or kind is None or not code.strip():
            raise UserError(
                f"--select {item!r}: expected KIND:CODE with KIND one of tax, metric, add_on, plan, coupon, "
                "customer (for example --select plan:pro)"
            )
        out.setdefault(kind, set()).add(code.strip())
    return out


def _selected(select: dict[str, set[str]] | None, kind: str, key: str) -> bool:
    if select is None:
        return True
    codes = select.get(kind) or set()
    return "*" in codes or key in codes


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _plan_file(code: str, used: set[str]) -> str:
    base = _SAFE.sub("_", code).strip("._") or "plan"
    name, n = base, 2
    while name.lower() in used or name.lower() == "catalog":
        name, n = f"{base}_{n}", n + 1
    used.add(name.lower())
    return f"plans/{name}.yaml"


def build_files(
    live_state: dict[str, dict[str, dict]],
    *,
    declared: dict[str, dict[str, Any]] | None = None,
    select: dict[str, set[str]] | None = None,
) -> tuple[dict[str, dict], list[str]]:
    """Relative path -> YAML document, and the ids skipped because the workspace declares them."""
    declared = declared or {}
    skipped: list[str] = []

    def take(kind: str) -> list[tuple[str, dict]]:
        out = []
        for key in sorted(live_state.get(kind) or {}):
            if not _selected(select, kind, key):
                continue
            if key in (declared.get(kind) or {}):
                skipped.append(f"{kind}:{key}")
                continue
            out.append((key, live_state[kind][key]))
        return out

    files: dict[str, dict] = {}
    catalog: dict[str, list] = {}
    for kind, section in CATALOG_SECTIONS:
        items = [to_yaml(kind, c) for _, c in take(kind)]
        if items:
            catalog[section] = items
    if catalog:
        files["plans/catalog.yaml"] = catalog
    used: set[str] = set()
    for key, c in take("plan"):
        files[_plan_file(key, used)] = {"plans": [to_yaml("plan", c)]}
    orgs = []
    subs_by_customer: dict[str, list[dict]] = {}
    for key, s in sorted((live_state.get("subscription") or {}).items()):
        if key in (declared.get("subscription") or {}):
            continue
        subs_by_customer.setdefault(s.get("external_customer_id"), []).append(s)
    for key, c in take("customer"):
        org = to_yaml("customer", c)
        subs = subs_by_customer.get(key) or []
        if subs:
            org["subscriptions"] = [to_yaml("subscription", s, only_subscription=len(subs) == 1) for s in subs]
        orgs.append(org)
    if orgs:
        files["orgs.yaml"] = {"orgs": orgs}
    return files, skipped


def dump(doc: dict) -> str:
    header = "# written by `lagosync import`; edit freely, lagosync keeps it in sync with Lago\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


@dataclass
class ImportResult:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"wrote {p}" for p in self.written]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} object(s) the workspace already declares: "
                         + ", ".join(self.skipped))
        total = sum(self.counts.values())
        if not self.written:
            lines.append("nothing to import: no live object matches that is not declared already")
        else:
            parts = ", ".join(f"{n} {k}" for k, n in self.counts.items() if n)
            lines.append(f"imported {total} object(s) ({parts}); run `lagosync plan` to check it shows no changes")
        return "\n".join(lines) + "\n"


def _merged(path: Path, rel: str, doc: dict) -> dict:
    """``doc`` added to the document already in ``path``: ``import`` adds objects, like
    ``terraform import``, it never drops what a file declares (items with the same key are
    replaced by the imported ones)."""
    try:
        old = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"{rel}: cannot be read to add the imported objects ({exc.__class__.__name__}); "
                        "fix or move the file and run import again") from None
    if old is None:
        return doc
    if not isinstance(old, dict) or not all(isinstance(old.get(sec, []), list) for sec in doc):
        raise UserError(f"{rel}: not a workspace document the import can add to; fix or move the file "
                        "and run import again")
    merged = dict(old)
    for section, items in doc.items():
        key_field = "external_id" if section == "orgs" else "code"
        new_keys = {i.get(key_field) for i in items if isinstance(i, dict)}
        kept = [i for i in (old.get(section) or []) if not (isinstance(i, dict) and i.get(key_field) in new_keys)]
        merged[section] = kept + list(items)
    return merged


def write_files(root: Path, files: dict[str, dict], *, force: bool = False) -> list[str]:
    """Write the documents; refuses (before writing anything) when a file exists and not ``force``.

    With ``force`` an existing file keeps every object it declares and gets the imported ones
    added (it is rewritten, so its comments are lost)."""
    root = Path(root)
    existing = sorted(p for p in files if (root / p).exists())
    if existing and not force:
        raise UserError(
            "import would change " + ", ".join(existing)
            + " (pass --force to add the imported objects to it: what it declares is kept, its comments"
            " are not; or move the file away)"
        )
    docs = {rel: (_merged(root / rel, rel, doc) if rel in existing else doc) for rel, doc in files.items()}
    for rel, doc in sorted(docs.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(doc), encoding="utf-8")
    return sorted(files)


def count_objects(files: dict[str, dict]) -> dict[str, int]:
    counts = {"taxes": 0, "billable_metrics": 0, "add_ons": 0, "coupons": 0, "plans": 0, "orgs": 0,
              "subscriptions": 0}
    for doc in files.values():
        for section, items in doc.items():
            counts[section] = counts.get(section, 0) + len(items)
            if section == "orgs":
                counts["subscriptions"] += sum(len(o.get("subscriptions") or []) for o in items)
    return counts


# --------------------------------------------------------------------------- I/O entry point


async def import_async(root=".", env: str | None = None, *, select: list[str] | None = None,
                       force: bool = False, client_factory=None) -> ImportResult:
    """Read ``env`` and write YAML for the selected live objects into the workspace at ``root``."""
    from .client.connect import connect, resolve_environment
    from .live import read_live
    from .workspace import load_workspace

    chosen = parse_select(select)
    workspace = _load_for_import(root, load_workspace)
    env_name = resolve_environment(workspace, env).name
    client = (client_factory or connect)(workspace, env_name)
    async with client:
        live = await read_live(client, workspace, prune=True)  # prune=True: list every customer
    # a user customer named by an org's migrate_from is declared too: it is being moved, not an org
    moving = {u: {} for u in (getattr(live.facts, "migrate_from", None) or {})}
    declared = {**workspace.desired, "customer": {**moving, **(workspace.desired.get("customer") or {})}}
    files, skipped = build_files(live.state, declared=declared, select=chosen)
    written = write_files(Path(workspace.root), files, force=force) if files else []
    return ImportResult(written=written, skipped=skipped, counts=count_objects(files))


def _load_for_import(root, load_workspace):
    """The workspace; a fresh one (lagosync.yaml, no plans yet) is fine: import is how it starts."""
    import dataclasses
    import shutil
    import tempfile

    from .errors import WorkspaceError

    try:
        return load_workspace(root)
    except WorkspaceError as exc:
        only_empty = exc.diagnostics and all(d.file == "plans/" for d in exc.diagnostics)
        if not only_empty:
            raise
    # settings as the loader reads them, from a copy with an empty catalog file
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(Path(root) / "lagosync.yaml", Path(tmp) / "lagosync.yaml")
        (Path(tmp) / "plans").mkdir()
        (Path(tmp) / "plans" / "empty.yaml").write_text("{}\n", encoding="utf-8")
        if (Path(root) / "orgs.yaml").is_file():
            shutil.copy(Path(root) / "orgs.yaml", Path(tmp) / "orgs.yaml")
        workspace = load_workspace(tmp)
    return dataclasses.replace(workspace, root=Path(root))


def run_import(root=".", env: str | None = None, *, select=None, force: bool = False,
               client_factory=None) -> ImportResult:
    import asyncio

    return asyncio.run(import_async(root, env, select=select, force=force, client_factory=client_factory))
