"""Callers who wait: the line's call queue, the people who take its callers, and callbacks that
keep the caller's place (see `rules` for the design, `service` for the work, the README's
"Callers who wait")."""
