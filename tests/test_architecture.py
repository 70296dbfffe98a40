"""The package's shape: parts in folders, no import cycles, modules one can read in a sitting."""

from __future__ import annotations

from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parent.parent / "anchorframe"


def import_graph() -> dict[str, set[str]]:
    """Every module's imports within anchorframe: lazy ones included, `if TYPE_CHECKING:` ones not."""
    graph = grimp.build_graph("anchorframe", exclude_type_checking_imports=True, cache_dir=None)
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    # The package's face imports (lazily) everything it re-exports; it is no part of a cycle
    # a reader has to untangle, as no module imports it back for a name it defines.
    edges["anchorframe"] = set()
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    """No two modules import each other, directly or through others, even from inside a function."""
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a loop of three modules is found."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_over_500_lines():
    """Every module reads in one sitting."""
    long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long == {}


def test_the_top_level_holds_the_faces_and_parts_are_folders():
    """At most a dozen modules sit directly in anchorframe/; each part folder says what it owns."""
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top
    for init in PACKAGE.glob("*/__init__.py"):
        doc = init.read_text(encoding="utf-8").lstrip()
        assert doc.startswith('"""') and len(doc.split('"""')[1]) > 40, f"{init} has no docstring"


def test_the_built_in_scrapers_are_extractor_objects_that_plain_pickle_carries():
    """page_summary and css() say what they read and travel to shards without cloudpickle."""
    import pickle

    import anchorframe as af
    from anchorframe._render.extractor import Extractor

    product = af.extract.css({"name": "h1", "link": "a@href"}, wait=1.5)
    assert isinstance(product, Extractor) and isinstance(af.extract.page_summary, Extractor)
    assert product.http_selectors == {"name": "h1", "link": "a@href"} and product.reuse_page
    assert af.extract.page_summary.http_selectors is None
    copy = pickle.loads(pickle.dumps(product))
    assert (copy.http_selectors, copy.wait, repr(copy)) == (product.http_selectors, 1.5, repr(product))
    assert pickle.loads(pickle.dumps(af.extract.page_summary)).http_selectors is None
