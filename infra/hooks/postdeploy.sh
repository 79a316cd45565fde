#!/bin/sh
# azd postdeploy: point the account's numbers at the app just deployed and publish each
# number's fallback TwiML (`python -m switchboard numbers wire`). azd passes the template's
# outputs (SWITCHBOARD_URL, FALLBACK_CONTAINER_URL) in the environment; Twilio's credentials
# must be there too (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or an API key), else this only
# says what to run. Safe to run again: numbers already wired are left alone.
set -u
python=".venv/bin/python"
[ -x "$python" ] || python="python3"
command="$python -m switchboard numbers wire --all --app ${SWITCHBOARD_URL:-https://<app>}"
if [ -z "${TWILIO_ACCOUNT_SID:-}" ] || { [ -z "${TWILIO_AUTH_TOKEN:-}" ] && [ -z "${TWILIO_API_KEY_SECRET:-}" ]; }; then
  echo "Switchboard is deployed at ${SWITCHBOARD_URL:-?}."
  echo "Point your Twilio numbers at it (with TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN set):"
  echo "  FALLBACK_CONTAINER_URL=${FALLBACK_CONTAINER_URL:-?} $command"
  exit 0
fi
export FALLBACK_CONTAINER_URL="${FALLBACK_CONTAINER_URL:-}"
export TWILIO_API_BASE_URL="https://api.twilio.com"
echo "$command"
exec $command
