"""Outbound calls: the request contract, exactly-once placement from the queue, the routes, the Blueprint."""
