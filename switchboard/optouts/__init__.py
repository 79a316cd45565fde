"""Opt-outs, shared by every path that texts: who must not be texted, and the OptOut table."""
