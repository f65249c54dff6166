"""Retrieval: keyword and dense legs, fusion, query text, and the LangChain retriever."""
