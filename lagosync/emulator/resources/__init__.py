"""Lago resources: validation, storage and serialisation, per docs/lago-behaviour.md.

One module per resource family, each a mixin over :class:`~.base.ResourceBase`; :class:`Resources`
composes them and holds the route table and the code-keyed catalogue. A mixin that uses another
family's methods inherits from that family's mixin, so the dependencies read off the class lines.
"""

from __future__ import annotations

from .add_ons import AddOnsMixin
from .applied_coupons import AppliedCouponsMixin
from .base import ADD_ON, BM, COUPON, PLAN, TAX, Catalog
from .billable_metrics import BillableMetricsMixin
from .coupons import CouponsMixin
from .customers import CustomersMixin
from .events import EventsMixin
from .fixed_charges import FixedChargesMixin
from .invoices import InvoicesMixin
from .organization import OrganizationMixin
from .plans import PlansMixin
from .subscriptions import SubscriptionsMixin
from .taxes import TaxesMixin
from .usage import UsageMixin


class Resources(
    # a mixin comes before the ones it builds on (Python's method resolution order needs that)
    UsageMixin, InvoicesMixin, AppliedCouponsMixin, SubscriptionsMixin, PlansMixin, FixedChargesMixin, CustomersMixin,
    CouponsMixin, AddOnsMixin, OrganizationMixin, TaxesMixin, BillableMetricsMixin, EventsMixin,
):
    # ================================================================ routing
    def routes(self):
        """(method, template, handler) in config/routes.rb's order: the first route that matches wins
        (lago-behaviour#route-segments). A plan's nested routes come before ``/plans/{code}``, since a plan
        code may hold slashes; ``{code}``-like segments are matched as core.ANY_CHARACTER_SEGMENTS says."""
        plan_children = [
            ("GET", "/plans/{code}/charges/{charge_code}/filters", self.filter_list),
            ("POST", "/plans/{code}/charges/{charge_code}/filters", self.filter_create),
            ("GET", "/plans/{code}/charges/{charge_code}/filters/{filter_id}", self.filter_get),
            ("PUT", "/plans/{code}/charges/{charge_code}/filters/{filter_id}", self.filter_update),
            ("DELETE", "/plans/{code}/charges/{charge_code}/filters/{filter_id}", self.filter_delete),
            ("GET", "/plans/{code}/charges", self.charge_list),
            ("POST", "/plans/{code}/charges", self.charge_create),
            ("GET", "/plans/{code}/charges/{charge_code}", self.charge_get),
            ("PUT", "/plans/{code}/charges/{charge_code}", self.charge_update),
            ("DELETE", "/plans/{code}/charges/{charge_code}", self.charge_delete),
            ("GET", "/plans/{code}/fixed_charges", self.fixed_charge_list),
            ("GET", "/plans/{code}/fixed_charges/{fixed_charge_code}", self.fixed_charge_get),
            ("DELETE", "/plans/{code}/metadata/{key}", self.plan_meta_delete_key),
            ("POST", "/plans/{code}/metadata", self.plan_meta_replace),
            ("PATCH", "/plans/{code}/metadata", self.plan_meta_merge),
            ("DELETE", "/plans/{code}/metadata", self.plan_meta_delete_all),
        ]
        r = [
            ("GET", "/customers/{external_customer_id}/subscriptions", self.customer_subscriptions),
            ("GET", "/customers/{external_customer_id}/applied_coupons", self.customer_applied_coupons),
            ("DELETE", "/customers/{external_customer_id}/applied_coupons/{applied_coupon_id}",
             self.applied_coupon_delete),
            ("GET", "/customers/{external_customer_id}/invoices", self.customer_invoices),
            ("GET", "/customers/{external_customer_id}/current_usage", self.current_usage),
            ("POST", "/customers", self.customer_upsert),
            ("GET", "/customers", self.customer_list),
            ("GET", "/customers/{external_customer_id}", self.customer_get),
            ("DELETE", "/customers/{external_customer_id}", self.customer_delete),
            ("POST", "/subscriptions", self.sub_create),
            ("GET", "/subscriptions", self.sub_list),
            ("GET", "/subscriptions/{external_id}", self.sub_get),
            ("PUT", "/subscriptions/{external_id}", self.sub_update),
            ("DELETE", "/subscriptions/{external_id}", self.sub_terminate),
            *(route for cat in self.catalog for route in self._crud_routes(cat) if cat.kind != PLAN),
            ("POST", "/events", self.event_create),
            ("GET", "/events", self.event_list),
            ("GET", "/events/{transaction_id}", self.event_get),
            ("POST", "/applied_coupons", self.applied_coupon_create),
            ("GET", "/applied_coupons", self.applied_coupon_list),
            ("GET", "/invoices", self.invoice_list),
            *plan_children,
            *(route for cat in self.catalog for route in self._crud_routes(cat) if cat.kind == PLAN),
            ("POST", "/events/batch", self.event_batch),
            ("GET", "/organizations", self.org_get),
            ("PUT", "/organizations", self.org_update),
        ]
        return r

    # ================================================================ code-keyed catalogue (CRUD in base.py)
    @property
    def catalog(self) -> tuple[Catalog, ...]:
        return (
            Catalog(BM, "billable_metric", "billable_metrics", self._bm_fresh, self._bm_apply, self._bm_out,
                    out_get=lambda bm: self._bm_out(bm, counters=False), delete=self._bm_destroy),
            Catalog(TAX, "tax", "taxes", self._tax_fresh, self._tax_apply, self._tax_out,
                    after_update=self._tax_after_update, delete=self._tax_destroy),
            Catalog(ADD_ON, "add_on", "add_ons", self._addon_fresh, self._addon_apply, self._addon_out,
                    delete=self._addon_destroy),  # lago-behaviour#add-on-delete: soft-deletes its fixed charges
            Catalog(PLAN, "plan", "plans", self._plan_fresh, self._plan_apply, self._plan_out,
                    out_list=lambda plan: self._plan_out(plan, single=False),
                    after_update=self._plan_after_update, delete=self._plan_prepare_destroy),
            Catalog(COUPON, "coupon", "coupons", self._coupon_fresh, self._coupon_apply, self._coupon_out,
                    delete=self._coupon_destroy),
        )


__all__ = ["Resources"]
