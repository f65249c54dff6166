"""Grounded answers: passages, sentence scoring, citations, prompts."""
