"""Reading one field of a rendered object (bot/manifests/render.py `value_at`): the leaf
`flatten` gives at that path, including where labels collide."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.manifests.model import Rendered
from bot.manifests.render import flatten, value_at

KEY = ("Deployment", "shop", "checkout")
LABELS = st.sampled_from(["a", "b", "0", "1"])
"""Few labels, so that names repeat in lists and keys 1 and "1" meet in a mapping."""
SCALARS = st.none() | st.integers(-3, 3) | st.sampled_from(["x", "250m", ""])
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: (
        st.dictionaries(LABELS | st.integers(0, 1), children, max_size=4)
        | st.lists(
            st.fixed_dictionaries({"name": LABELS}, optional={"v": children, "w": children})
            | children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS, st.lists(LABELS, max_size=4))
def test_a_value_read_by_its_path_is_the_leaf_flatten_puts_there(document, labels):
    rendered = Rendered({KEY: document})
    leaves = flatten(document)
    for path in [*leaves, tuple(labels)]:
        assert value_at(rendered, KEY, path) == leaves.get(path)


def test_a_container_named_twice_reads_the_later_one_that_sets_the_field():
    containers = [
        {"name": "app", "resources": {"limits": {"cpu": "1"}}},
        {"name": "app", "image": "app:2"},
        {"name": "sidecar", "resources": {"limits": {"cpu": "100m"}}},
    ]
    rendered = Rendered({KEY: {"spec": {"containers": containers}}})
    cpu = ("spec", "containers", "app", "resources", "limits", "cpu")
    assert value_at(rendered, KEY, cpu) == "1"
    assert value_at(rendered, KEY, ("spec", "containers", "app", "image")) == "app:2"
    assert value_at(rendered, KEY, ("spec", "containers", "app")) is None  # not a leaf
    assert value_at(rendered, KEY, ("spec", "containers", "sidecar", "name")) == "sidecar"
    assert value_at(rendered, KEY, ("spec", "containers", "2", "name")) is None  # named
    assert value_at(rendered, ("Deployment", "shop", "other"), ("spec",)) is None
