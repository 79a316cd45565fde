"""Outbound calls: the request contract, exactly-once placement, the routes, the Blueprint."""
