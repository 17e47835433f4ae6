"""The playbook's pure rules: how text is cut into search terms, and who reads which entry."""

from __future__ import annotations

import pytest

from app.domain.playbook.playbook import ApprovalState, Tags, entry_terms, may_read, query_terms


def test_the_seed_query_is_cut_into_its_words_and_their_parts():
    assert query_terms("三甲医院 检验科 预算有限") == ["三甲", "医院", "检验", "检验科", "预算", "有限"]


def test_punctuation_and_stop_words_are_not_terms():
    assert query_terms("，。的 了！") == []
    assert query_terms("Price 太高的") == ["price", "太高"]


def test_tag_words_are_marked_and_every_term_is_listed_once():
    indexed = entry_terms("预算有限", "客户说预算有限。", Tags(objection_type="预算有限", industry="医疗"))

    assert indexed.terms.count("预算") == 1
    assert indexed.tag_terms == {"预算", "有限", "医疗"}
    assert indexed.text.split() == indexed.terms


@pytest.mark.parametrize(
    ("state", "is_author", "is_approver", "reads"),
    [
        (ApprovalState.approved, False, False, True),
        (ApprovalState.pending, False, False, False),
        (ApprovalState.pending, False, True, True),
        (ApprovalState.rejected, False, True, True),
        (ApprovalState.draft, False, True, False),
        (ApprovalState.draft, True, False, True),
    ],
)
def test_who_reads_an_entry(state, is_author, is_approver, reads):
    assert may_read(state, is_author=is_author, is_approver=is_approver) is reads
