"""Status callbacks: Twilio's reports merged into CallLog and MessageLog records; the Blueprint."""
