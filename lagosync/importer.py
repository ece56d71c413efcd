"""``lagosync import``: write the workspace YAML for objects that already live in Lago.

Import is the inverse of ``lagosync.model.from_yaml``: live objects are read and canonicalised
(``read_live`` -> ``from_api``), then ``to_yaml`` turns each canonical object back into the
readable form a person would write (Lago field names, codes, decimal strings, defaults left out)
such that ``from_yaml(kind, to_yaml(kind, c)) == c``. So ``import`` then ``plan`` shows nothing.

Layout written (the workspace layout of the loader):
- ``plans/catalog.yaml``: taxes, billable_metrics, add_ons, coupons;
- ``plans/<plan code>.yaml``: one file per plan with its charges and fixed charges;
- ``orgs.yaml``: customers with their subscriptions and applied coupons (``coupons``).
The plan list has no fixed charges (lago-behaviour#plan-list-no-fixed-charges), so each imported plan is read with
``GET /plans/{code}``; an imported org's active applied coupons are listed with
``GET /applied_coupons?status=active`` and written with only the overrides that differ from the
coupon (lago-behaviour#applied-coupon-overrides-default).
An existing file is never changed without ``force``; with it the imported objects are added to
the file, whose declared objects are kept. Objects the workspace already declares are skipped
(they are managed already).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .client import LagoNotFound
from .client.connect import connect, resolve_environment
from .errors import UserError, WorkspaceError
from .kinds import KINDS as ALL_KINDS
from .kinds import applied_coupon_key, label, parse_kind, references, split_version
from .live import read_live
from .model import APPLIED_COUPON_OVERRIDES, from_api
from .schemafiles import SCHEMA_DIR, modeline, write_schemas
from .workspace import load_workspace
from .workspace.schema import schema_text

if TYPE_CHECKING:
    from .live import LiveState

# what import writes (an org's applied coupons are written inside its org)
KINDS = tuple(k for k in ALL_KINDS if k != "applied_coupon")
SELECTABLE = ("tax", "billable_metric", "add_on", "plan", "coupon", "customer")
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
    # no key when there are none: the live reader then needs no GET /plans/{code} (lago-behaviour#plan-list-no-fixed-charges)
    fixed = [_fixed_charge(fc) for _, fc in sorted((c.get("fixed_charges") or {}).items())]
    _put(out, "fixed_charges", fixed)
    # a lagosync directive, not a Lago field: set when subscriptions are on several versions (import)
    _put(out, "price_change", c.get("price_change"))
    return out


def _units(value: str | None) -> Any:
    # schema: a non-negative integer or a decimal string ("2.5"), never a float
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _fixed_charge(c: dict) -> dict:
    """A plan fixed charge (lago-behaviour#fixed-charges) as plans.schema.json ``fixed_charge`` writes it."""
    out: dict[str, Any] = {"add_on_code": c["add_on_code"]}
    if c.get("code") and c["code"] != c.get("add_on_code"):
        out["code"] = c["code"]  # default: the add-on code
    out["charge_model"] = c["charge_model"]
    _put(out, "invoice_display_name", c.get("invoice_display_name"))
    _put(out, "units", _units(c.get("units")), 0)
    _put(out, "pay_in_advance", c.get("pay_in_advance"), False)
    _put(out, "prorated", c.get("prorated"), False)
    out["properties"] = dict(c.get("properties") or {})
    _put(out, "tax_codes", list(c.get("tax_codes") or []))
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
        if isinstance(value, dict):  # shipping_address, billing_configuration: the parts set
            value = {k: v for k, v in value.items() if v is not None}
        _put(out, key, value)
    meta = []
    for key, spec in sorted((c.get("metadata") or {}).items()):
        entry = {"key": key, "value": spec.get("value")}
        if spec.get("display_in_invoice"):
            entry["display_in_invoice"] = True
        meta.append(entry)
    _put(out, "metadata", meta)
    return out


def _applied_coupon(c: dict) -> dict:
    """An org's ``coupons`` item: the code and the overrides set (None = the coupon's value)."""
    out: dict[str, Any] = {"coupon_code": c["coupon_code"]}
    for key in APPLIED_COUPON_OVERRIDES:
        _put(out, key, c.get(key))
    return out


def applied_coupon_overrides(applied: dict, coupon: dict | None) -> dict:
    """Canonical ``applied_coupon`` of a raw live applied coupon holding only the overrides that
    differ from its coupon (canonical ``coupon``); the others are None, i.e. not declared, so the
    written item is what a person would write (lago-behaviour#applied-coupon-overrides-default: unset values default to the coupon's)."""
    full = from_api("applied_coupon", applied)
    out = {**full, **dict.fromkeys(APPLIED_COUPON_OVERRIDES)}
    if coupon is None:
        return out
    if coupon.get("coupon_type") == "fixed_amount":
        fields = ["amount_cents", "amount_currency"]
    else:
        fields = ["percentage_rate"]
    fields.append("frequency")
    for key in fields:
        if full.get(key) is not None and full[key] != coupon.get(key):
            out[key] = full[key]
    frequency = full.get("frequency") or coupon.get("frequency")
    duration = full.get("frequency_duration")
    # only a recurring coupon has a duration (lagosync validate refuses it otherwise)
    if frequency == "recurring" and duration is not None and (
            duration != coupon.get("frequency_duration") or out["frequency"] is not None):
        out["frequency_duration"] = duration
    return out


def _subscription(c: dict, only_one: bool) -> dict:
    out: dict[str, Any] = {}
    # the loader names an org's only undeclared subscription sub_<org> (ARCHITECTURE "Workspace")
    if not (only_one and c["external_id"] == f"sub_{c['external_customer_id']}"):
        out["external_id"] = c["external_id"]
    out["plan_code"] = c["plan_code"]
    _put(out, "name", c.get("name"))
    _put(out, "billing_time", c.get("billing_time"), "calendar")
    _put(out, "ending_at", c.get("ending_at"))
    return out


_TO_YAML = {"tax": _tax, "billable_metric": _metric, "add_on": _add_on, "plan": _plan, "coupon": _coupon,
            "customer": _customer}


def to_yaml(kind: str, canonical: dict, *, only_subscription: bool = False) -> dict:
    """The readable workspace form of a canonical object (inverse of ``model.from_yaml``)."""
    if kind == "subscription":
        return _subscription(canonical, only_subscription)
    if kind == "applied_coupon":
        return _applied_coupon(canonical)
    return _TO_YAML[kind](canonical)


# --------------------------------------------------------------------------- selection and layout


def parse_select(items: list[str] | tuple[str, ...] | None) -> dict[str, set[str]] | None:
    """``KIND:CODE`` items (``plan:pro``, ``metric:api_calls``, ``customer:org_acme``; ``plan:*``)."""
    if not items:
        return None
    out: dict[str, set[str]] = {}
    for item in items:
        word, sep, code = str(item).partition(":")
        kind = parse_kind(word)
        if not sep or kind not in SELECTABLE or not code.strip():
            raise UserError(
                f"--select {item!r}: expected KIND:CODE with KIND one of {', '.join(SELECTABLE)} "
                "(for example --select plan:pro)"
            )
        out.setdefault(kind, set()).add(code.strip())
    return out


def _selected(select: dict[str, set[str]] | None, kind: str, key: str) -> bool:
    if select is None:
        return True
    codes = select.get(kind) or set()
    return "*" in codes or key in codes


def _refs(kind: str, c: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, code) of the objects a canonical object references (what validation resolves); an
    org is imported with its subscriptions' plans and its coupons, not the other way round."""
    out = []
    for ref in sorted(references(kind, c)):
        ref_kind, _, code = ref.partition(":")
        if ref_kind != "customer":
            out.append((ref_kind, code))
    return out


def with_dependencies(live_state: dict[str, dict[str, dict]], declared: dict[str, dict[str, Any]],
                      select: dict[str, set[str]] | None, notes: list[str]) -> dict[str, set[str]] | None:
    """``select`` grown by what the selected objects reference and the workspace does not declare
    (a plan's metrics, add-ons and taxes, an org's plans and coupons, ...), so the written files
    validate; each addition is named in ``notes``. ``None`` (everything) stays ``None``."""
    if select is None:
        return None
    chosen = {kind: set(codes) for kind, codes in select.items()}
    queue = [(kind, key) for kind in KINDS for key in sorted(live_state.get(kind) or {})
             if _selected(select, kind, key) and key not in (declared.get(kind) or {})]
    subs = live_state.get("subscription") or {}
    applied = live_state.get("applied_coupon") or {}
    while queue:
        kind, key = queue.pop(0)
        c = (live_state.get(kind) or {}).get(key)
        if c is None:
            continue
        refs = _refs(kind, c)
        if kind == "customer":
            for s in subs.values():
                if s.get("external_customer_id") == key and s.get("external_id") not in (declared.get("subscription") or {}):
                    refs += _refs("subscription", s)
            for a in applied.values():
                if a.get("external_customer_id") == key:
                    refs += _refs("applied_coupon", a)
        for ref_kind, code in refs:
            if code in (declared.get(ref_kind) or {}) or code not in (live_state.get(ref_kind) or {}):
                continue
            if _selected(chosen, ref_kind, code):
                continue
            chosen.setdefault(ref_kind, set()).add(code)
            notes.append(f"also imported {label(ref_kind)} {code!r} ({label(kind)} {key!r} uses it)")
            queue.append((ref_kind, code))
    return chosen


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
    notes: list[str] | None = None,
) -> tuple[dict[str, dict], list[str]]:
    """Relative path -> YAML document, and the ids skipped because the workspace declares them.

    ``live_state["applied_coupon"]`` (``<org>/<coupon_code>`` -> canonical, see
    ``applied_coupon_overrides``) becomes the imported orgs' ``coupons``; ``notes`` (if given)
    collects what the written files cannot hold or still need (sentences for the summary)."""
    declared = declared or {}
    skipped: list[str] = []
    notes = notes if notes is not None else []
    select = with_dependencies(live_state, declared, select, notes)

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

    def present(kind: str, code: str) -> bool:
        """Declared (and not ``ensure: absent``), or imported by this run."""
        obj = (declared.get(kind) or {}).get(code)
        if obj is not None:
            return not (isinstance(obj, dict) and obj.get("ensure") == "absent")
        return code in (live_state.get(kind) or {}) and _selected(select, kind, code)

    for key, c in take("plan"):
        files[_plan_file(key, used)] = {"plans": [to_yaml("plan", c)]}
        for fc in sorted((c.get("fixed_charges") or {}).values(), key=lambda f: f["code"]):
            if not present("add_on", fc["add_on_code"]):
                notes.append(f"plan {key!r}: fixed charge {fc['code']!r} uses add-on {fc['add_on_code']!r}, which "
                             f"the workspace does not declare: import it too (--select add_on:{fc['add_on_code']})")
    orgs = []
    subs_by_customer: dict[str | None, list[dict]] = {}
    for key, s in sorted((live_state.get("subscription") or {}).items()):
        if key in (declared.get("subscription") or {}):
            continue
        subs_by_customer.setdefault(s.get("external_customer_id"), []).append(s)
    coupons_by_customer: dict[str, list[tuple[str, dict]]] = {}
    for applied in (live_state.get("applied_coupon") or {}).values():
        coupons_by_customer.setdefault(applied["external_customer_id"], []).append((applied["coupon_code"], applied))
    for key, c in take("customer"):
        org = to_yaml("customer", c)
        subs = subs_by_customer.get(key) or []
        if subs:
            org["subscriptions"] = [to_yaml("subscription", s, only_subscription=len(subs) == 1) for s in subs]
        coupons = []
        for code, applied in sorted(coupons_by_customer.get(key) or []):
            if present("coupon", code):
                coupons.append(to_yaml("applied_coupon", applied))
            else:
                # the live reader reads applied coupons of declared coupons only (ARCHITECTURE)
                notes.append(f"org {key!r}: applied coupon {code!r} not written: the workspace does not declare "
                             f"coupon {code!r} (import it too: --select coupon:{code})")
        if coupons:
            org["coupons"] = coupons
        orgs.append(org)
    if orgs:
        files["orgs.yaml"] = {"orgs": orgs}
    return files, skipped


