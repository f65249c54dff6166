"""`whoknows tokens create|list|revoke`: API tokens for `Authorization: Bearer`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from index.state.base import StateStoreError
from service.cli.common import JsonOption, fail, settings_of
from service.security.tokens import SCOPES, TokenError, TokenStore
from service.state import open_state

tokens_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)


def _tokens(ctx: typer.Context) -> TokenStore:
    """The tokens of the state store every replica reads (WHOKNOWS_DATABASE_URL, else <home>/state.db)."""
    try:
        return TokenStore(open_state(settings_of(ctx)))
    except StateStoreError as exc:
        raise fail(str(exc)) from exc


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@tokens_app.command("create")
def create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="the user the token acts as")],
    groups: Annotated[str, typer.Option("--groups", help="the user's groups, comma separated")] = "",
    scopes: Annotated[str, typer.Option("--scopes", help=f"comma separated: {', '.join(SCOPES)}")] = "search",
    as_json: JsonOption = False,
) -> None:
    """Create a token and print it once; only its hash is stored."""
    tokens = _tokens(ctx)
    try:
        token, secret = tokens.create(user, _split(groups), _split(scopes))
    except TokenError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "id": token.id,
                    "token": secret,
                    "user": token.user,
                    "groups": list(token.groups),
                    "scopes": sorted(token.scopes),
                }
            )
        )
        return
    typer.echo(secret)
    typer.echo(
        f"token {token.id} for {token.user} (groups: {', '.join(token.groups) or '-'}; "
        f"scopes: {', '.join(sorted(token.scopes))}). It is shown only now: store it safely.",
        err=True,
    )


@tokens_app.command("list")
def list_tokens(
    ctx: typer.Context,
    all_tokens: Annotated[bool, typer.Option("--all", help="include revoked tokens")] = False,
    as_json: JsonOption = False,
) -> None:
    """List tokens (never their secrets)."""
    rows = _tokens(ctx).list(include_revoked=all_tokens)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": t.id,
                        "user": t.user,
                        "groups": list(t.groups),
                        "scopes": sorted(t.scopes),
                        "created_at": t.created_at,
                        "revoked_at": t.revoked_at,
                        "last_used_at": t.last_used_at,
                    }
                    for t in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        typer.echo("no tokens")
    for t in rows:
        state = f"revoked {t.revoked_at}" if t.revoked_at else f"last used {t.last_used_at or 'never'}"
        typer.echo(
            f"{t.id}  {t.user}  groups={','.join(t.groups) or '-'}  scopes={','.join(sorted(t.scopes))}  "
            f"created {t.created_at}  {state}"
        )


@tokens_app.command("revoke")
def revoke(ctx: typer.Context, token_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Revoke a token by its id (from `tokens list`); it stops working at once."""
    if not _tokens(ctx).revoke(token_id):
        raise fail(f"no active token with id {token_id!r}")
    typer.echo(f"revoked {token_id}")
