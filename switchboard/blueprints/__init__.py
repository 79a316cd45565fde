"""One Blueprint per channel; thin: a trigger in, a call of the core, the result back."""
