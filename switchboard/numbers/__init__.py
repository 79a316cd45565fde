"""The account's numbers, wired to this app: `python -m switchboard numbers [wire|check]`.

- `wiring.py` (pure): the webhooks a number needs for an app origin, what differs from what
  Twilio has, and the names of its fallback documents;
- `fallback.py` (pure): the static TwiML Twilio fetches when the app cannot answer, built with
  twilio's TwiML builders from the number's line and the settings;
- `publish.py`: writing those documents to the fallback blob container, reading them back;
- `commands.py`: the click commands (not deployed, like the rest of the command line).

Nothing here runs in the function app: a number is wired from a shell (or azd's postdeploy
hook), once per deployment or whenever a line changes who gets the calls.
"""
