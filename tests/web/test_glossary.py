"""The glossary page, the links from role, stage and confidence labels to it, and the footer's links."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from registry.schema import Confidence, Role, Stage

INTERACTIVE = {"a", "button", "summary", "select", "textarea"}


class _Links(HTMLParser):
    """Every link's href and the ids on a page, and any interactive element nested in another."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.open: list[str] = []
        self.nested: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag in INTERACTIVE:
            if self.open:
                self.nested.append(f"<{tag} {values}> inside <{self.open[-1]}>")
            self.open.append(tag)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in INTERACTIVE and tag in self.open:
            while self.open.pop() != tag:
                pass


def parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


@pytest.mark.parametrize(("lang", "words"), [
    ("sv", ["Utfallsansvarig", "Finansiär", "Utförare", "Intermediär", "Målgrupp", "verifierat", "omstritt",
            "Genomförande"]),
    ("en", ["Outcome payer", "Investor", "Provider", "Intermediary", "Target population", "verified", "disputed",
            "Implementation"]),
])
def test_glossary_explains_every_role_stage_and_confidence_level(client: FlaskClient, lang: str,
                                                                 words: list[str]) -> None:
    response = client.get(f"/glossary?lang={lang}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    ids = parse(html).ids
    expected = ({f"role-{r.value}" for r in Role} | {f"stage-{s.value}" for s in Stage}
                | {f"confidence-{c.value}" for c in Confidence} | {"term-target-population"})
    assert expected <= ids
    for word in words:
        assert word in html


def test_contract_labels_link_to_their_glossary_entries(client: FlaskClient, seeded: list[str]) -> None:
    glossary_ids = parse(client.get("/glossary?lang=sv").get_data(as_text=True)).ids
    page = parse(client.get("/contracts/se-norrkoping-2016?lang=sv").get_data(as_text=True))
    anchors = {href.split("#", 1)[1] for href in page.hrefs if href.startswith("/glossary#")}
    assert {"confidence-verified", "confidence-secondary", "confidence-unverified", "confidence-disputed",
            "role-outcome_payer", "role-investor", "role-provider"} <= anchors
    assert any(a.startswith("stage-") for a in anchors)
    assert anchors <= glossary_ids  # every link lands on an entry
    assert page.nested == []  # a label's link is never inside another link or control


@pytest.mark.parametrize("path", ["/", "/contracts", "/contracts/uk-peterborough-2010", "/compare", "/glossary"])
def test_every_page_links_to_the_glossary_and_the_api_docs(client: FlaskClient, seeded: list[str],
                                                           path: str) -> None:
    hrefs = parse(client.get(f"{path}?lang=sv").get_data(as_text=True)).hrefs
    assert "/api/v1/docs" in hrefs
    assert "/glossary" in hrefs
