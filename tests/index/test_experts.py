"""Expert ranking: the arithmetic, the filters, the explanations, and permission safety."""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.base import Acl, DirectoryPerson, Role, SourceDocument
from index.acl import Principal, can_see
from index.experts.features import FEATURES, PersonStats, SiteStats, feature_vector, named
from index.experts.finder import ExpertFilters, ExpertFinder, primary_role
from index.experts.model import ActivityClock, ExpertSettings, PersonSignals, quality, relevance_weights
from index.experts.ranker import RankerFileError, load_ranker, ranker_from_dict
from index.snapshot.store import SnapshotStore
from index.store.documents import Store
from ingest.pipeline import IngestPipeline
from ingest.vector_cache import VectorCache
from tests.helpers import ListConnector, source_config
from tests.index.expert_corpus import NOW, HashEmbedder, build_store, thread

A, AA, C, Q = Role.ANSWERER, Role.ACCEPTED_ANSWERER, Role.COMMENTER, Role.ASKER

# --- arithmetic -------------------------------------------------------------------------------------


def test_quality_is_log_damped_signed_and_floored():
    s = ExpertSettings(quality_weight=0.25, quality_floor=0.25)
    assert quality("answerer", 0, s) == 1.0
    assert quality("answerer", 9, s) == pytest.approx(1 + 0.25 * math.log(10))
    assert quality("answerer", -3, s) == pytest.approx(1 - 0.25 * math.log(4))
    assert quality("answerer", -10_000, s) == 0.25  # floored: a downvoted answer still says something
    assert quality("editor", 1000, s) == pytest.approx(1 + 0.25 * math.log(2))  # a kilobyte is a unit
    assert quality("commenter", 50, s) == 1.0  # no quality signal for this role
    assert quality("answerer", 9, replace(s, quality_weight=0.0)) == 1.0


def test_activity_clock_measures_recency_in_shares_of_visible_activity():
    stamps = [NOW - timedelta(days=d) for d in (40, 30, 20, 10)] + [None]
    clock = ActivityClock(stamps)
    s = ExpertSettings(activity_half_life_share=0.2)
    assert clock.share_after(NOW - timedelta(days=30)) == pytest.approx(2 / 5)
    assert clock.share_after(NOW) == 0.0
    assert clock.share_after(None) == 1.0  # undated counts as the oldest
    assert clock.recency(NOW - timedelta(days=30), s) == pytest.approx(0.5 ** (0.4 / 0.2))
    assert ActivityClock([]).share_after(NOW) == 0.0


def test_score_is_prior_times_normalised_evidence_to_the_topic_weight():
    s = ExpertSettings(smoothing=1.0, topic_weight=2.0, long_term_share=0.25)
    sig = PersonSignals(evidence=1.5, activity=2.0, recent_share=0.4, total_share=0.2)
    assert sig.topical(s) == pytest.approx(1.5 / 3.0)
    assert sig.prior(s) == pytest.approx(0.75 * 0.4 + 0.25 * 0.2)
    assert sig.score(s) == pytest.approx((0.75 * 0.4 + 0.25 * 0.2) * 0.5**2)
    assert sig.score(replace(s, normalise=False, prior_weight=0.0)) == pytest.approx(1.5**2)  # Model 2
    assert PersonSignals(0.0, 5.0, 0.5, 0.5).score(s) == 0.0  # no evidence, no expert


def test_relevance_weights_by_rank_or_by_scaled_score():
    by_rank = ExpertSettings(relevance="rank", rank_k=1.0)
    assert relevance_weights([9.0, 5.0, 4.0], by_rank) == [1.0, 2 / 3, 2 / 4]  # the order alone
    by_score = ExpertSettings(relevance="score")
    assert relevance_weights([3.0, 1.0, -1.0], by_score) == [1.0, 0.5, 0.0]  # the fusion's scale drops out
    assert relevance_weights([3.0, 1.0, -1.0], by_score) == relevance_weights([0.3, 0.1, -0.1], by_score)
    assert relevance_weights([2.0, 2.0], by_score) == [1.0, 1.0]
    assert relevance_weights([], by_score) == []


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError):
        ExpertSettings(retrieval_mode="magic")
    with pytest.raises(ValueError):
        ExpertSettings(long_term_share=1.5)
    with pytest.raises(ValueError):
        ExpertSettings(scorer="oracle")
    with pytest.raises(ValueError):
        ExpertSettings(depth=0)


