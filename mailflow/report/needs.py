"""Common needs: which requests, from how many customers, ask for the same thing.

Product planning reads this part of the report ("80% of clients ask for
mobile support", BRIEF §6), so the grouping has to see that "希望系统支持手机端
访问", "能否出一个移动端 APP？" and "Please add support for mobile phones" are
one need, across wording and language, while an invoice bug and an SSO wish
stay apart. No model and no new dependency: a month is tens to a few hundred
requests, small enough for hand-written TF-IDF; a busy desk's month of
thousands is grouped from a sample (step 6).

1. Clean: NFKC, lower case; quoted lines, greeting lines, contact lines
   ("手机：138…", "Phone: …") and everything from a closing formula or a
   "Sent from my iPhone" on are dropped, lightly: the description is already
   the client's words, this only keeps a signature from saying "mobile".
2. Concepts: the glossary (``rules/needs.yaml``) maps synonyms in both
   languages to one concept ("手机", "移动端", "app", "iOS" -> mobile). This is
   the only bridge between Chinese and English. A concept counts once per
   request, fully when the subject names it, a third when only the
   description does ("sign in with LDAP instead of separate passwords" is an
   SSO wish, not a password one); its words are then cut out of the text so
   they do not count twice.
3. Text features of what is left: Chinese character 2-grams (inside runs cut
   at request boilerplate such as 希望/支持/系统), Latin words not on a stop
   list plus their character 3-grams at half weight (so "export" meets
   "exporting"). The subject counts twice: it is the client's own summary.
4. TF-IDF (sublinear tf, smoothed idf). Concepts and text are normalised
   apart and concepts hold ``CONCEPT_SHARE`` (0.6) of the vector, so the
   cosine of two requests is 0.6 x (cosine of their concepts) + 0.4 x (cosine
   of their words) whatever their lengths: a long Chinese description cannot
   drown the one concept it shares with a one-line English request.
5. Average-link grouping (UPGMA): repeatedly join the two groups whose mean
   pairwise similarity is highest, while it is at least the threshold.
   Single-link would chain "mobile approval" to "approval workflow" to
   "workflow export"; the mean keeps a group about one thing.

6. A month larger than ``EXACT_LIMIT`` (500) requests is not compared pair
   by pair: the pairs grow with the square of the month (6,546 generated
   requests took 9 GB and seven minutes). A sample of 500, drawn with a
   fixed seed, is grouped as above; every other request then joins the
   sampled group it is closest to on average, when that mean similarity
   reaches the threshold (the average-link rule, one request against a
   group), else stays alone.
   A need that fewer than two sampled requests share (about one request in
   250) is not shown for such a month; the big ones, which product planning
   reads, are.

Threshold 0.3 (the default; ``threshold:`` in the file changes it). On the
fixtures of tests/test_report_needs.py, requests whose subjects share a
concept score 0.60-0.67, the closest unrelated pair (a password reset and an
SSO wish that mentions passwords) 0.19, the rest below 0.06; two Chinese
requests with no concept but the same complaint in other words ("打印凭证时
表格错位" / "凭证打印表格错位") score 0.45. 0.3 sits in the gap with room on both
sides. A request whose subject names two concepts scores about 0.42 with
one naming either, which is why concepts are kept narrow (file formats
such as Excel are not a concept: imports and exports both mention it).
"""

from __future__ import annotations

import heapq
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache

from mailflow.report.glossary import DEFAULT_GLOSSARY, Glossary, fold
from mailflow.report.mask import mask_email, scrubber
from mailflow.report.model import Item, NeedGroup