def dump(doc: dict, rel: str = "") -> str:
    """The YAML text of a written file: its schema modeline (``rel``: its path in the workspace), a
    header, the document."""
    header = "# written by `lagosync import`; edit freely, lagosync keeps it in sync with Lago\n"
    return modeline(rel) + header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


@dataclass
class ImportResult:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)  # the JSON Schemas written for the files' modelines

    def summary(self) -> str:
        lines = [f"wrote {p}" for p in self.written + self.schemas]
        lines += [f"note: {n}" for n in self.notes]
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
        path.write_text(dump(doc, rel), encoding="utf-8")
    return sorted(files)


def count_objects(files: dict[str, dict]) -> dict[str, int]:
    counts = {"taxes": 0, "billable_metrics": 0, "add_ons": 0, "coupons": 0, "plans": 0, "fixed_charges": 0,
              "orgs": 0, "subscriptions": 0, "applied_coupons": 0}
    for doc in files.values():
        for section, items in doc.items():
            counts[section] = counts.get(section, 0) + len(items)
            if section == "orgs":
                counts["subscriptions"] += sum(len(o.get("subscriptions") or []) for o in items)
                counts["applied_coupons"] += sum(len(o.get("coupons") or []) for o in items)
            if section == "plans":
                counts["fixed_charges"] += sum(len(p.get("fixed_charges") or []) for p in items)
    return counts


