"""The catalogue: loading JSON and CSV, located errors, fuzzy names, search filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from causerie.apps.shop.catalogue_files import load_catalogue
from causerie.apps.shop.options import DEFAULT_CATALOGUE
from causerie.apps.shop.search import Index, Query, search
from causerie.errors import ConfigError

SAMPLE = load_catalogue(DEFAULT_CATALOGUE)
INDEX = Index(SAMPLE)


def test_sample_catalogue_is_bilingual_and_complete() -> None:
    assert 45 <= len(SAMPLE) <= 60
    assert len(SAMPLE.producers) >= 5
    for p in SAMPLE.products.values():
        assert p.name.get("en") and p.name.get("fr") and p.description.get("fr"), p.id
        assert p.price > 0 and p.category in SAMPLE.categories and p.producer in SAMPLE.producers


def test_csv_catalogue_with_attributes(tmp_path: Path) -> None:
    f = tmp_path / "cat.csv"
    f.write_text(
        "id,name_en,name_fr,category,producer,price,unit,stock,attr_organic,attr_allergens,attributes\n"
        'tea-1,Green tea,Thé vert,tea,Leaf Co,4.5,100 g,,yes,,"colour=green;caffeine=true"\n'
        'tea-2,Black tea,Thé noir,tea,Leaf Co,"3,90",100 g,3,no,milk|nuts,\n',
        encoding="utf-8",
    )
    cat = load_catalogue(f)
    assert cat.get("tea-1").stock is None and cat.get("tea-1").attributes["organic"] is True  # type: ignore[union-attr]
    assert cat.get("tea-2").price == 3.9 and cat.get("tea-2").allergens == ["milk", "nuts"]  # type: ignore[union-attr]
    assert cat.get("tea-1").attributes["colour"] == "green"  # type: ignore[union-attr]
    assert cat.get("tea-1").name.get("fr") == "Thé vert"  # type: ignore[union-attr]
    assert "leaf co" in {p.name.lower() for p in cat.producers.values()}


def test_csv_errors_name_file_line_row_and_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(
        "id,name_en,category,producer,price,stock\n"
        "ok,Fine,cheese,A,1.0,1\n"
        "p2,Two,cheese,A,abc,1\n"
        ",Three,cheese,A,1.0,1\n"
        "p4,Four,cheese,A,-1,x\n"
        "ok,Dup,cheese,A,1.0,1\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as e:
        load_catalogue(f)
    msg = str(e.value)
    assert f"{f}:3: row 2 (id 'p2'): field 'price': required; a number, got 'abc'" in msg
    assert f"{f}:4: row 3: field 'id'" in msg
    assert f"{f}:5: row 4 (id 'p4'): field 'price': must be between 0 and 100000" in msg
    assert "field 'stock'" in msg
    assert f"{f}:6: row 5 (id 'ok'): field 'id': duplicate id 'ok'" in msg


def test_json_errors_have_line_numbers_and_suggestions(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text(
        json.dumps(
            {
                "producers": [{"id": "a", "name": "A"}],
                "products": [
                    {"id": "x", "name": "X", "category": "c", "producer": "a", "price": 1},
                    {"id": "y", "name": "Y", "category": "c", "producer": "zz", "prize": 2},
                ],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as e:
        load_catalogue(f)
    msg = str(e.value)
    assert (
        f"{f}:21: products[1] (id 'y'): field 'prize': unknown field (did you mean 'price'?)" in msg
    )
    assert f"{f}:16: products[1] (id 'y'): field 'price': required" in msg
    f.write_text('{"products": [ {"id": "x",, } ]}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.json:1:\d+: invalid JSON"):
        load_catalogue(f)


def test_missing_file_and_format() -> None:
    with pytest.raises(ConfigError, match="catalogue not found"):
        load_catalogue(Path("/nonexistent/cat.json"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("comté", "comte-18-mois"),
        ("the reblochonn please", "reblochon-fermier"),
        ("summer beaufort", "beaufort-ete"),
        ("beaufort sausage", "saucisson-beaufort"),
        ("miel de lavande", "miel-lavande"),
        ("lavender honey", "miel-lavande"),
    ],
)
def test_fuzzy_product_names(text: str, expected: str) -> None:
    product, _ = SAMPLE.lexicon.best(text)
    assert product is not None and product.id == expected


def test_ambiguous_and_category_words_are_not_products() -> None:
    product, candidates = SAMPLE.lexicon.best("beaufort")
    assert product is None and {c.id for c in candidates} == {"beaufort-ete", "saucisson-beaufort"}
    assert SAMPLE.lexicon.best("honey") == (None, [])  # a category, not a product
    assert SAMPLE.lexicon.best("some money back") == (None, [])


def test_search_filters_combine() -> None:
    r = search(SAMPLE, INDEX, Query(category="fromage", max_price=8))
    assert r.products and all(p.category == "cheese" and p.price <= 8 for p in r.products)
    r = search(
        SAMPLE,
        INDEX,
        Query(category="wine", attributes=["organic", "colour=red"], sort="price_asc"),
    )
    assert [p.id for p in r.products] == ["cotes-du-rhone-rouge", "syrah-reserve"]
    r = search(SAMPLE, INDEX, Query(producer="Rucher du Vercors", min_price=10))
    assert {p.id for p in r.products} == {"miel-montagne", "pollen-frais"}
    r = search(SAMPLE, INDEX, Query(category="bread", exclude_allergens=["nuts"]))
    assert r.products and all("nuts" not in p.allergens for p in r.products)


def test_search_text_and_unknown_filters() -> None:
    assert search(SAMPLE, INDEX, Query(text="breakfast")).products[0].id == "pollen-frais"
    assert search(SAMPLE, INDEX, Query(text="laptops")).total == 0
    r = search(SAMPLE, INDEX, Query(category="electronics"))
    assert r.total == 0 and r.unknown == ["category 'electronics'"]
