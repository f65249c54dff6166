"""Markdown files for the `files` connector: YAML front matter (title, people, tags, dates, ACL), heading sections."""

from __future__ import annotations

import re

import frontmatter
import yaml
from langchain_text_splitters import MarkdownHeaderTextSplitter

from connectors._shared.text import normalise_text
from connectors.base import PersonRef, Role, Section
from connectors.files.base import FileInfo, ParsedFile
from connectors.files.text import (
    FileParseError,
    acl_from_mapping,
    decode_text,
    parse_date,
    person_from_string,
    split_names,
    string_list,
)

_HEADERS = [("#" * level, str(level)) for level in range(1, 7)]
# The splitter drops blank lines (and every non-printable character); a blank line becomes this printable
# token line on the way in and an empty line again on the way out, so paragraph breaks survive.
_BLANK = "\u2e3b\u00b6\u2e3b"
_CLOSING_HASHES = re.compile(r"\s+#+\s*$")
# Front matter key -> role; the first key present of each group wins.
_PEOPLE_KEYS: tuple[tuple[tuple[str, ...], Role], ...] = (
    (("authors", "author"), Role.AUTHOR),
    (("editors", "editor"), Role.EDITOR),
    (("owners", "owner"), Role.OWNER),
)


def parse_markdown(raw: bytes, info: FileInfo) -> ParsedFile:
    """Text before the first heading is a section with heading (); each heading opens a section."""
    text = decode_text(raw)
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise FileParseError(f"invalid YAML front matter: {' '.join(str(exc).split())}") from exc
    meta = post.metadata
    sections, first_h1 = _sections(post.content)
    if not sections:
        raise FileParseError("empty document (no text after the front matter)")
    title = str(meta.get("title") or "").strip() or first_h1 or _pretty(info.stem)
    people: list[tuple[PersonRef, Role]] = []
    for keys, role in _PEOPLE_KEYS:
        key = next((k for k in keys if meta.get(k) is not None), None)
        if key is not None:
            people += [(person, role) for person in _people(meta[key], key)]
    return ParsedFile(
        title=title,
        sections=sections,
        created_at=parse_date(meta.get("created", meta.get("date"))),
        updated_at=parse_date(meta.get("updated", meta.get("modified"))),
        people=people,
        tags=string_list(meta.get("tags", meta.get("keywords")), "front matter 'tags'"),
        acl=acl_from_mapping(meta["acl"]) if "acl" in meta else None,
    )


def _sections(body: str) -> tuple[list[Section], str | None]:
    # Normalised first: the splitter deletes tabs and no-break spaces, which would glue words together.
    marked = "\n".join(line or _BLANK for line in normalise_text(body).split("\n"))
    splitter = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True)
    sections: list[Section] = []
    first_h1: str | None = None
    for chunk in splitter.split_text(marked):
        levels = sorted(chunk.metadata, key=int)
        heading = tuple(_CLOSING_HASHES.sub("", str(chunk.metadata[level])).strip() for level in levels)
        if first_h1 is None and "1" in chunk.metadata:
            first_h1 = heading[0]
        lines = chunk.page_content.split("\n")
        text = normalise_text("\n".join("" if line.strip() == _BLANK else line for line in lines))
        if text:
            sections.append(Section(text=text, heading=heading))
    return sections, first_h1


def _people(value: object, key: str) -> list[PersonRef]:
    """A string (maybe `A, B and C`), or a list of strings or of {name, email, account} mappings."""
    items = value if isinstance(value, list) else [value]
    people: list[PersonRef] = []
    for item in items:
        if isinstance(item, dict):
            name, email = item.get("name"), item.get("email")
            account = item.get("account") or email or name
            if not account:
                raise FileParseError(f"front matter '{key}': an entry needs a name, email or account")
            people.append(
                PersonRef(
                    account=str(account),
                    name=str(name) if name else None,
                    email=str(email) if email else None,
                )
            )
        elif isinstance(item, str | int | float):
            people += [p for n in split_names(str(item)) if (p := person_from_string(n)) is not None]
        elif item is not None:
            raise FileParseError(f"front matter '{key}' must be names or a list of names, got {item!r:.80}")
    return people


def _pretty(stem: str) -> str:
    """`release_notes-2024` -> `Release notes 2024`."""
    text = " ".join(re.sub(r"[-_]+", " ", stem).split()) or stem
    return text[:1].upper() + text[1:] if text.islower() else text
