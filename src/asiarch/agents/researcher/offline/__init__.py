"""The offline researcher: a typed motif grammar, a code generator and steered edit operators (no model)."""
