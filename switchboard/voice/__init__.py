"""Incoming calls: the call flow (pure), the webhooks that answer Twilio, and their Blueprint."""
