"""What a user typed, made safe: words and phrases only, as an FTS5 MATCH expression or a PostgreSQL tsquery text;
and the highlighted snippet shown with a hit. Pure functions (no database).

User text never reaches either engine's query syntax as typed. It is cut into words (runs of letters and digits,
any script); quotes, ``*``, ``-``, ``:``, ``NEAR(``, ``AND``/``OR``/``NOT`` and every other sign are separators or
plain words. A balanced pair of double quotes keeps its words together as a phrase. Each word is then written as a
quoted literal of the engine (``"word"`` in FTS5, ``'word'`` in a tsquery), which neither engine parses as an
operator: any input gives a valid query or an empty one ("nothing found").
"""
from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

MAX_TEXT = 200        # characters of a search text that are read
MAX_TERMS = 12        # words and phrases in one query
MIN_PREFIX = 2        # a last word shorter than this is matched whole, not as a prefix (``a*`` matches everything)
WORD = re.compile(r'[^\W_]+')
PHRASE = re.compile(r'"([^"]*)"')
# words too common to say anything in a "related" (any-word) query; the all-words search keeps them
_STOPWORD_TEXT = (
    'a an and are as at be been but by can could did do does for from had has have he her his how i if in into is it '
     'its me my no not of on or our she so than that the their them then there these they this to too up us was we '
     'were what when where which who why will with would you your please thanks thank hello hi dear')
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # one word, or the words of a phrase
    prefix: bool = False    # the last word typed so far: matches words that start with it

    @property
    def is_phrase(self) -> bool:
        return len(self.words) > 1


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]

    def __bool__(self) -> bool:
        return bool(self.terms)

    @property
    def words(self) -> list[str]:
        return [w for t in self.terms for w in t.words]


def words(text: str) -> list[str]:
    return WORD.findall(text)


def parse(text: str, *, prefix: bool = True) -> Query:
    """All the terms must match (a phrase's words in order). With ``prefix`` every word of two letters or more also
    matches longer words: as you type (``vpn disc`` finds "VPN disconnects") and across endings (``printer`` finds
    "printers") without a stemmer, so it works for any language and for words not yet finished."""
    text = (text or '')[:MAX_TEXT]
    terms: list[Term] = []
    position = 0
    for match in PHRASE.finditer(text):
        terms += [_word(w, prefix) for w in words(text[position:match.start()])]
        phrase = tuple(words(match.group(1)))
        if phrase:  # a quoted word is that word, not its longer forms
            terms.append(Term(phrase))
        position = match.end()
    terms += [_word(w, prefix) for w in words(text[position:])]
    return Query(tuple(_unique(terms)[:MAX_TERMS]))


def _word(word: str, prefix: bool) -> Term:
    return Term((word,), prefix=prefix and len(word) >= MIN_PREFIX)


def any_words(text: str, *, limit: int = MAX_TERMS) -> Query:
    """The distinctive words of a text (stopwords left out), for "related" queries where any word may match."""
    seen = _unique([Term((w,)) for w in words((text or '')[:2000]) if fold(w) not in STOPWORDS and len(w) > 1])
    return Query(tuple(seen[:limit]))


def _unique(terms: list[Term]) -> list[Term]:
    out: list[Term] = []
    keys: set[tuple[str, ...]] = set()
    for t in terms:
        key = tuple(fold(w) for w in t.words)
        if key not in keys:
            keys.add(key)
            out.append(t)
    return out


# --- SQLite FTS5 ---

def _fts5_term(term: Term) -> str:
    quoted = '"' + ' '.join(term.words) + '"'  # words hold letters and digits only: nothing to escape
    return f'{quoted} *' if term.prefix else quoted


def fts5_match(query: Query, *, columns: tuple[str, ...], kind: str | None = None, any_term: bool = False) -> str:
    """An FTS5 MATCH expression: every term (or, with ``any_term``, any of them) in one of ``columns``; with ``kind``
    only documents of that kind."""
    joiner = ' OR ' if any_term else ' AND '
    inner = joiner.join(_fts5_term(t) for t in query.terms)
    expression = f'{{{" ".join(columns)}}} : ({inner})'
    return f'kind : "{kind}" AND {expression}' if kind else expression


# --- PostgreSQL tsquery ---

def _ts_lexeme(word: str, *, prefix: bool, weights: str) -> str:
    marks = ('*' if prefix else '') + weights
    return f"'{word}'" + (f':{marks}' if marks else '')


def _ts_term(term: Term, weights: str) -> str:
    if term.is_phrase:
        return '(' + ' <-> '.join(_ts_lexeme(w, prefix=False, weights=weights) for w in term.words) + ')'
    return _ts_lexeme(term.words[0], prefix=term.prefix, weights=weights)


def tsquery_text(query: Query, *, weights: str = '', any_term: bool = False) -> str:
    """The text of a ``to_tsquery(config, …)``: quoted lexemes joined by ``&`` (or ``|``), restricted to the
    weights given (A title, B body, C staff-only text)."""
    return (' | ' if any_term else ' & ').join(_ts_term(t, weights) for t in query.terms)


# --- snippets ---

def fold(word: str) -> str:
    """Lower case without accents: how both engines compare words (unicode61 remove_diacritics; unaccent-free
    PostgreSQL still lower-cases, and the stemmer is approximated by the prefix match below)."""
    decomposed = unicodedata.normalize('NFKD', word.casefold())
    return ''.join(c for c in decomposed if not unicodedata.combining(c))


def _hits(word: str, needles: list[str]) -> bool:
    w = fold(word)  # a stem of 5+ letters also matches: "disconnects" ~ "disconnected"
    return any(w.startswith(n) or (len(n) >= 5 and w.startswith(n[:-2])) for n in needles)


def highlight(text: str, query: Query) -> str:
    """``text`` as HTML-escaped markup with the matching words in ``<mark>``."""
    needles = [fold(w) for w in query.words]
    out: list[str] = []
    position = 0
    for match in WORD.finditer(text):
        if _hits(match.group(), needles):
            out.append(html.escape(text[position:match.start()]))
            out.append(f'<mark>{html.escape(match.group())}</mark>')
            position = match.end()
    out.append(html.escape(text[position:]))
    return ''.join(out)


def snippet(text: str, query: Query, *, width: int = 160) -> str:
    """About ``width`` characters of ``text`` around its first matching word, highlighted (HTML)."""
    flat = ' '.join((text or '').split())
    needles = [fold(w) for w in query.words]
    first = next((m.start() for m in WORD.finditer(flat) if _hits(m.group(), needles)), 0)
    start = max(0, first - width // 3)
    if start:
        space = flat.find(' ', start)
        start = space + 1 if 0 <= space < first else start
    end = min(len(flat), start + width)
    if end < len(flat):
        space = flat.rfind(' ', start, end)
        end = space if space > first else end
    piece = highlight(flat[start:end], query)
    return ('… ' if start else '') + piece + (' …' if end < len(flat) else '')
