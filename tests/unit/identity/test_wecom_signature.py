"""The JS-SDK config signature against the example values of WeCom's (and WeChat's) documentation."""

from __future__ import annotations

import pytest

from app.domain.identity.wecom import jsapi_signature, page_url_for_signature
from app.domain.platform.errors import InvalidInput

# 企业微信 JS-SDK 附录1 - JS-SDK使用权限签名算法, the documented example.
DOCUMENTED_TICKET = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"


def test_the_signature_of_the_documented_example():
    signature = jsapi_signature(
        jsapi_ticket=DOCUMENTED_TICKET,
        nonce_str="Wm3WZYTPz0wzccnW",
        timestamp=1414587457,
        url="http://mp.weixin.qq.com?params=value",
    )

    assert signature == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_the_page_url_is_signed_without_its_fragment():
    assert page_url_for_signature("https://crm.example.com/h5/lead?id=7#/visit") == (
        "https://crm.example.com/h5/lead?id=7"
    )


@pytest.mark.parametrize("url", ["/h5/lead", "ftp://crm.example.com/", "javascript:alert(1)", "https://"])
def test_a_url_that_is_not_an_absolute_page_url_is_refused_naming_the_field(url):
    with pytest.raises(InvalidInput) as refused:
        page_url_for_signature(url)

    assert [error.field for error in refused.value.errors] == ["url"]
