"""The HTTP service: a FastAPI app around the Engine (see :func:`.app.create_app`)."""
