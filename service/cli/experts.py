"""`whoknows experts` (who knows X) and `whoknows person` (a profile), as a user."""

from __future__ import annotations

import html
import json
import re
from typing import Annotated

import typer

from index.experts.finder import ExpertFilters, ExpertFinder
from service.api.experts import expert_filters, expert_model, person_model
from service.cli.common import GroupsOption, JsonOption, fail, indexed_settings, principal_option
from service.engine import Engine
from service.finder import corrected_finder


def _finder(ctx: typer.Context) -> ExpertFinder:
    return corrected_finder(Engine(indexed_settings(ctx)))


def experts(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="the question or topic")],
    k: Annotated[int, typer.Option("--k", min=1, max=50)] = 10,
    user: Annotated[str | None, typer.Option("--as", help="ask as this user")] = None,
    groups: GroupsOption = None,
    mentors_only: Annotated[
        bool, typer.Option("--mentors-only", help="only mentors (busy ones last)")
    ] = False,
    team: Annotated[str | None, typer.Option("--team", help="only people of this team")] = None,
    include_inactive: Annotated[
        bool, typer.Option("--include-inactive", help="also people who left")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Who knows about QUERY: colleagues ranked by their visible work, with evidence."""
    if not query.strip():
        raise fail("the query is empty")
    asked = ExpertFilters(include_inactive=include_inactive, mentors_only=mentors_only, team=team)
    finder = _finder(ctx)
    principal = principal_option(finder.store, user, groups)
    filters = expert_filters(principal, asked)
    ranked = finder.rank_experts(query, principal, k=k, filters=filters) if filters is not None else []
    found = [expert_model(e, principal) for e in ranked]
    if as_json:
        typer.echo(json.dumps({"experts": [e.model_dump() for e in found]}, indent=2))
        return
    if not found:
        typer.echo("nobody stands out for this topic")
    for i, e in enumerate(found, 1):
        role = " · ".join(x for x in (e.title, e.team) if x)
        m = e.mentor
        mentor = "mentor, " + (f"{m.capacity} slots" if m and m.capacity is not None else "open")
        mentor = mentor if m and m.available else ("mentor, busy" if m and m.busy else "not mentoring")
        typer.echo(f"{i:2}. {e.name or e.person_id} ({e.person_id}){'  ' + role if role else ''}")
        typer.echo(f"    {e.why}")
        typer.echo(f"    {mentor}; last active {e.last_active or 'unknown'}; topics: {', '.join(e.topics)}")
        for ev in e.evidence:
            typer.echo(f"    - {ev.title} [{ev.role}, {ev.date or 'undated'}] {ev.url or ev.doc_id}")
            typer.echo(f"      {html.unescape(re.sub(r'</?mark>', '*', ev.snippet))}")


def person(
    ctx: typer.Context,
    person_id: Annotated[str, typer.Argument(help="the person's id")],
    user: Annotated[str | None, typer.Option("--as", help="look as this user")] = None,
    groups: GroupsOption = None,
    as_json: JsonOption = False,
) -> None:
    """A person's profile: expertise, recent work, mentoring (only what the user may see)."""
    finder = _finder(ctx)
    principal = principal_option(finder.store, user, groups)
    found = finder.profile(person_id, principal)
    profile = person_model(found, principal) if found is not None else None
    if profile is None:
        raise fail(f"no person {person_id!r}")
    if as_json:
        typer.echo(json.dumps(profile.model_dump(), indent=2))
        return
    typer.echo(f"{profile.name or profile.person_id} ({profile.person_id})")
    typer.echo(f"  {' · '.join(x for x in (profile.title, profile.team, profile.timezone) if x)}")
    typer.echo(
        f"  last active {profile.last_active or 'unknown'}; ask about: {', '.join(profile.ask_me_about)}"
    )
    typer.echo(f"  work: {', '.join(f'{r} {n}' for r, n in profile.counts.items()) or 'none visible'}")
    for a in profile.documents:
        typer.echo(f"  - {a.title} [{a.role}, {a.date or 'undated'}] {a.url or a.doc_id}")