def test_unset_knobs_come_from_the_ranker_file_or_the_formula():
    shipped = load_ranker()
    learned = ExpertSettings().resolve(dict(shipped.settings))
    assert learned.depth == int(shipped.settings["depth"]) and learned.rank_k == shipped.settings["rank_k"]
    assert ExpertSettings(depth=7).resolve(dict(shipped.settings)).depth == 7  # what is set stays
    formula = ExpertSettings(scorer="formula").resolve(dict(shipped.settings))
    assert (formula.depth, formula.rank_k, formula.activity_half_life_share) == (100, 30.0, 0.1)


def test_ranker_file_round_trips_and_bad_files_are_refused(tmp_path):
    shipped = load_ranker()
    assert shipped.features == FEATURES and shipped.trained.get("command") == "python -m eval.experts.train"
    path = tmp_path / "ranker.json"
    shipped.save(path)
    again = load_ranker(path)
    x = [float(i) for i in range(len(FEATURES))]
    assert again.score(x) == pytest.approx(shipped.score(x), abs=1e-5)
    assert sum(again.contributions(x).values()) == pytest.approx(again.score(x))
    data = json.loads(path.read_text())
    for broken in (
        {**data, "format": "pickle"},
        {**data, "features": data["features"][::-1]},
        {**data, "weights": data["weights"][:-1]},
        {**data, "scale": [0.0] * len(FEATURES)},
        {k: v for k, v in data.items() if k != "mean"},
    ):
        with pytest.raises(RankerFileError):
            ranker_from_dict(broken)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RankerFileError):
        load_ranker(tmp_path / "bad.json")


def test_answer_only_features_are_neutral_for_people_without_answers():
    site = SiteStats(recent=10.0, total=10.0, accept_rate=0.4, mean_answer_votes=1.2)
    author = PersonStats()
    author.add("author", 1.0, 1.0, 2000.0, NOW)
    author.add_evidence(1, "author", 1.0)
    answerer = PersonStats()
    answerer.add("answerer", 1.0, 1.0, 9.0, NOW)
    answerer.add("accepted_answerer", 0.5, 1.0, 9.0, NOW)
    answerer.add_evidence(1, "answerer", 1.0)
    rel, position = {1: 1.0}, {1: 0}
    a = named(feature_vector(author, site, rel, position, 0.0, departed=False))
    b = named(feature_vector(answerer, site, rel, position, 0.0, departed=False))
    assert a["accepted"] == 0.0 and a["answer_votes"] == 0.0  # no answers: neither helped nor hurt
    assert b["accepted"] > 0.0 and b["answer_votes"] > 0.0
    assert a["vote"] == b["vote"] and a["work_share"] == b["work_share"] == 1.0  # writing is work too


# --- ranking through a real store (hashed embedder) ------------------------------------------------

KAFKA = "Kafka consumer lag grows when partitions rebalance; tune the consumer group session timeout."
OTHER_TOPICS = ["payroll", "espresso", "badminton", "origami", "sailing", "tulips", "chess", "pottery"]


def _filler(n: int, account: str, days: int = 10) -> list[SourceDocument]:
    docs = []
    for i in range(n):
        topic = OTHER_TOPICS[i % len(OTHER_TOPICS)]
        docs.append(
            thread(
                f"{account}-{i}",
                f"{topic.title()} notes {i}",
                f"All about {topic} {i}.",
                [(account, A, 1.0, days)],
            )
        )
    return docs


def finder(tmp_path: Path, docs: list[SourceDocument], directory=(), **settings) -> ExpertFinder:  # type: ignore[no-untyped-def]
    retriever = build_store(tmp_path, HashEmbedder(), docs, directory)
    return ExpertFinder(retriever, ExpertSettings(**settings))


def ids(experts) -> list[str]:  # type: ignore[no-untyped-def]
    """Person ids, an account's without its source: people outside the directory are shown by one of
    their accounts ("forum:zoe"), directory people by their directory id."""
    return [e.person_id.split(":", 1)[-1] for e in experts]


