"""Contacts (auth level function): the operator's routes for contacts.

Thin on purpose: each function calls its JSON route in `switchboard.contacts.routes`, imported
on the first call (cold start). `contacts/import` and `contacts/export` are literal segments,
so they win over `contacts/{id}` (ASP.NET route precedence, which the Functions host and the
devkit host both follow).
"""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="api/contacts", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def contacts_collection(req: func.HttpRequest) -> func.HttpResponse:
    """A page of contacts (search by name or number), or a new contact."""
    from switchboard.contacts import routes

    return routes.collection(req)


@bp.route(route="api/contacts/import", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def contacts_import(req: func.HttpRequest) -> func.HttpResponse:
    """A vCard or CSV file of contacts, imported whole or not at all."""
    from switchboard.contacts import routes

    return routes.import_contacts(req)


@bp.route(route="api/contacts/export", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def contacts_export(req: func.HttpRequest) -> func.HttpResponse:
    """Every contact as a vCard or CSV file."""
    from switchboard.contacts import routes

    return routes.export_contacts(req)


@bp.route(
    route="api/contacts/{id}",
    methods=["GET", "PUT", "PATCH", "DELETE"],
    auth_level=func.AuthLevel.FUNCTION,
)
def contacts_item(req: func.HttpRequest) -> func.HttpResponse:
    """A contact (by id or number): read, replace, change, delete."""
    from switchboard.contacts import routes

    return routes.item(req)
