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


async def test_a_list_shows_an_excerpt_of_a_long_article_without_rendering_all_of_it(people, monkeypatch):
    """The list's excerpt rendered the whole body of every listed article (200,000 characters: ~0.9 s each, 50 per
    page, on the event loop); only the start is rendered now, and the excerpt is the same."""
    from pulse_live import markdown
    from pulse_live.services import kb
    from pulse_live.services.kb import ArticleFields
    anna = people.users['anna@pulse.demo']
    body = 'Restart the **print spooler** first.\n\n' + ('More detail about queues and drivers. ' * 5000)
    await kb.create_article(actor=anna, fields=ArticleFields(title='Printing', body=body, visibility='public',
                                                              status='published'))
    rendered: list[int] = []
    original = markdown.to_text

    def measuring(text: str, *args, **kwargs):
        rendered.append(len(text))
        return original(text, *args, **kwargs)
    monkeypatch.setattr(markdown, 'to_text', measuring)
    [row] = await kb_queries.article_list(None, text='spooler')
    assert row.excerpt.startswith('Restart the print spooler first. More detail about queues')
    assert len(row.excerpt) <= 180 and row.excerpt.endswith('…')
    assert rendered and max(rendered) <= kb_queries.EXCERPT_SOURCE_CHARS < len(body)
