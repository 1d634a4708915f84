"""The help centre's categories: a category is named to a reader only when an article that reader may read lies in
it or below it; staff keep every category in their own knowledge base."""
from __future__ import annotations

from pulse_live.queries import kb as kb_queries
from tests.factories import make_help_categories


async def test_help_categories_hide_categories_with_nothing_the_reader_may_read(people):
    secret, secret_child, network, wifi = await make_help_categories(people)
    for reader in (None, people.users['carl@acme.demo']):  # a visitor, a customer
        shown = await kb_queries.help_categories(reader)
        assert [c.name for c in shown] == ['Network', 'Wi-Fi'], reader
        assert {c.id: c.total for c in shown} == {network.id: 1, wifi.id: 1}
        # the full tree still counts nothing readable under SECRETCAT for them
        totals = {c.id: c.total for c in await kb_queries.category_tree(reader)}
        assert totals[secret.id] == totals[secret_child.id] == 0


async def test_staff_keep_every_category_with_counts_of_everything_below(people):
    secret, secret_child, network, wifi = await make_help_categories(people)
    anna = people.users['anna@pulse.demo']
    tree = {c.name: c for c in await kb_queries.category_tree(anna)}
    assert set(tree) == {'SECRETCAT', 'SECRETCHILD', 'Network', 'Wi-Fi', 'Empty'}
    assert (tree['SECRETCAT'].articles, tree['SECRETCAT'].total) == (0, 2)
    assert (tree['SECRETCHILD'].articles, tree['SECRETCHILD'].total) == (2, 2)
    assert (tree['Network'].articles, tree['Network'].total) == (0, 1)
    assert [c.name for c in await kb_queries.help_categories(anna)] == ['SECRETCAT', 'SECRETCHILD', 'Network',
                                                                         'Wi-Fi']
