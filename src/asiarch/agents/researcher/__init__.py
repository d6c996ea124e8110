"""Researchers: the offline program synthesiser (``offline``) and the LLM researcher (``llm``), one protocol."""
