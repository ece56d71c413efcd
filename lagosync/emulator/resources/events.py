"""Events (lago-behaviour#event-dedup, lago-behaviour#event-ingestion)."""

from __future__ import annotations

from datetime import datetime, timezone

from ..common import Request, iso
from ..errors import bad_request, not_found, unprocessable
from ..rules import Errors, as_float, blank
from .base import EVENT, ResourceBase, _public


class EventsMixin(ResourceBase):
    # ==================================== events (lago-behaviour#event-dedup, lago-behaviour#event-ingestion)
    def _event_build(self, p: dict, errors: Errors, batch_seen: set | None = None) -> dict | None:
        for name in ("transaction_id", "code", "external_subscription_id"):
            if blank(p.get(name)):
                errors.add(name, "value_is_mandatory")
        ts = p.get("timestamp")
        if ts is None:
            when = self.emu.now()
        else:
            f = as_float(ts)
            if f is None:
                errors.add("timestamp", "invalid_format")
                return None
            when = datetime.fromtimestamp(f, tz=timezone.utc)
        if errors.details:
            return None
        key = (str(p["external_subscription_id"]), str(p["transaction_id"]))
        # lago-behaviour#event-dedup: deduplicated by (organization, external_subscription_id, transaction_id)
        if self.store.get(EVENT, "|".join(key)) is not None or (batch_seen is not None and key in batch_seen):
            errors.add("transaction_id", "value_already_exist")
            return None
        if batch_seen is not None:
            batch_seen.add(key)
        # lago-behaviour#event-ingestion: the subscription is not checked at ingestion; lago_customer_id/lago_subscription_id
        # are null in the response (processing is asynchronous)
        return {
            "lago_id": self.emu.new_id(), "transaction_id": key[1], "lago_customer_id": None,
            "code": p["code"], "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "precise_total_amount_cents": p.get("precise_total_amount_cents"),
            "properties": p.get("properties") or {}, "lago_subscription_id": None,
            "external_subscription_id": key[0], "created_at": iso(self.emu.now()),
            "_id": "|".join(key),
        }

    def _event_store(self, ev: dict) -> None:
        ev["_created"] = self.emu.stamp()
        self.store.put(EVENT, ev["_id"], ev)

    def event_create(self, req: Request):
        p = req.root("event")
        errors = Errors()
        ev = self._event_build(p, errors)
        errors.raise_if_any()
        assert ev is not None  # None only with errors
        self._event_store(ev)
        return {"event": _public(ev)}

    def event_batch(self, req: Request):
        body = req.body
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise bad_request("param is missing or the value is empty or invalid: events")
        if not events:
            raise unprocessable({"events": ["no_events"]})
        if len(events) > 100:
            raise unprocessable({"events": ["too_many_events"]})
        details: dict[str, dict[str, list[str]]] = {}
        built: list[dict] = []
        seen: set[tuple[str, str]] = set()
        for i, p in enumerate(events):
            errors = Errors()
            ev = self._event_build(p if isinstance(p, dict) else {}, errors, seen)
            if errors.details:
                details[str(i)] = errors.details  # lago-behaviour#event-ingestion: batch error_details keyed by index
            else:
                assert ev is not None  # None only with errors
                built.append(ev)
        if details:
            raise unprocessable(details)
        for ev in built:
            self._event_store(ev)
        return {"events": [_public(ev) for ev in built]}

    def event_get(self, req: Request):
        tid = req.params["transaction_id"]
        for ev in self.store.find(EVENT, "transaction_id", tid):
            return {"event": _public(ev)}
        raise not_found("event")

    def event_list(self, req: Request):
        rows = sorted(self.store.all(EVENT), key=lambda e: e["_created"], reverse=True)
        return self.emu.paginate(req, rows, "events", _public)
