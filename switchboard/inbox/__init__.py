"""The owner's inbox: a web app served by the function app under `/inbox/`, its JSON under
`/api/inbox/...`, signed in without passwords.

- `users.py` (pure): the people the operator names (owner or staff with their lines);
- `codes.py` (pure): one-time sign-in codes: issued, hashed, limited, checked;
- `sessions.py` (pure): signed session cookies, CSRF tokens, each user's live sessions;
- `store.py`: the `InboxUsers` table; `service.py`: users, codes and sessions at work;
- `delivery.py`: a code on its way (e-mail over SMTP, SMS through the app's send path);
- `authenticator.py`: what the JSON route shell asks to know who is signed in;
- `assets.py`: the static shell (content-hashed assets, the never-cached page, CSP);
- `routes.py` + `blueprint.py`: the routes; `commands.py`: `python -m switchboard inbox ...`;
- `web/`: the app itself, plain ES modules and CSS (no build step).
"""
