"""Scheduled SMS: the rules (pure), the SmsSchedule store, the timer run, routes, Blueprint."""
