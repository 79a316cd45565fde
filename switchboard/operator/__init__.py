"""The operator API: send now, history, numbers, usage, health, its OpenAPI file and Blueprint."""
