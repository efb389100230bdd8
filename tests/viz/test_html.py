from storyspace.search.tree import Tree
from storyspace.viz.html import tree_html


def test_tree_html_escapes_all_text_and_marks_best_path() -> None:
    tree = Tree.new(max_depth=2)
    a = tree.add_child(0, {"passage": "<b>bold</b> & \"quoted\"", "plan": "<i>plan</i>"}, -1.0, 0.5, {"value": 0.5})
    tree.nodes[a.id].visits, tree.nodes[a.id].total = 2, 1.0
    tree.add_child(0, {"passage": "<script>x()</script>"}, -1.0, 0.1, {})
    html = tree_html(tree, "Premise <img src=x onerror=alert(1)>")
    assert "<script>x()" not in html and "&lt;script&gt;x()" in html
    assert "<img src=x" not in html and "<b>bold</b>" not in html and "<i>plan</i>" not in html
    assert html.count('class="best"') == 2  # root and the most visited child
