"""Incoming SMS: keywords and replies (pure), the webhook that answers Twilio, and its Blueprint."""
