"""The playbook library's rules: kinds of entry, the approval states and who moves an entry between
them, and the Chinese word segmentation that search indexes and queries alike (seeds 000, 003, 004).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class PlaybookKind(StrEnum):
    case = "case"
    objection_answer = "objection_answer"
    script = "script"
    policy = "policy"
    recording = "recording"


class ApprovalState(StrEnum):
    draft = "draft"
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


# What an author may set by hand: keep a draft, or send it for approval (again, after a rejection).
AUTHOR_STATES = frozenset({ApprovalState.draft, ApprovalState.pending})

TAG_FIELDS = ("industry", "customer_type", "product_line", "objection_type")
MAX_TERM_LENGTH = 64

# Words that say nothing about an entry; single characters outside this list ("贵", "急") stay.
# fmt: off
_STOP_WORDS = frozenset({
    "的", "了", "和", "与", "及", "或", "是", "在", "有", "也", "就", "都", "而", "被", "把", "让", "给",
    "对", "说", "某", "用", "我", "你", "他", "她", "它", "我们", "你们", "他们", "这", "那", "这个",
    "那个", "一个", "吗", "呢", "吧", "啊", "the", "a", "an", "and", "or", "of", "to", "in", "on", "for",
    "is", "are",
})
# fmt: on
_WORD = re.compile(r"[\w]", re.UNICODE)


@dataclass(frozen=True)
class Tags:
    industry: str | None = None
    customer_type: str | None = None
    product_line: str | None = None
    objection_type: str | None = None

    def texts(self) -> list[str]:
        return [value for name in TAG_FIELDS if (value := getattr(self, name))]


class _Segmenter:
    """jieba's dictionary loads once per process, on first use (about a second from its cache)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jieba: Any = None

    def words(self, text: str) -> list[str]:
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    import jieba

                    jieba.setLogLevel(60)
                    jieba.initialize()
                    self._jieba = jieba
        return list(self._jieba.lcut_for_search(text))


_SEGMENTER = _Segmenter()


def _clean(words: Iterable[str]) -> list[str]:
    found: dict[str, None] = {}
    for word in words:
        term = word.strip().lower()
        if not term or term in _STOP_WORDS or not _WORD.search(term) or len(term) > MAX_TERM_LENGTH:
            continue
        found.setdefault(term)
    return list(found)


def index_terms(text: str) -> list[str]:
    """The distinct terms an entry is found by: jieba's search-mode words (whole words and their
    parts, so 检验科 is found by 检验科 and 检验), lower-cased, without stop words and punctuation."""
    return _clean(_SEGMENTER.words(text))


def query_terms(query: str) -> list[str]:
    """The terms of a search, segmented as entries are: 三甲医院 检验科 预算有限 -> 三甲, 医院,
    检验, 检验科, 预算, 有限."""
    return _clean(_SEGMENTER.words(query))


@dataclass(frozen=True)
class IndexedTerms:
    terms: list[str]  # every term of title, body and tags
    tag_terms: frozenset[str]  # those that come from a tag

    @property
    def text(self) -> str:
        return " ".join(self.terms)


def entry_terms(title: str, body: str, tags: Tags) -> IndexedTerms:
    tag_terms = index_terms(" ".join(tags.texts()))
    terms = _clean([*tag_terms, *index_terms(title), *index_terms(body)])
    return IndexedTerms(terms=terms, tag_terms=frozenset(tag_terms))


def may_read(state: ApprovalState, *, is_author: bool, is_approver: bool) -> bool:
    """Reps read approved entries and their own; approvers also every entry sent for approval and
    every decided one. A draft is its author's alone."""
    if is_author or state is ApprovalState.approved:
        return True
    return is_approver and state is not ApprovalState.draft


def may_edit(state: ApprovalState, *, is_author: bool, is_approver: bool) -> bool:
    """Authors edit their entries until approved; approvers also edit approved ones (a policy
    changes)."""
    return is_approver or (is_author and state is not ApprovalState.approved)
