"""`whoknows serve`: the API and the search page under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli import settings_of


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        ctx: typer.Context,
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port")] = 8000,
        workers_threads: Annotated[int, typer.Option("--threads", help="request threads")] = 16,
    ) -> None:
        """Serve the API and the search page."""
        import anyio.to_thread
        import uvicorn

        from service.app import create_app

        settings = settings_of(ctx)
        application = create_app(settings)
        application.state.engine.snapshot()  # load the index before the first request
        application.state.engine.embedder  # noqa: B018 - load the model before the first request

        async def _limit_threads() -> None:
            anyio.to_thread.current_default_thread_limiter().total_tokens = workers_threads

        application.router.on_startup.append(_limit_threads)
        typer.echo(f"WhoKnows serving {settings.home} on http://{host}:{port}")
        uvicorn.run(application, host=host, port=port, log_level="warning")