def test_focused_specialist_beats_prolific_generalist_while_model2_does_not(tmp_path):
    """Max answered more Kafka threads than Zoe but is mostly busy elsewhere: plain voting (Model 2)
    credits his volume, the normalised model credits Zoe's focus. The window holds the five Kafka
    threads only (depth 5), so the arithmetic is not blurred by weakly related ones."""
    docs = [
        thread("k1", "Kafka consumer lag", KAFKA, [("zoe", A)], tags=["kafka"]),
        thread(
            "k2", "Kafka partitions", KAFKA + " Partitions and consumer groups.", [("zoe", A)], tags=["kafka"]
        ),
        thread("k3", "Kafka retention", KAFKA + " Retention.", [("max", A)], tags=["kafka"]),
        thread("k4", "Kafka brokers", KAFKA + " Brokers.", [("max", A)], tags=["kafka"]),
        thread("k5", "Kafka topics", KAFKA + " Topics.", [("max", A)], tags=["kafka"]),
        *_filler(25, "max"),
    ]
    f = finder(tmp_path, docs, depth=5, scorer="formula")
    query = "kafka consumer lag partitions"
    assert ids(f.rank_experts(query, Principal(), now=NOW)) == ["zoe", "max"]
    model2 = ExpertFinder(f.retriever, replace(f.settings, normalise=False, prior_weight=0.0))
    assert ids(model2.rank_experts(query, Principal(), now=NOW)) == ["max", "zoe"]
    for e in f.rank_experts(query, Principal(), now=NOW):
        assert e.score == pytest.approx(e.signals["prior"] * e.signals["topical"] ** 2, rel=1e-5)
    learned = ExpertFinder(f.retriever, ExpertSettings(depth=5))
    assert learned.ranker is not None
    for e in learned.rank_experts(query, Principal(), now=NOW):
        x = [e.signals[name] for name in FEATURES]
        assert e.score == pytest.approx(math.exp(learned.ranker.score(x)), rel=1e-4)


def test_recent_activity_lifts_the_prior(tmp_path):
    docs = [
        thread("k1", "Kafka consumer lag", KAFKA, [("old.hand", A), ("new.hand", A)]),
        *_filler(5, "old.hand", days=600),
        *_filler(5, "new.hand", days=3),
    ]
    f = finder(tmp_path, docs, evidence_half_life_days=1e9)
    assert ids(f.rank_experts("kafka consumer lag", Principal(), now=NOW)) == ["new.hand", "old.hand"]


def test_accepted_answer_outranks_plain_answer_and_ties_break_by_id(tmp_path):
    docs = [
        thread("k1", "Kafka consumer lag", KAFKA, [("bea", A), ("bea", AA), ("abe", A), ("cid", A)]),
    ]
    found = finder(tmp_path, docs).rank_experts("kafka consumer lag", Principal(), now=NOW)
    assert ids(found) == ["bea", "abe", "cid"]
    assert found[1].score == found[2].score  # abe and cid did the same: the id decides


def test_asker_is_never_listed(tmp_path):
    docs = [thread("k1", "Kafka consumer lag", KAFKA, [("zoe", A), ("max", A), ("ivy", Q)])]
    directory = [
        DirectoryPerson(
            person_id="zoe.w", name="Zoe", emails=("zoe@corp.example",), accounts=(("forum", "zoe"),)
        )
    ]
    f = finder(tmp_path, docs, directory)
    everyone = ids(f.rank_experts("kafka consumer lag", Principal(), now=NOW))
    assert "zoe.w" in everyone and "max" in everyone
    for user in ("zoe.w", "zoe@corp.example", "ZOE@corp.example"):  # directory id, directory e-mail
        assert "zoe.w" not in ids(f.rank_experts("kafka consumer lag", Principal.of(user), now=NOW)), user
    # a login is not a source's account of the same spelling unless the directory says so (issue 14)
    assert "zoe.w" in ids(f.rank_experts("kafka consumer lag", Principal.of("zoe"), now=NOW))
    assert "max" in ids(f.rank_experts("kafka consumer lag", Principal.of("max"), now=NOW))


