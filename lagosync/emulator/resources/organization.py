"""Health and the organization (lago-behaviour#health-endpoint, lago-behaviour#organizations-endpoint)."""

from __future__ import annotations

from ..common import LAGO_VERSION, Request, iso
from ..rules import Errors, check_currency
from .base import ORG, TAX, _public
from .taxes import TaxesMixin


class OrganizationMixin(TaxesMixin):
    # ================================================================ health / organization
    def health(self) -> dict:
        # lago-behaviour#health-endpoint: GET /health returns {version, github_url, message}
        return {"version": LAGO_VERSION, "github_url": "https://github.com/getlago/lago-api", "message": "Success"}

    def _org(self) -> dict:
        for o in self.store.all(ORG):
            return o
        org: dict = {
            "lago_id": self.emu.new_id(), "name": "Lago emulator", "slug": "lago-emulator",
            "created_at": iso(self.emu.now()), "default_currency": "USD", "webhook_url": None,
            "webhook_urls": [], "country": None, "address_line1": None, "address_line2": None,
            "state": None, "zipcode": None, "email": None, "city": None, "legal_name": None,
            "legal_number": None, "timezone": "UTC", "net_payment_term": 0, "email_settings": [],
            "document_numbering": "per_customer", "document_number_prefix": "LAG-1234",
            "tax_identification_number": None, "finalize_zero_amount_invoice": True,
            "billing_configuration": {"invoice_footer": None, "invoice_grace_period": 0, "document_locale": "en"},
            "_created": self.emu.stamp(),
        }
        return self.store.put(ORG, org["lago_id"], org)

    def org_rename(self, name: str) -> None:
        self.store.edit(ORG, self._org()["lago_id"])["name"] = name

    def _org_out(self, org: dict) -> dict:
        out = _public(org)
        out["taxes"] = [self._tax_out(t) for t in self._live(TAX) if t.get("applied_to_organization")]
        return out

    def org_get(self, req: Request):
        # lago-behaviour#organizations-endpoint: GET /organizations exists but is undocumented
        return {"organization": self._org_out(self._org())}

    def org_update(self, req: Request):
        # lago-behaviour#organizations-endpoint
        params = req.root("organization")
        org = self.store.edit(ORG, self._org()["lago_id"])
        errors = Errors()
        for key in ("country", "default_currency", "address_line1", "address_line2", "state", "zipcode",
                    "email", "city", "legal_name", "legal_number", "net_payment_term",
                    "tax_identification_number", "timezone", "webhook_url", "document_numbering",
                    "document_number_prefix", "finalize_zero_amount_invoice", "email_settings"):
            if key in params:
                org[key] = params[key]
        if "default_currency" in params:
            check_currency(params["default_currency"], "default_currency", errors)
        if params.get("document_numbering") not in (None, "per_customer", "per_organization"):
            errors.add("document_numbering", "value_is_invalid")
        if isinstance(params.get("billing_configuration"), dict):
            bc = params["billing_configuration"]
            for key in ("invoice_footer", "invoice_grace_period", "document_locale"):
                if key in bc:
                    org["billing_configuration"][key] = bc[key]
        errors.raise_if_any()
        return {"organization": self._org_out(org)}
