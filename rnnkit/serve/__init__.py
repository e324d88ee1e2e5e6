"""The HTTP server (FastAPI + uvicorn, the ``serve`` extra): ``create_app(bundle)`` and ``serve(bundle)``.

    rnnkit serve runs/demo/bundle --host 127.0.0.1 --port 8000

See rnnkit/serve/app.py for the endpoints and docs/serving.md for deployment.
"""

from rnnkit.serve.app import ServerSettings, create_app, route_modules, serve

__all__ = ["ServerSettings", "create_app", "route_modules", "serve"]