def test_inactive_mentor_and_team_filters(tmp_path):
    docs = [thread("k1", "Kafka consumer lag", KAFKA, [(a, A) for a in ("ann", "bob", "cat", "dan")])]
    directory = [
        DirectoryPerson(
            person_id="ann",
            name="Ann",
            team="Data",
            mentor_opt_in=True,
            mentor_capacity=2,
            accounts=(("forum", "ann"),),
        ),
        DirectoryPerson(
            person_id="bob",
            name="Bob",
            team="Data",
            active=False,
            mentor_opt_in=True,
            accounts=(("forum", "bob"),),
        ),
        DirectoryPerson(
            person_id="cat",
            name="Cat",
            team="Platform",
            mentor_opt_in=True,
            mentor_capacity=0,
            accounts=(("forum", "cat"),),
        ),
        DirectoryPerson(person_id="dan", name="Dan", team="Platform", accounts=(("forum", "dan"),)),
    ]
    f = finder(tmp_path, docs, directory)
    q = "kafka consumer lag"
    assert ids(f.rank_experts(q, Principal(), now=NOW)) == ["ann", "cat", "dan"]  # bob left
    assert ids(f.rank_experts(q, Principal(), filters=ExpertFilters(include_inactive=True), now=NOW)) == [
        "ann",
        "bob",
        "cat",
        "dan",
    ]
    # mentors only: ann has room; cat's capacity is 0, so she is busy, listed but never hidden
    mentors = f.rank_experts(q, Principal(), filters=ExpertFilters(mentors_only=True), now=NOW)
    assert ids(mentors) == ["ann", "cat"] and [m.mentor.busy for m in mentors] == [False, True]
    assert ids(f.rank_experts(q, Principal(), filters=ExpertFilters(team="platform"), now=NOW)) == [
        "cat",
        "dan",
    ]
    mentor = f.rank_experts(q, Principal(), now=NOW)[0].mentor
    assert (mentor.opt_in, mentor.capacity, mentor.active, mentor.available) == (True, 2, True, True)


def test_every_expert_explains_itself(tmp_path):
    docs = [
        thread(
            "k1",
            "Kafka consumer lag",
            KAFKA,
            [("zoe", A, 5, 3), ("zoe", AA, 5, 3), ("ivy", Q, 1, 4)],
            tags=["kafka"],
        ),
        thread("k2", "Kafka partitions", KAFKA + " Partitions.", [("zoe", A, 1, 20)], tags=["kafka", "ops"]),
        thread(
            "k3",
            "Kafka runbook",
            KAFKA + " Runbook for lag.",
            [("zoe", Role.AUTHOR, 2000, 40)],
            source="wiki",
            kind="wiki",
            tags=["kafka"],
        ),
        thread("k4", "Kafka lag chat", KAFKA, [("zoe", C, 1, 50)]),
    ]
    [zoe] = [
        e
        for e in finder(tmp_path, docs).rank_experts("kafka consumer lag", Principal(), now=NOW)
        if e.person_id == "forum:zoe"
    ]
    assert zoe.why.startswith("answered 2 related threads on kafka, 1 accepted")
    assert "wrote the wiki page 'Kafka runbook'" in zoe.why and "commented on 1 related discussion" in zoe.why
    assert len(zoe.evidence) == 3
    first = zoe.evidence[0]
    assert (
        first.doc_id == "forum:k1"
        and first.role == "accepted_answerer"
        and set(first.roles) == {"answerer", "accepted_answerer"}
    )
    assert first.url == "https://intranet.example/forum/k1" and "<mark>" in first.snippet
    assert first.date == (NOW - timedelta(days=3)).isoformat()
    assert zoe.topics[0] == "kafka" and zoe.last_active == (NOW - timedelta(days=3)).isoformat()
    assert primary_role({"commenter", "editor"}) == "editor"


