"""CallLog and MessageLog, shared by every capability that records calls and messages."""