# --------------------------------------------------------------------------- I/O entry point


async def import_async(root=".", env: str | None = None, *, select: list[str] | None = None,
                       force: bool = False, client_factory=None) -> ImportResult:
    """Read ``env`` and write YAML for the selected live objects into the workspace at ``root``."""
    chosen = parse_select(select)
    workspace = _load_for_import(root, load_workspace)
    env_name = resolve_environment(workspace, env).name
    client = (client_factory or connect)(workspace, env_name)
    notes: list[str] = []
    async with client:
        live = await read_live(client, workspace, prune=True)  # prune=True: list every customer
        missing = not_in_lago(live.state, chosen)
        if missing:
            raise UserError(
                f"environment '{env_name}' has no " + ", ".join(
                    f"{label(k)} '{c}'" for k, _, c in (m.partition(":") for m in missing))
                + "; nothing was written: check the code, and the environment (-e)")
        # a user customer named by an org's migrate_from is declared too: it is being moved, not an org
        moving: dict[str, dict] = {u: {} for u in live.facts.migrate_from}
        declared = {**workspace.desired, "customer": {**moving, **(workspace.desired.get("customer") or {})}}
        state, chosen = await read_import_extras(client, live, declared=declared, select=chosen, notes=notes)
    files, skipped = build_files(state, declared=declared, select=chosen, notes=notes)
    written = write_files(Path(workspace.root), files, force=force) if files else []
    # the modelines of the written files name schemas/ of the workspace: write the missing ones
    schemas = write_schemas(Path(workspace.root) / SCHEMA_DIR, only_missing=True,
                            base=workspace.root).wrote if written else []
    return ImportResult(written=written, skipped=skipped, counts=count_objects(files), notes=notes,
                        schemas=[Path(p).as_posix() for p in schemas])


