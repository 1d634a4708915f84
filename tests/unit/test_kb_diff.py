"""An article's history counts and diffs line by line with a bounded cost: a long article whose every line changed
by one character is counted (difflib's ndiff compared such lines character by character: minutes, then
RecursionError), each pair of versions is counted once per process, and the diff view stays line based."""
import random
import string
import time

from sqlalchemy import update

from pulse_live import db
from pulse_live.models import ArticleVersion
from pulse_live.queries import kb as kb_queries
from pulse_live.services import kb
from pulse_live.services.kb import ArticleFields


def _long_body(lines: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f'{n:04} ' + ''.join(rng.choice(string.ascii_letters + ' ') for _ in range(94)) for n in range(lines)]


def _one_character_changed(lines: list[str]) -> list[str]:
    return [line[:50] + ('#' if line[50] != '#' else '%') + line[51:] for line in lines]


async def test_a_long_article_changed_on_every_line_is_counted_without_freezing(people, capsys):
    anna = people.users['anna@pulse.demo']
    before = _long_body(1_900, seed=1)  # ~190,000 characters: near the longest article (services/kb.MAX_BODY)
    after = _one_character_changed(before)
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Printers', body='\n'.join(before)))
    await kb.save_article(actor=anna, article_id=article.id, expected_version=1,
                          fields=ArticleFields(title='Printers', body='\n'.join(after)))
    started = time.perf_counter()
    history = await kb_queries.versions(anna, article.id)
    took = time.perf_counter() - started
    assert [(v.version, v.added, v.removed) for v in history] == [(2, 1_900, 1_900), (1, 1_902, 0)]
    with capsys.disabled():
        print(f'\nversions() of 2 x 1,900 changed lines: {took * 1000:.1f} ms')
    d = await kb_queries.diff(anna, article.id, 2)
    assert d is not None
    assert sum(line.kind == 'added' for line in d.lines) == sum(line.kind == 'removed' for line in d.lines) == 1_900


async def test_ordinary_edits_count_as_before_and_blank_lines_between_changes_stay_unchanged(people):
    anna = people.users['anna@pulse.demo']
    paragraphs = _long_body(400, seed=2)
    body = '\n\n'.join(paragraphs)  # 799 lines: blank lines are "popular", difflib's autojunk skips them
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Docking', body=body))
    edited = list(paragraphs)
    edited[100], edited[101] = 'Plug in the USB-C cable first.', 'Then wait for the chime.'
    edited.insert(300, 'A new step.')
    await kb.save_article(actor=anna, article_id=article.id, expected_version=1,
                          fields=ArticleFields(title='Docking station', body='\n\n'.join(edited)))
    history = await kb_queries.versions(anna, article.id)
    # the title, two paragraphs (the blank line between them unchanged), a paragraph and its blank line
    assert [(v.version, v.added, v.removed) for v in history] == [(2, 5, 3), (1, 801, 0)]
    d = await kb_queries.diff(anna, article.id, 2)
    assert d is not None
    assert [line.text for line in d.lines if line.kind == 'removed'] == [
        '# Docking', paragraphs[100], paragraphs[101]]
    assert [line.text for line in d.lines if line.kind == 'added'] == [
        '# Docking station', 'Plug in the USB-C cable first.', 'Then wait for the chime.', 'A new step.', '']
    assert sum(line.kind == 'gap' for line in d.lines) == 2


async def test_each_pair_of_versions_is_counted_once_per_process(people, monkeypatch):
    anna = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Toner', body='Old\ntext'))
    await kb.save_article(actor=anna, article_id=article.id, expected_version=1,
                          fields=ArticleFields(title='Toner', body='New\ntext\nmore'))
    counted: list[int] = []
    real = kb_queries._change_counts

    def counting(a: list[str], b: list[str]) -> tuple[int, int]:
        counted.append(len(b))
        return real(a, b)
    monkeypatch.setattr(kb_queries, '_change_counts', counting)
    monkeypatch.setattr(kb_queries, '_COUNTS', type(kb_queries._COUNTS)())
    stored = await kb_queries.versions(anna, article.id)  # counted when saved: the history reads no text
    assert [(v.added, v.removed) for v in stored] == [(2, 1), (4, 0)] and counted == []
    async with db.session() as s, s.begin():  # versions saved before the counts were stored
        await s.execute(update(ArticleVersion).where(ArticleVersion.article_id == article.id)
                        .values(lines_added=None, lines_removed=None))
    first = await kb_queries.versions(anna, article.id)
    again = await kb_queries.versions(anna, article.id)
    assert first == again == stored
    assert len(counted) == 2  # each pair once per process


def test_a_text_made_to_defeat_the_matcher_stops_at_the_budget_and_counts_the_rest_as_changed():
    lines = [f'line {n} ' + 'x' * 90 for n in range(100)]
    a = [lines[n % 100] for n in range(2_000)]
    b = [lines[(n * 7) % 100] for n in range(2_000)]
    added, removed = kb_queries._change_counts(a, b)
    assert added == removed and 0 < added <= 2_000
    codes = kb_queries._line_opcodes(a, b)  # still a complete edit script from a to b
    rebuilt = [line for tag, i1, i2, j1, j2 in codes for line in (a[i1:i2] if tag == 'equal' else b[j1:j2])]
    assert rebuilt == b


async def test_the_history_of_many_long_versions_reads_no_text_and_keeps_the_loop_running(people, monkeypatch):
    """999 versions of a 200,000-character article (any agent can save them) held the event loop 2 s and 400 MB per
    opening of its history: every version's text was read and split. The counts are stored when saved now."""
    anna = people.users['anna@pulse.demo']
    body = 'abc\n' * 20_000
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Long 0', body=body))
    for n in range(1, 40):
        await kb.save_article(actor=anna, article_id=article.id, expected_version=n,
                              fields=ArticleFields(title=f'Long {n}', body=body))
    split: list[int] = []
    real = kb_queries._lines
    monkeypatch.setattr(kb_queries, '_lines', lambda title, text: (split.append(1), real(title, text))[1])
    history = await kb_queries.versions(anna, article.id)
    assert len(history) == 40 and split == []  # no text read
    assert [(v.added, v.removed) for v in history[:2]] == [(1, 1), (1, 1)] and history[-1].added == 20_002
    shown = await kb_queries.diff(anna, article.id, 40)
    assert shown is not None and len(split) == 2  # the two versions compared, not all forty