def test_profile_within_the_viewers_acl(tmp_path):
    hr = Acl(public=False, groups=frozenset({"hr"}))
    docs = [
        thread("k1", "Kafka consumer lag", KAFKA, [("zoe", A)], tags=["kafka"]),
        thread(
            "s1",
            "Salary bands",
            "Band L4 pays quokkabudget.",
            [("zoe", Role.AUTHOR), ("hal", Role.AUTHOR)],
            acl=hr,
            source="hb",
            kind="doc",
            tags=["pay"],
        ),
    ]
    f = finder(tmp_path, docs)
    outsider, insider = Principal.of("eve", ["staff"]), Principal.of("hana", ["hr"])
    assert f.profile("nobody", insider) is None
    assert f.profile("hb:hal", outsider) is None  # known only from a document the viewer may not see
    hal = f.profile("hb:hal", insider)
    assert hal is not None and hal.counts == {"author": 1}
    zoe_out, zoe_in = f.profile("forum:zoe", outsider), f.profile("forum:zoe", insider)
    assert zoe_out is not None and zoe_in is not None
    assert [d.doc_id for d in zoe_out.documents] == ["forum:k1"] and zoe_out.counts == {"answerer": 1}
    assert "pay" not in [t for t, _ in zoe_out.topics] and "pay" in [t for t, _ in zoe_in.topics]
    assert "quokkabudget" not in str(asdict(zoe_out)) and "Salary" not in str(asdict(zoe_out))


# --- permission safety: the answer is what it would be without the hidden documents ----------------

WORDS = {
    "kafka": "Kafka brokers, consumer lag, partitions and consumer groups",
    "postgres": "PostgreSQL backups, replication, vacuum and connection pooling",
    "k8s": "Kubernetes clusters, node pools, helm charts and ingress",
    "payments": "Stripe payments, invoices, refunds and idempotency keys",
}
PEOPLE = ["ana", "ben", "chloe", "dmitri", "eve", "femi", "gus"]
GROUPS = ["staff", "hr", "security"]
ROLES = [Role.AUTHOR, Role.EDITOR, Role.ANSWERER, Role.ACCEPTED_ANSWERER, Role.COMMENTER, Role.ASKER]


def random_corpus(rng: random.Random, n: int) -> list[SourceDocument]:
    docs = []
    for i in range(n):
        topic = rng.choice(sorted(WORDS))
        kind = rng.random()
        if kind < 0.3:
            acl = Acl(public=True)
        elif kind < 0.85:
            acl = Acl(groups=frozenset(rng.sample(GROUPS, rng.randint(1, 2))))
        else:
            acl = Acl(users=frozenset({rng.choice(PEOPLE)}))
        people = [
            (p, rng.choice(ROLES), float(rng.randint(-2, 9)), rng.randint(0, 900))
            for p in rng.sample(PEOPLE, rng.randint(1, 4))
        ]
        secret = f"secretword{i:02d}x"
        docs.append(
            thread(
                f"d{i:02d}",
                f"{topic} note {i} {secret}",
                f"{WORDS[topic]}. Detail {rng.randint(0, 99)} about {topic}. {secret}",
                people,
                acl=acl,
                source=rng.choice(["forum", "wiki"]),
                tags=[topic, f"tag{i}"],
            )
        )
    return docs


PRINCIPALS = [
    Principal.anonymous(),
    Principal.of("ana", ["staff"]),
    Principal.of("eve", ["hr"]),
    Principal.of("zed", ["security", "staff"]),
    Principal.of("gus"),
]
QUERIES = ["kafka consumer lag", "postgres backups and replication", "who knows kubernetes helm", "refunds"]


def test_hidden_documents_change_nothing_and_reveal_nothing(tmp_path, embedder):
    """For random documents, ACLs and people: each user's experts, evidence, why-lines, topics, dates and
    profiles equal those computed on a store holding only the documents that user may see."""
    cache = tmp_path / "vectors.sqlite"
    for seed in range(3):
        rng = random.Random(seed)
        docs = random_corpus(rng, 14)
        full = build_store(tmp_path / f"full{seed}", embedder, docs, cache=cache)
        for n, principal in enumerate(PRINCIPALS):
            visible = [d for d in docs if can_see(principal, d.acl.public, d.acl.principals())]
            hidden = [d for d in docs if d not in visible]
            alone = build_store(tmp_path / f"alone{seed}-{n}", embedder, visible, cache=cache)
            for mode in ("bm25", "dense", "hybrid"):
                settings = ExpertSettings(retrieval_mode=mode)
                a, b = ExpertFinder(full, settings), ExpertFinder(alone, settings)
                for query in QUERIES:
                    got = [asdict(e) for e in a.rank_experts(query, principal, k=10, now=NOW)]
                    secrets = [d.doc_id for d in hidden] + [f"secretword{d.doc_id[-2:]}x" for d in hidden]
                    for secret in secrets:
                        assert secret not in str(got), (seed, principal, query, secret)
                    # Exact in every mode: BM25's statistics count only what the caller may see.
                    want = [asdict(e) for e in b.rank_experts(query, principal, k=10, now=NOW)]
                    assert got == want, (seed, principal, mode, query)
                for person in [f"{source}:{p}" for p in PEOPLE for source in ("forum", "wiki")]:
                    assert a.profile(person, principal, now=NOW) == b.profile(person, principal, now=NOW)