def not_in_lago(live_state: dict[str, dict[str, dict]], select: dict[str, set[str]] | None) -> list[str]:
    """The ``--select`` items that name no object of Lago (``plan:*`` always matches)."""
    return [f"{kind}:{code}" for kind in ALL_KINDS for code in sorted((select or {}).get(kind) or ())
            if code != "*" and code not in (live_state.get(kind) or {})]


# the keys of an orgs.yaml org that are not Lago customer fields (import writes them itself)
_ORG_STRUCTURE = ("external_id", "metadata", "subscriptions", "coupons", "migrate_from", "ensure")
# values Lago gives a customer that never set them: written, they would only add noise
_CUSTOMER_LAGO_DEFAULTS = {"finalize_zero_amount_invoice": "inherit"}


def _org_fields() -> dict[str, Any]:
    """The customer fields an org may declare (the orgs schema's ``org`` properties): what import
    writes, so the written file validates."""
    props = json.loads(schema_text("orgs.schema.json"))["$defs"]["org"]["properties"]
    return {k: v for k, v in props.items() if k not in _ORG_STRUCTURE}


def _unset(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def customer_template(raw: dict) -> dict[str, Any]:
    """The fields of a raw live customer that orgs.yaml can declare and Lago has a value for (nested
    objects reduced to their set parts), as the ``declared`` template of ``from_api``: so every
    field lagosync manages when declared is imported, and nothing Lago only defaults."""
    out: dict[str, Any] = {}
    for name, spec in _org_fields().items():
        if name == "tax_codes":
            value: Any = [t.get("code") for t in raw.get("taxes") or [] if isinstance(t, dict)]
        else:
            value = raw.get(name)
        if isinstance(value, dict):
            sub = set(spec.get("properties") or {})
            value = {k: v for k, v in value.items() if k in sub and not _unset(v)}
        if _unset(value) or _CUSTOMER_LAGO_DEFAULTS.get(name) == value:
            continue
        out[name] = value
    out["metadata"] = raw.get("metadata") or []  # written without lagosync's own entries
    return out


def _imported_plan_code(code: str | None, plans: dict) -> str | None:
    """The declared code of a live plan code: a superseded version ``<code>__v<N>`` maps to ``<code>``."""
    if code is None or code in plans:
        return code
    base, _ = split_version(code)
    return base if base in plans else code


def _subscription_plans(state: dict, live: LiveState, customers: set[str], notes: list[str]) -> None:
    """The imported subscriptions' ``plan_code``: the plan they will be on, as declared codes only.

    A scheduled downgrade (lago-behaviour#pending-downgrade) is written as its target plan, so
    ``plan`` keeps it instead of cancelling it; a subscription left on a superseded plan version
    is written with the declared code (the next apply moves it to the current version)."""
    plans = state.get("plan") or {}
    subs = state.get("subscription") or {}
    for ext, sub in sorted(subs.items()):
        org = sub.get("external_customer_id")
        if org not in customers:
            continue
        code = sub.get("plan_code")
        pending = live.facts.pending_downgrades.get(ext)
        bound = pending if pending is not None else code  # the plan it will be on
        written = _imported_plan_code(bound, plans)
        if pending is not None:
            notes.append(f"org {org!r}: subscription {ext!r} is on plan {_imported_plan_code(code, plans)!r} with a "
                         f"downgrade to plan {written!r} scheduled at the end of its billing period; written as "
                         f"plan {written!r}, so apply keeps the downgrade")
        if bound != written and written in plans:
            # several versions have subscribers: they stay where they are (planner.versions)
            state["plan"] = {**state["plan"], written: {**plans[written], "price_change": "new_version"}}
            plans = state["plan"]
            notes.append(f"org {org!r}: subscription {ext!r} is on version {split_version(str(bound))[1]} of plan "
                         f"{written!r}, an old one; plan {written!r} is written with price_change: new_version, "
                         "so it stays there (a migration moves it)")
        if written != code:
            subs[ext] = {**sub, "plan_code": written}


def _to_import(live_state, declared, select, kind: str) -> list[str]:
    return [key for key in sorted(live_state.get(kind) or {})
            if _selected(select, kind, key) and key not in (declared.get(kind) or {})]


async def read_import_extras(client, live: LiveState, *, declared: dict, select: dict[str, set[str]] | None,
                             notes: list[str] | None = None):
    """``(state, select)``: ``live.state`` (a copy) completed with what ``read_live`` reads only for
    declared objects, and ``select`` grown by the objects they reference (``with_dependencies``):

    - the fixed charges of each plan to import: the plan LIST has none (lago-behaviour#plan-list-no-fixed-charges), so one
      ``GET /plans/{live code}`` per imported plan, concurrently through the client;
    - the active applied coupons of the customers to import (one ``GET /applied_coupons?status=active``
      list, lago-behaviour#applied-coupon-list), as ``applied_coupon`` ``<org>/<coupon_code>`` holding only the overrides
      that differ from the coupon (``applied_coupon_overrides``).
    """

    state = {kind: dict(objs) for kind, objs in live.state.items()}
    notes = notes if notes is not None else []

    # 1. applied coupons of the customers to import (customers are nobody's dependency), every
    # field of theirs an org can declare, and their subscriptions' plans as declared codes
    customers = set(_to_import(state, declared, select, "customer"))
    state["customer"] = dict(state.get("customer") or {})
    for ext in sorted(customers):
        raw = live.raw["customer"].get(ext)
        if raw is not None:
            state["customer"][ext] = from_api("customer", raw, declared=customer_template(raw))
    state["subscription"] = dict(state.get("subscription") or {})
    _subscription_plans(state, live, customers, notes)
    state["applied_coupon"] = {}
    if customers:
        rows = await client.list_applied_coupons(status="active")
        # oldest first, so with two active rows of one coupon the newest wins, as in lagosync.live
        for a in sorted(rows, key=lambda a: (str(a.get("created_at") or ""), str(a.get("lago_id") or ""))):
            org, code = a.get("external_customer_id"), a.get("coupon_code")
            if org not in customers or not code or a.get("status", "active") != "active":
                continue
            coupon = (state.get("coupon") or {}).get(code)
            state["applied_coupon"][applied_coupon_key(org, code)] = applied_coupon_overrides(a, coupon)

    # 2. fixed charges of every plan to import, dependencies included (an org's plan)
    select = with_dependencies(state, declared, select, notes)
    plans = _to_import(state, declared, select, "plan")
    versions = live.facts.plan_versions

    async def get_plan(code: str) -> dict | None:
        try:
            return await client.get_plan(versions.get(code, code))
        except LagoNotFound:
            return None  # deleted meanwhile: keep what the list showed

    bodies = await asyncio.gather(*(get_plan(code) for code in plans))
    for code, body in zip(plans, bodies, strict=True):
        if body is not None:
            state["plan"][code] = {**state["plan"][code], "fixed_charges": from_api("plan", body)["fixed_charges"]}
    # 3. the add-ons (and their taxes) those fixed charges use
    select = with_dependencies(state, declared, select, notes)
    return state, select


def _load_for_import(root, load_workspace):
    """The workspace; a fresh one (lagosync.yaml, no plans yet) is fine: import is how it starts."""

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
    return asyncio.run(import_async(root, env, select=select, force=force, client_factory=client_factory))
