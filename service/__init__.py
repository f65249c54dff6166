"""The service: settings, the FastAPI app, auth, the search page and the `whoknows` CLI."""

from service.settings import apply_offline_environment

apply_offline_environment()  # before torch or faiss load (service/settings.py says why)