def test_departed_people_are_ranked_by_their_body_of_work(tmp_path):
    """Recency measures whether to ask someone now; for someone who left, only their work counts."""
    old = [
        thread(
            f"pg{i}",
            f"Postgres replication {i}",
            "Postgres replication and PgBouncer pools.",
            [("dmitri", A, 1, 400)],
        )
        for i in range(4)
    ]
    docs = [
        *old,
        thread("pg9", "Postgres replication lag", "Postgres replication lag.", [("chloe", A, 1, 2)]),
        *_filler(6, "chloe", days=2),
    ]
    directory = [
        DirectoryPerson(person_id="dmitri", name="Dmitri", active=False, accounts=(("forum", "dmitri"),)),
        DirectoryPerson(person_id="chloe", name="Chloe", accounts=(("forum", "chloe"),)),
    ]
    f = finder(tmp_path, docs, directory)
    q = "postgres replication pgbouncer"
    assert ids(f.rank_experts(q, Principal(), now=NOW)) == ["chloe"]
    both = f.rank_experts(q, Principal(), filters=ExpertFilters(include_inactive=True), now=NOW)
    assert sorted(ids(both)) == ["chloe", "dmitri"]
    dmitri = next(e for e in both if e.person_id == "dmitri")
    assert dmitri.mentor.active is False
    mass_dmitri, mass_chloe = 4 * 0.5 ** (400 / 730), 7 * 0.5 ** (2 / 730)
    assert dmitri.signals["prior"] == pytest.approx(mass_dmitri / (mass_dmitri + mass_chloe), rel=1e-5)


def test_cached_contributions_follow_every_change_of_the_store(tmp_path):
    """The contribution cache is refreshed by new documents, re-recorded votes and changed ACLs; who
    may see what is asked of the store on every question."""
    home = tmp_path / "store"
    docs = [thread("k1", "Kafka consumer lag", KAFKA, [("zoe", A, 1.0)])]
    f = ExpertFinder(build_store(home, HashEmbedder(), docs), ExpertSettings())
    q = "kafka consumer lag"
    assert ids(f.rank_experts(q, Principal(), now=NOW)) == ["zoe"]
    pipeline = IngestPipeline(  # the home store: the finder reads the published snapshot's copy
        Store(home), SnapshotStore(home), f.retriever.embedder, VectorCache(home / "cache.sqlite", 64)
    )

    def publish(documents: list[SourceDocument]) -> None:
        report = pipeline.run([(source_config("forum"), ListConnector("forum", documents))])
        assert report.status == "ok", report.as_dict()

    added = [*docs, thread("k2", "Kafka lag again", KAFKA, [("max", A, 1.0)])]
    publish(added)
    assert sorted(ids(f.rank_experts(q, Principal(), now=NOW))) == ["max", "zoe"]
    voted = [added[0], thread("k2", "Kafka lag again", KAFKA, [("max", A, 7.0)])]
    publish(voted)
    rows = f.store.db.execute("SELECT weight FROM contributions WHERE account = 'max'").fetchall()
    assert rows == [(7.0,)]
    hidden = [voted[0], voted[1].model_copy(update={"acl": Acl(groups=frozenset({"hr"}))})]
    publish(hidden)
    assert ids(f.rank_experts(q, Principal(), now=NOW)) == ["zoe"]  # the ACL change holds at once
    assert sorted(ids(f.rank_experts(q, Principal.of("hana", ["hr"]), now=NOW))) == ["max", "zoe"]
