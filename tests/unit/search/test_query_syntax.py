"""Whatever is typed into a search box — quotes, operators of either engine, stray syntax, any script — the answer is
results or "nothing found", never an error; fuzzed with Hypothesis on SQLite and on PostgreSQL."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse_live.queries import search as search_queries
from pulse_live.search import text as search_text
from tests.factories import make_ticket

SYNTAX = ['"', '""', '*', 'NEAR(', 'NEAR/3', '-', ':', ':*', 'AND', 'OR', 'NOT', 'AND OR', '(', ')', '{', '}', '^', "'",
          "''", '\\', '&', '|', '!', '<->', '<2>', '@@', '%', '_', '+', '~', ';', '--', '/*', '$$', '\x00', '\u200b',
          'é', 'ǅ', '日本語', '🙂', 'İ', 'ß', '\t', '\n', ' ', 'title:', '{title body}:', 'kind : "ticket"']
TYPED = st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=6)), max_size=10).map(''.join)
NOT_A_WORD = st.text(alphabet=st.characters(blacklist_categories=('L', 'N', 'Cs')), max_size=6)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(typed=TYPED)
async def test_any_text_gives_results_or_nothing_found(people, typed):
    for viewer in (people.users['anna@pulse.demo'], people.users['tom@globex.demo']):
        results = await search_queries.search(viewer, typed)
        assert all(isinstance(h.title_html, str) for g in results.groups for h in g.hits)
        await search_queries.related_articles(viewer, typed)


@FUZZ
@given(before=NOT_A_WORD, after=NOT_A_WORD)
async def test_a_word_wrapped_in_syntax_still_finds_its_ticket(people, before, after):
    anna = people.users['anna@pulse.demo']
    ticket = await _zebra(people)
    results = await search_queries.search(anna, f'{before}zebra{after}', kinds=('ticket',))
    assert [h.id for h in results.groups[0].hits] == [ticket.id]


_made: dict[int, object] = {}


async def _zebra(people):
    """One ticket per database (examples share the test's database)."""
    key = id(people)
    if key not in _made:
        _made[key] = await make_ticket(people, title='Zebra label printer skips labels')
    return _made[key]


def test_user_text_becomes_quoted_words_only():
    query = search_text.parse('NEAR("a b" * -c : OR d) "x y')
    assert search_text.fts5_match(query, columns=('title',)) == \
        '{title} : ("NEAR" * AND "a b" AND "c" AND "OR" * AND "d" AND "x" AND "y")'
    assert search_text.tsquery_text(query, weights='AB') == \
        "'NEAR':*AB & ('a':AB <-> 'b':AB) & 'c':AB & 'OR':*AB & 'd':AB & 'x':AB & 'y':AB"
    assert not search_text.parse('"*:-()^"')


def test_highlight_escapes_html_and_marks_matches():
    marked = search_text.highlight('<script>Printer</script> printing', search_text.parse('prin'))
    assert marked == '&lt;script&gt;<mark>Printer</mark>&lt;/script&gt; <mark>printing</mark>'
    snip = search_text.snippet('word ' * 100 + 'the fuser failed ' + 'tail ' * 100, search_text.parse('fuser'))
    assert '<mark>fuser</mark>' in snip and snip.startswith('… ') and snip.endswith(' …') and len(snip) < 220


async def test_one_letter_words_and_phrases_search_as_staff_types_them(people):
    """Staff's every-keystroke statement is written out as SQL on PostgreSQL: a word that is not a prefix (one
    letter, a word in a phrase) carries tsquery weights like ``'7':A``, which must not be read as a bind parameter."""
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, title='Windows 7 printer jam on tray C')
    for typed in ('windows 7', '"printer jam"', 'tray c', '7', '"windows 7" printer'):
        results = await search_queries.search(anna, typed)
        tickets = [h.id for g in results.groups if g.kind == 'ticket' for h in g.hits]
        assert ticket.id in tickets, typed
