"""Who may read a Discourse category: the forum's `read_restricted` flag and group permissions, or the
source's `restricted_categories`, turned into each topic's ACL inside the source's.

An API key that reads restricted categories (an admin's) would otherwise hand their topics to everyone
the source lets in. A restricted category maps to the groups that may read it (the configured ones, else
the forum's `group_permissions`, which it shows to admins); one whose readers cannot be told is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import Acl

EVERYONE = "everyone"  # Discourse's automatic group of every forum user


@dataclass(frozen=True)
class CategoryAccess:
    """Which categories every forum user may read, and the readers of the restricted ones."""

    open: frozenset[int]
    groups: dict[int, frozenset[str]]
    others_open: bool  # a category in neither: open (an archive, which carries no permissions) or skipped

    def topic_acl(self, category_id: int | None, source_acl: Acl) -> Acl | None:
        """A topic's ACL inside the source's; None for a category whose readers are not known."""
        if category_id is not None and category_id in self.groups:
            return Acl(groups=self.groups[category_id]).within_ceiling(source_acl)
        if category_id is None or category_id in self.open or self.others_open:
            return source_acl
        return None


def configured_access(configured: dict[int, list[str]]) -> CategoryAccess:
    """An archive's: the configured restrictions, every other category open (the archive cannot tell)."""
    return CategoryAccess(frozenset(), configured_groups(configured), others_open=True)


def configured_groups(configured: dict[int, list[str]]) -> dict[int, frozenset[str]]:
    return {cid: frozenset(g for g in names if g) for cid, names in configured.items()}
