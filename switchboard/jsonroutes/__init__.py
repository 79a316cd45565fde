"""The one shell every JSON route goes through: who may call it, the error shape, JSON bodies.

`shell.json_route` declares a route's handler with its authentication (`auth.FUNCTION_KEY`:
the Functions host checks the key; `auth.InboxSession`: the route is anonymous at the host and
the shell checks a session itself) and answers every failure in the one error shape
`{"error": {"code", "message", "field"?}}`. Capabilities import this package; it imports none.
"""