CONCEPT_SHARE = 0.6    # of a request's vector held by its concepts (the zh/en bridge)
CONTEXT_WEIGHT = 1 / 3  # a concept named only in the description, next to one in the subject
SUBJECT_WEIGHT = 2.0   # the subject is the client's own summary
GRAM_WEIGHT = 0.5      # Latin 3-grams: spelling variants, not meaning
# Requests compared pair by pair; a larger month is grouped from a sample of this many. The
# pairs grow with the square: on generated mail (a few subjects, many alike: the worst case) 500 took
# 2 s and 40 MB, 1,000 took 11 s and 185 MB, and 6,546 took 9 GB.
EXACT_LIMIT = 500
# The sample is drawn with a fixed seed, so a month's report reads the same each time it is made; an
# evenly spaced one would fall in step with any rhythm in the ids (every tenth request a password reset).
SAMPLE_SEED = 0
FREE_MAIL = frozenset((  # public mail services: their domain names no company
    "qq.com", "foxmail.com", "163.com", "126.com", "yeah.net", "sina.com", "sina.cn", "sohu.com", "139.com",
    "aliyun.com", "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "yahoo.com", "icloud.com", "me.com", "proton.me", "protonmail.com",
))


# --- text to features ---------------------------------------------------------------------

_IDEOGRAPH = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKENS = re.compile(f"[{_IDEOGRAPH}]+|[a-z][a-z0-9'_-]*")
_CLOSING = re.compile(
    r"^(?:--|__|best regards|kind regards|regards|best|thanks|thank you|many thanks|cheers|sincerely|"
    r"此致|敬礼|祝好|顺祝商祺|谢谢|多谢|感谢|盼复)[\s,，.。!！~]*$"
    r"|^(?:sent from my|get outlook for|发自我的|从我的|發自我的)"
    r"|^-{2,}\s*(?:original message|原始邮件|forwarded message)", re.IGNORECASE)
_GREETING = re.compile(  # a line of its own: "Dear Ms Li," / "尊敬的王经理：", not "您好，希望…"
    r"^(?:(?:hi|hello|dear|hey)(?![a-z])|尊敬的|您好|你好|各位|大家好)"
    r"(?:[^。.!?！？,，:：]{0,24}[,，:：!！]|(?:\s+[a-z.]+){0,2})$",
    re.IGNORECASE)
_CONTACT = re.compile(
    r"^(?:联系人|联系电话|电话|手机号?码?|座机|邮箱|微信|qq|地址|tel|phone|mobile|cell|e-?mail|contact|"
    r"address|fax)\s*[:：]", re.IGNORECASE)

# Request boilerplate: every request says it, so it tells requests apart from nothing.
_ZH_STOP = sorted((
    "希望", "能否", "能不能", "是否", "可否", "可以", "支持", "系统", "功能", "我们", "你们", "您们", "贵司",
    "需要", "请问", "一个", "一下", "这个", "那个", "目前", "现在", "如果", "因为", "所以", "但是", "还是",
    "问题", "需求", "客户", "公司", "用户", "谢谢", "麻烦", "非常", "增加", "添加", "提供", "实现",
    "出一个", "什么", "时候", "没有", "不能", "无法", "已经", "您好", "你好", "感谢", "建议", "产品",
    "的", "了", "吗", "呢", "吧", "啊", "么",
), key=len, reverse=True)
_ZH_STOP_RX = re.compile("|".join(map(re.escape, _ZH_STOP)))
_EN_STOP = frozenset("""
a an the and or but if so of to in on at by for from with without as into about than then also
is are was were be been being am do does did have has had it its this that these those there their
they them we our us you your i me my he she his her who which what when where how why not no all any
some more most very just can could would should will shall may might must please add added adding
support supported supports supporting feature features function functions functionality system
request requests need needs needed want wants wish like able possible make use using used user users
customer customers issue issues problem problems hi hello dear thanks thank regards team company new
get got let one only other same such way now currently still already would've via per etc
""".split())


def _clean(text: str) -> str:
    """The request's words, without quoted lines, greetings, contact lines and signature."""
    kept = []
    for raw in fold(text).splitlines():
        line = raw.strip()
        if not line or line.startswith(">"):
            continue
        if _CLOSING.match(line):
            break
        if _GREETING.match(line) or _CONTACT.match(line):
            continue
        kept.append(line)
    return "\n".join(kept)


