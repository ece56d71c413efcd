"""Invoices (lago-behaviour#emulator-no-billing): the emulator does not bill, so every list is empty."""

from __future__ import annotations

from ..common import Request
from .customers import CustomersMixin


class InvoicesMixin(CustomersMixin):
    # ========================================================== invoices (lago-behaviour#emulator-no-billing)
    def invoice_list(self, req: Request):
        # The emulator does not bill: the list is always empty, with the list shape.
        return self.emu.paginate(req, [], "invoices", dict)

    # -- GET /customers/{external_customer_id}/invoices --
    def customer_invoices(self, req: Request):
        self._customer_by_ext(req.params["external_customer_id"])
        return self.emu.paginate(req, [], "invoices", dict)
