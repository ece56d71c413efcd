"""Customers (lago-behaviour#customer-upsert, lago-behaviour#customer-metadata-reconcile,
lago-behaviour#customer-response, lago-behaviour#customer-delete)."""

from __future__ import annotations

from ..common import Request, iso
from ..errors import ApiError, not_found
from ..rules import Errors, as_bool, as_int, blank, check_country, check_currency, customer_enum
from .base import APPLIED, CUSTOMER, SUB, _desc_created, _public
from .taxes import TaxesMixin

PAYMENT_PROVIDERS = ("stripe", "gocardless", "cashfree", "adyen", "flutterwave", "moneyhash")


class CustomersMixin(TaxesMixin):
    # ============================= customers (lago-behaviour#customer-upsert, lago-behaviour#customer-delete)
    CUSTOMER_FIELDS = (
        "name", "firstname", "lastname", "customer_type", "country", "address_line1",
        "address_line2", "state", "zipcode", "email", "city", "url", "phone", "logo_url", "legal_name",
        "legal_number", "tax_identification_number", "net_payment_term", "external_salesforce_id",
        "finalize_zero_amount_invoice", "skip_invoice_custom_sections",
    )
    # lago-behaviour#customer-response: the billing_configuration attributes every customer renders
    BILLING_CONFIG_OUT = (
        "invoice_grace_period", "payment_provider", "payment_provider_code", "document_locale",
        "subscription_invoice_issuing_date_anchor", "subscription_invoice_issuing_date_adjustment",
    )

    def _customer_out(self, c: dict, single: bool = True) -> dict:
        out = _public(c)
        out["updated_at"] = c["updated_at"]
        conf = c["billing_configuration"]
        out["billing_configuration"] = {k: conf.get(k) for k in self.BILLING_CONFIG_OUT}
        if conf.get("payment_provider") is not None:
            # lago-behaviour#customer-response: the provider customer's fields, only with a provider
            out["billing_configuration"]["provider_customer_id"] = conf.get("provider_customer_id")
            if conf["payment_provider"] == "stripe":
                out["billing_configuration"]["provider_payment_methods"] = conf.get("provider_payment_methods")
        out["metadata"] = [dict(m) for m in c["_metadata"]]
        out["taxes"] = self._taxes_for(c["_tax_codes"])
        out["integration_customers"] = []
        if single:
            # lago-behaviour#customer-response: single-object answers only; the emulator records no tax errors
            out["applicable_invoice_custom_sections"] = []
            out["error_details"] = []
        return out

    def _customer_by_ext(self, ext: str) -> dict:
        for c in self.store.find(CUSTOMER, "external_id", ext):
            if not c.get("_deleted_at"):
                return c
        raise not_found("customer")

    def _find_customer(self, ext: str) -> dict | None:
        try:
            return self._customer_by_ext(ext)
        except ApiError:
            return None

    def _new_customer(self, ext: str) -> dict:
        now = iso(self.emu.now())
        seq = self.store.count(CUSTOMER) + 1
        c: dict = {
            "lago_id": self.emu.new_id(), "billing_entity_code": "default", "external_id": ext,
            "account_type": "customer", "name": None, "firstname": None, "lastname": None,
            "customer_type": None, "sequential_id": seq, "slug": f"LAG-{seq:04d}", "created_at": now,
            "updated_at": now, "country": None, "address_line1": None, "address_line2": None, "state": None,
            "zipcode": None, "email": None, "city": None, "url": None, "phone": None, "logo_url": None,
            "legal_name": None, "legal_number": None, "currency": None, "tax_identification_number": None,
            "timezone": None, "applicable_timezone": "UTC", "net_payment_term": None,
            "external_salesforce_id": None, "finalize_zero_amount_invoice": "inherit",
            "skip_invoice_custom_sections": False,
            "billing_configuration": {
                "invoice_grace_period": None, "payment_provider": None, "payment_provider_code": None,
                "provider_customer_id": None, "document_locale": None, "provider_payment_methods": None,
                "subscription_invoice_issuing_date_anchor": None,
                "subscription_invoice_issuing_date_adjustment": None,
            },
            "shipping_address": {"address_line1": None, "address_line2": None, "city": None, "zipcode": None,
                                 "state": None, "country": None},
            "_metadata": [], "_tax_codes": [],
        }
        return self._new(CUSTOMER, c)

    def _customer_editable(self, c: dict) -> bool:
        """lago-behaviour#customer-currency [≤v1.51.0]: editable = no subscriptions, no currency-bearing applied coupons."""
        if self.store.find(SUB, "_customer_id", c["lago_id"]):
            return False
        return not any(a.get("amount_currency") for a in self.store.find(APPLIED, "_customer_id", c["lago_id"]))

    def _customer_metadata(self, c: dict, items, errors: Errors) -> None:
        """lago-behaviour#customer-metadata-reconcile: id-based reconciliation; create before delete; max 5 entries."""
        if not isinstance(items, list):
            errors.add("metadata", "value_is_invalid")
            return
        if len(items) > 5:
            errors.add("metadata", "invalid_count")
            return
        current = {m["lago_id"]: m for m in c["_metadata"]}
        result: list[dict] = []
        keep_ids = set()
        created = []
        for item in items:
            if not isinstance(item, dict):
                errors.add("metadata", "value_is_invalid")
                continue
            if item.get("id") in current:
                m = dict(current[item["id"]])
                for k in ("key", "value"):
                    if k in item:
                        m[k] = item[k]
                if "display_in_invoice" in item:
                    m["display_in_invoice"] = bool(as_bool(item["display_in_invoice"], False))
                keep_ids.add(m["lago_id"])
                result.append(m)
            else:
                created.append(item)
        # creation precedes deletion: a new key equal to ANY existing key clashes (value_already_exist)
        existing_keys = {m["key"] for m in c["_metadata"]} | {m["key"] for m in result}
        new_items = []
        for item in created:
            key, value = item.get("key"), item.get("value")
            if blank(key) or blank(value):
                errors.add("key" if blank(key) else "value", "value_is_mandatory")
                continue
            if len(str(key)) > 20 or len(str(value)) > 100:
                errors.add("key" if len(str(key)) > 20 else "value", "value_is_too_long")
                continue
            if key in existing_keys:
                errors.add("key", "value_already_exist")
                continue
            existing_keys.add(key)
            new_items.append({
                "lago_id": self.emu.new_id(), "key": key, "value": value,
                "display_in_invoice": bool(as_bool(item.get("display_in_invoice"), False)),
                "created_at": iso(self.emu.now()),
            })
        c["_metadata"] = [m for m in c["_metadata"] if m["lago_id"] in keep_ids]
        c["_metadata"] = [next(r for r in result if r["lago_id"] == m["lago_id"]) for m in c["_metadata"]]
        c["_metadata"] += new_items

    def customer_upsert(self, req: Request):
        p = req.root("customer")
        errors = Errors()
        ext = p.get("external_id")
        if blank(ext):
            errors.add("external_id", "value_is_mandatory")
            errors.raise_if_any()
        ext = str(ext)
        if isinstance(p.get("metadata"), list) and len(p["metadata"]) > 5:
            errors.add("metadata", "invalid_count")  # lago-behaviour#customer-metadata: checked before anything
            errors.raise_if_any()
        fzai = p.get("finalize_zero_amount_invoice")
        if fzai is not None and fzai not in customer_enum("finalize_zero_amount_invoice"):
            # lago-behaviour#customer-enums: checked before anything, with its own error code
            errors.add("finalize_zero_amount_invoice", "invalid_value")
            errors.raise_if_any()
        # lago-behaviour#customer-upsert: find_or_initialize_by(external_id); only keys present are applied
        existing = self._find_customer(ext)
        if "billing_entity_code" in p and p["billing_entity_code"] not in (None, "default") and not existing:
            raise not_found("billing_entity")
        c = self._edit(CUSTOMER, existing) if existing else self._new_customer(ext)
        for key in self.CUSTOMER_FIELDS:
            if key in p:
                c[key] = p[key]
        if "country" in p:
            c["country"] = check_country(p["country"], "country", errors)  # lago-behaviour#customer-country
        if "finalize_zero_amount_invoice" in p:
            c["finalize_zero_amount_invoice"] = fzai or "inherit"
        # timezone: premium-only; account_type: needs the premium revenue_share integration
        # (lago-behaviour#premium-ignored-fields): both silently ignored (timezone kept with a license)
        if self.emu.premium and "timezone" in p:
            c["timezone"] = p["timezone"]
            c["applicable_timezone"] = p["timezone"] or "UTC"  # the organization's, UTC in the emulator
        if "currency" in p and p["currency"] != c["currency"]:
            check_currency(p["currency"], "currency", errors, required=False)
            if existing and c["currency"] is not None and not self._customer_editable(c):
                # lago-behaviour#customer-currency [≤v1.51.0]: currency only changeable while the customer is editable
                errors.add("currency", "currencies_does_not_match")
            else:
                c["currency"] = p["currency"]
        if isinstance(p.get("shipping_address"), dict):
            for key, value in p["shipping_address"].items():
                if key == "country":
                    value = check_country(value, "shipping_country", errors)  # lago-behaviour#customer-country
                if key in c["shipping_address"]:
                    c["shipping_address"][key] = value
        if "tax_codes" in p:
            c["_tax_codes"] = self._resolve_tax_codes(p["tax_codes"])  # lago-behaviour#tax-codes-replace: replace
        if "metadata" in p:
            self._customer_metadata(c, p["metadata"] if p["metadata"] is not None else [], errors)
        if c.get("customer_type") not in customer_enum("customer_type"):
            errors.add("customer_type", "value_is_invalid")  # lago-behaviour#customer-enums
        if c.get("net_payment_term") is not None and (as_int(c["net_payment_term"]) is None or as_int(c["net_payment_term"]) < 0):
            errors.add("net_payment_term", "value_is_invalid")
        if c.get("name") is not None and len(str(c["name"])) > 255:
            errors.add("name", "value_is_too_long")
        if c.get("email") and "@" not in str(c["email"]):
            errors.add("email", "invalid_email_format")
        errors.raise_if_any()
        c["updated_at"] = iso(self.emu.now())
        if isinstance(p.get("billing_configuration"), dict):
            c = self._customer_billing_configuration(c, p["billing_configuration"])
        return {"customer": self._customer_out(c)}

    def _customer_billing_configuration(self, c: dict, bc: dict) -> dict:
        """lago-behaviour#customer-billing-configuration-after-save: Lago applies billing_configuration after the
        customer's own transaction has committed, in two saves (issuing-date settings, then the rest), so an
        invalid value there is answered 422 while the customer and its other fields stay written."""
        self.store.commit()
        c = self._edit(CUSTOMER, c)
        conf = c["billing_configuration"]
        errors = Errors()
        for key, enum in (("subscription_invoice_issuing_date_anchor", "invoice_issuing_date_anchor"),
                          ("subscription_invoice_issuing_date_adjustment", "invoice_issuing_date_adjustment")):
            if key in bc:
                if bc[key] not in customer_enum(enum):
                    errors.add(key, "value_is_invalid")  # lago-behaviour#customer-enums
                conf[key] = bc[key]
        if self.emu.premium and "invoice_grace_period" in bc:
            conf["invoice_grace_period"] = bc["invoice_grace_period"]  # lago-behaviour#premium-ignored-fields
        errors.raise_if_any()
        self.store.commit()
        c = self._edit(CUSTOMER, c)
        conf = c["billing_configuration"]
        if "document_locale" in bc:
            if bc["document_locale"] is not None and bc["document_locale"] not in customer_enum("document_locale"):
                errors.add("document_locale", "not_a_valid_language_code")  # lago-behaviour#customer-enums
            conf["document_locale"] = bc["document_locale"]
        if "payment_provider" in bc:  # an unknown provider name means none
            conf["payment_provider"] = bc["payment_provider"] if bc["payment_provider"] in PAYMENT_PROVIDERS else None
        for key in ("payment_provider_code", "provider_customer_id", "provider_payment_methods"):
            if key in bc:
                conf[key] = bc[key]
        errors.raise_if_any()
        return c

    def customer_list(self, req: Request):
        ext = req.q("external_id")

        def build() -> list[dict]:
            rows = self._live(CUSTOMER)
            if ext:  # lago-behaviour#customer-subscription-id-filters
                rows = [c for c in rows if c["external_id"] == ext]
            return _desc_created(rows)
        key = (CUSTOMER, ext)
        return self.emu.paginate(req, self._listed(key, build), "customers",
                                 lambda c: self._customer_out(c, single=False), kept=key)

    def customer_get(self, req: Request):
        return {"customer": self._customer_out(self._customer_by_ext(req.params["external_customer_id"]))}

    def customer_delete(self, req: Request):
        c = self._edit(CUSTOMER, self._customer_by_ext(req.params["external_customer_id"]))
        now = iso(self.emu.now())
        c["_deleted_at"] = now
        # lago-behaviour#customer-delete: terminates active subscriptions, cancels pending ones, terminates applied
        # coupons (run synchronously here)
        self._end_subscriptions("_customer_id", c["lago_id"], now)
        for a in self.store.find(APPLIED, "_customer_id", c["lago_id"]):
            if a["status"] == "active":
                self.store.edit(APPLIED, a["lago_id"]).update(status="terminated", terminated_at=now)
        return {"customer": self._customer_out(c)}
