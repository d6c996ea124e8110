"""The cognition base: design insights distilled from the linear-attention literature, and their retrieval."""
