"""The inbox's contacts: the operator's contacts handlers behind the inbox session.

| route | who | answer |
| --- | --- | --- |
| `GET /api/inbox/contacts?q=&blocked=&limit=&cursor=` | signed in | a page of contacts (`{"items", "nextCursor"}`) |
| `GET /api/inbox/contacts/{id}` | signed in | the contact (its id or one of its numbers), `ETag` |
| `POST /api/inbox/contacts` | owner | a new contact: 201 |
| `PUT`, `PATCH /api/inbox/contacts/{id}` | owner | edit it; block or unblock it (`{"blocked": true}`) |

Everyone signed in reads the contacts: they are the business's address book, and staff see
the same names in the calls and texts of their lines. Only the owner changes them: a contact
is shared by every line, and blocking one refuses its calls on all of them, beyond any staff
user's lines. Bad fields are answered 400 naming each by its JSON pointer (`/name`,
`/numbers/0/number`), a stale `If-Match` 412, a number another contact holds 409; the shell
checks the session and the CSRF token of every write.
"""

from __future__ import annotations

import azure.functions as func

from switchboard.http import ApiError
from switchboard.inbox.authenticator import SESSION
from switchboard.jsonroutes.shell import ApiRequest, json_route


def _owner_writes(request: ApiRequest) -> None:
    if request.method != "GET" and not request.principal.sees_every_line:
        raise ApiError(403, "forbidden", "only the owner may change contacts")


def _inbox_location(response: func.HttpResponse) -> func.HttpResponse:
    location = response.headers.get("Location")
    if location and location.startswith("/api/contacts/"):
        response.headers["Location"] = "/api/inbox/" + location.removeprefix("/api/")
    return response


@json_route(auth=SESSION)
def collection(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/contacts` (a page; `q` searches names and numbers) and `POST` (owner)."""
    from switchboard.contacts import routes as contacts_routes

    _owner_writes(request)
    return _inbox_location(contacts_routes.collection.handler(request))


@json_route(auth=SESSION)
def item(request: ApiRequest) -> func.HttpResponse:
    """`GET /api/inbox/contacts/{id}`, and `PUT`/`PATCH` (owner; `If-Match` as the operator's)."""
    from switchboard.contacts import routes as contacts_routes

    _owner_writes(request)
    return contacts_routes.item.handler(request)
