"""The observatory: a read-only dashboard over the store (``asiarch serve``) and its static twin (``asiarch report``)."""