@lru_cache(maxsize=32)
def _concept_pattern(glossary: Glossary) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One alternation of every term, longest first, and which concept each term means."""
    meaning = {term: name for name, terms in glossary.concepts for term in terms}
    if not meaning:
        return None, {}
    parts = []
    for term in sorted(meaning, key=lambda t: (-len(t), t)):
        body = r"\s+".join(re.escape(word) for word in term.split())
        if term[0].isascii() and term[0].isalnum():
            body = r"(?<![a-z0-9])" + body
        if term[-1].isascii() and term[-1].isalnum():
            body += r"(?:s|es|d|ed|ing)?(?![a-z0-9])"  # plurals and verb forms: "exporting"
        parts.append(f"(?P<t{len(parts)}>{body})")
    # Every position is tried against every term; a lookahead for the terms' first characters fails
    # at once where none can start, which made cutting the concepts out 3.7 times faster.
    firsts = "".join(sorted({re.escape(term[0]) for term in meaning}))
    rx = re.compile(f"(?=[{firsts}])(?:{'|'.join(parts)})")
    by_group = {f"t{i}": term for i, term in enumerate(sorted(meaning, key=lambda t: (-len(t), t)))}
    return rx, {group: meaning[term] for group, term in by_group.items()}


def concepts_of(text: str, glossary: Glossary) -> list[str]:
    """The concepts a text names, in glossary order (what a group's label is made of)."""
    return _split(_clean(text), glossary)[0]


def _split(text: str, glossary: Glossary) -> tuple[list[str], str]:
    """(concepts found, the text with their words cut out)."""
    rx, concept_of = _concept_pattern(glossary)
    if rx is None:
        return [], text
    found: set[str] = set()

    def cut(match: re.Match[str]) -> str:
        found.add(concept_of[match.lastgroup])
        return " | "

    rest = rx.sub(cut, text)
    order = [name for name, _ in glossary.concepts]
    return sorted(found, key=order.index), rest


def _text_features(text: str, weight: float, out: Counter) -> None:
    for token in _TOKENS.findall(text):
        if token[0].isascii():
            token = token.strip("'_-")
            if len(token) < 2 or token in _EN_STOP:
                continue
            out["w:" + token] += weight
            if len(token) > 3:
                for i in range(len(token) - 2):
                    out["g:" + token[i:i + 3]] += weight * GRAM_WEIGHT
        else:
            for piece in _ZH_STOP_RX.split(token):
                for i in range(len(piece) - 1):
                    out["z:" + piece[i:i + 2]] += weight


def _features(item: Item, glossary: Glossary) -> Analysed:
    """(concepts, concept weights, text term weights) of one request: subject and description.

    A concept named in the subject is what the request is about; one named only
    in the description is context ("sign in with LDAP instead of separate
    passwords" is not a password request), so it weighs a third.
    """
    counts: Counter = Counter()
    weights: dict[str, float] = {}
    for text, weight, concept_weight in ((item.subject, SUBJECT_WEIGHT, 1.0),
                                         (item.description, 1.0, CONTEXT_WEIGHT)):
        found, rest = _split(_clean(text), glossary)
        for concept in found:
            weights[concept] = max(weights.get(concept, 0.0), concept_weight)
        _text_features(rest, weight, counts)
    terms = {key: 1 + math.log(value) if value >= 1 else value for key, value in counts.items()}
    order = [name for name, _ in glossary.concepts]
    return sorted(weights, key=order.index), {"c:" + k: v for k, v in weights.items()}, terms


Analysed = tuple[list[str], dict[str, float], dict[str, float]]  # what _features finds in one request


def _vectors(analysed: list[Analysed]) -> list[dict[str, float]]:
    """TF-IDF (smoothed idf); concepts and text normalised apart, concepts holding CONCEPT_SHARE.

    Normalising the two blocks apart keeps a long description from drowning
    the one concept it shares with a one-line English request: the cosine of
    two requests is CONCEPT_SHARE x (cosine of their concepts) + the rest x
    (cosine of their words), whatever their lengths.
    """
    df = _frequencies(analysed)
    return [_vector(one, df, len(analysed)) for one in analysed]


def _frequencies(analysed: list[Analysed]) -> Counter:
    """In how many of these requests each concept and term appears."""
    return Counter(key for _, concepts, terms in analysed for key in (*concepts, *terms))


def _vector(analysed: Analysed, df: Counter, n: int) -> dict[str, float]:
    """One request's vector, with document frequencies ``df`` counted over ``n`` requests."""
    _, concepts, terms = analysed
    blocks = [_unit({k: v * (math.log((1 + n) / (1 + df[k])) + 1) for k, v in block.items()})
              for block in (concepts, terms)]
    if concepts and terms:
        shares = (math.sqrt(CONCEPT_SHARE), math.sqrt(1 - CONCEPT_SHARE))
    else:
        shares = (1.0, 1.0)  # one block only: it is the whole vector
    return {k: v * share for block, share in zip(blocks, shares) for k, v in block.items()}


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {k: v / norm for k, v in vector.items()}


def _similarities(vectors: list[dict[str, float]]) -> dict[tuple[int, int], float]:
    """Cosine of every pair (i < j) that shares a feature; the others are 0."""
    postings: dict[str, list[tuple[int, float]]] = {}
    for index, vector in enumerate(vectors):
        for key, value in vector.items():
            postings.setdefault(key, []).append((index, value))
    sims: dict[tuple[int, int], float] = {}
    for entries in postings.values():
        for a in range(len(entries)):
            i, vi = entries[a]
            for b in range(a + 1, len(entries)):
                j, vj = entries[b]
                sims[(i, j)] = sims.get((i, j), 0.0) + vi * vj
    return sims


def _average_link(n: int, sims: dict[tuple[int, int], float], threshold: float) -> list[list[int]]:
    """UPGMA: join the closest two groups (mean pairwise similarity) while >= threshold.

    Only pairs at or over the threshold go on the heap: one under it could
    only end the joining, and so does an empty heap. Of a 500-request sample's
    124,750 pairs a few hundred are, and the heap was a fifth of the report's
    memory. Every pair's similarity still counts in the groups' sums (``links``).
    """
    members = {i: [i] for i in range(n)}
    links: dict[int, dict[int, float]] = {i: {} for i in range(n)}  # summed similarity
    heap: list[tuple[float, int, int]] = []
    for (i, j), s in sims.items():
        links[i][j] = links[j][i] = s
        if s >= threshold:
            heap.append((-s, i, j))
    heapq.heapify(heap)
    next_id = n
    while heap:
        negative, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue  # one side was joined already; its new group has its own entries
        if -negative < threshold:
            break
        joined = members.pop(a) + members.pop(b)
        c, next_id = next_id, next_id + 1
        members[c] = joined
        links[c] = {}
        for other in (set(links[a]) | set(links[b])) - {a, b}:
            if other not in members:
                continue
            total = links[a].get(other, 0.0) + links[b].get(other, 0.0)
            links[c][other] = links[other][c] = total
            links[other].pop(a, None)
            links[other].pop(b, None)
            mean = total / (len(joined) * len(members[other]))
            if mean >= threshold:
                heapq.heappush(heap, (-mean, min(c, other), max(c, other)))
        del links[a], links[b]
    return sorted((sorted(group) for group in members.values()), key=lambda g: g[0])


# --- grouping -----------------------------------------------------------------------------

Describe = Callable[[list[str]], Mapping[str, str]]  # requirement ids -> their descriptions


def group_needs(items: Sequence[Item], glossary: Glossary | None = None, *, min_size: int = 2,
                describe: Describe | None = None) -> tuple[NeedGroup, ...]:
    """Groups of at least ``min_size`` similar requests, most customers first, then most requests.

    ``describe``: where the requests' descriptions come from, a few hundred
    at a time, when the items were read without them (a busy month's
    descriptions need not all be in memory at once); else each item's own.
    """
    glossary = glossary or DEFAULT_GLOSSARY
    ordered = sorted(items, key=lambda item: item.id)
    if not ordered:
        return ()
    if len(ordered) <= EXACT_LIMIT:
        found = _pairwise(ordered, glossary, describe)
    else:
        found = _from_sample(ordered, glossary, describe)
    scrub = scrubber([item.submitter_name for item in ordered], [item.submitter_email for item in ordered])
    everyone = {_customer_key(item) for item in ordered}
    order = [name for name, _ in glossary.concepts]
    groups = [_need_group(cluster, ordered, scrub, len(everyone), order)
              for cluster in found if len(cluster.members) >= min_size]
    groups.sort(key=lambda g: (-g.customers, -g.requirements, g.label, g.ids))
    return tuple(_unique_labels(groups))


class _Cluster:
    """A group as it is found: its members (indexes into the month) and what the report will say of it.

    Kept as running summaries, not per member: a busy month puts tens of
    thousands of requests in one group. The most central member (the label
    when no concept is shared) and the most central of each language (the
    sample subjects) are ranked by (-centrality, id), as a sorted list would be.
    """

    def __init__(self) -> None:
        self.members: list[int] = []
        self.shared: set[str] | None = None  # concepts every member names
        self.named: set[str] = set()  # concepts some member names in its subject
        self.top: tuple[float, str, int] | None = None
        self.best: dict[str, tuple[float, str, int]] = {}  # language -> the most central member of it

    def add(self, index: int, item: Item, centrality: float, analysed: Analysed) -> None:
        concepts, weights, _ = analysed
        self.members.append(index)
        self.shared = set(concepts) if self.shared is None else self.shared & set(concepts)
        self.named.update(c for c in concepts if weights["c:" + c] == 1.0)
        rank = (-centrality, item.id, index)
        if self.top is None or rank < self.top:
            self.top = rank
        if item.language not in self.best or rank < self.best[item.language]:
            self.best[item.language] = rank


DESCRIBE_PER = 500  # descriptions asked for at a time


def _described(items: Sequence[Item], describe: Describe | None) -> Iterator[Item]:
    """The items, each with its description (asked of ``describe``, DESCRIBE_PER at a time, when given)."""
    if describe is None:
        yield from items
        return
    for start in range(0, len(items), DESCRIBE_PER):
        chunk = items[start:start + DESCRIBE_PER]
        texts = describe([item.id for item in chunk])
        for item in chunk:
            yield replace(item, description=texts.get(item.id, ""))


def _pairwise(ordered: Sequence[Item], glossary: Glossary, describe: Describe | None) -> list[_Cluster]:
    """The month grouped pair by pair (steps 4-5): every request against every other."""
    analysed = [_features(item, glossary) for item in _described(ordered, describe)]
    sims = _similarities(_vectors(analysed))
    clusters = []
    for members in _average_link(len(ordered), sims, glossary.threshold):
        cluster = _Cluster()
        for i in members:
            cluster.add(i, ordered[i], sum(sims.get((min(i, j), max(i, j)), 0.0) for j in members if j != i),
                        analysed[i])
        clusters.append(cluster)
    return clusters


def _from_sample(ordered: Sequence[Item], glossary: Glossary, describe: Describe | None) -> list[_Cluster]:
    """A large month (step 6): a sample grouped pair by pair, every other request joining its closest group.

    Memory holds the sample's vectors and the groups' summed vectors, not
    one vector per request: a request is analysed, placed and let go. The
    document frequencies are the sample's. Centrality here is a mean
    (similarity to the group's other sampled members), so that sampled and
    joining members are ranked alike.
    """
    n = len(ordered)
    picked = sorted(random.Random(SAMPLE_SEED).sample(range(n), EXACT_LIMIT))
    analysed = [_features(item, glossary) for item in _described([ordered[i] for i in picked], describe)]
    df = _frequencies(analysed)
    vectors = [_vector(one, df, len(analysed)) for one in analysed]
    sims = _similarities(vectors)
    clusters: list[_Cluster] = []
    sums: list[dict[str, float]] = []
    sizes: list[int] = []
    for members in _average_link(len(picked), sims, glossary.threshold):
        if len(members) < 2:
            continue  # a need only one sampled request has is too rare to seed a group
        cluster, total = _Cluster(), Counter()
        for k in members:
            total.update(vectors[k])
        for k in members:
            others = sum(sims.get((min(k, j), max(k, j)), 0.0) for j in members if j != k)
            cluster.add(picked[k], ordered[picked[k]], others / (len(members) - 1), analysed[k])
        clusters.append(cluster)
        sums.append(dict(total))
        sizes.append(len(members))
    postings: dict[str, list[tuple[int, float]]] = {}
    for g, total in enumerate(sums):
        for key, value in total.items():
            postings.setdefault(key, []).append((g, value))
    sampled = set(picked)
    rest = [index for index in range(n) if index not in sampled] if clusters else []
    for index, item in zip(rest, _described([ordered[i] for i in rest], describe)):
        one = _features(item, glossary)
        score: dict[int, float] = {}
        for key, value in _vector(one, df, len(analysed)).items():
            for g, summed in postings.get(key, ()):
                score[g] = score.get(g, 0.0) + value * summed
        best = max(score, key=lambda g: (score[g] / sizes[g], -g), default=None)
        if best is not None and score[best] / sizes[best] >= glossary.threshold:
            clusters[best].add(index, item, score[best] / sizes[best], one)
    for cluster in clusters:
        cluster.members.sort()
    return clusters


def _need_group(cluster: _Cluster, ordered: Sequence[Item], scrub: Callable[[str], str], everyone: int,
                order: list[str]) -> NeedGroup:
    """What the report shows of one group: its label, its askers, a sample subject per language."""
    members = cluster.members
    shared = cluster.shared or set()
    named = shared & cluster.named
    assert cluster.top is not None, "a group has members"
    label = (" + ".join(sorted(named or shared, key=order.index)) if shared
             else scrub(ordered[cluster.top[2]].subject.strip()))
    customers: dict[str, str] = {}
    for i in members:
        customers.setdefault(_customer_key(ordered[i]), _customer_name(ordered[i]))
    samples = {language: scrub(ordered[rank[2]].subject.strip()) for language, rank in cluster.best.items()}
    languages = sorted(samples, key=lambda lang: ({"zh": 0, "en": 1}.get(lang, 2), lang))
    return NeedGroup(
        label=label,
        requirements=len(members),
        customers=len(customers),
        share=round(len(customers) / everyone, 4),
        customer_names=tuple(sorted(customers.values())),
        ids=tuple(ordered[i].id for i in members),
        samples=tuple((lang, samples[lang]) for lang in languages),
    )


def _unique_labels(groups: list[NeedGroup]) -> list[NeedGroup]:
    """Two groups may share a concept (label) yet differ; number the later ones."""
    seen: Counter = Counter()
    out = []
    for group in groups:
        seen[group.label] += 1
        if seen[group.label] > 1:
            group = NeedGroup(f"{group.label} ({seen[group.label]})", group.requirements, group.customers,
                              group.share, group.customer_names, group.ids, group.samples)
        out.append(group)
    return out


def _customer_key(item: Item) -> str:
    """Who asks: the customer; for a sender we do not know, their company's domain.

    A free-mail domain is no company (two strangers at qq.com are two
    askers), so there the address itself stands for the asker.
    """
    if item.customer_key:
        return item.customer_key
    address = item.submitter_email.strip().lower()
    domain = address.rpartition("@")[2]
    return "@" + (address if domain in FREE_MAIL else domain)


def _customer_name(item: Item) -> str:
    """As the report shows the asker: the customer, the domain, or a masked free-mail address."""
    if item.customer:
        return item.customer
    domain = item.submitter_email.strip().lower().rpartition("@")[2]
    if domain in FREE_MAIL:
        return mask_email(item.submitter_email)
    return domain or "(unknown)"
