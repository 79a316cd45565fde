"""Status callbacks: merging Twilio's reports into CallLog and MessageLog records, and their Blueprint."""
