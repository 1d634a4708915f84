"""Message markdown (markdown.py): mentions are highlighted in the text of a message only, never inside a link's
address, an image's description or code; raw HTML stays text; links open in a new tab safely."""
from html.parser import HTMLParser

from pulse_live.markdown import to_html


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attrs: list[tuple[str, str]] = []
        self.mentions = 0

    def handle_starttag(self, tag, attrs):
        self.attrs += [(k, v or '') for k, v in attrs]
        self.mentions += tag == 'span' and ('class', 'mention') in attrs


def _parse(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    return tags


def test_mentions_inside_link_and_image_attributes_stay_untouched() -> None:
    html = to_html('Ask @ben: [profile](https://example.com/@ben) ![@ben at work](/attachments/7) '
                   '![@ben](/files/@ben.png)', ['ben'])  # the last is not a file of ours: a link
    tags = _parse(html)
    assert ('href', 'https://example.com/@ben') in tags.attrs
    assert ('src', '/attachments/7') in tags.attrs
    assert ('href', '/files/@ben.png') in tags.attrs
    assert ('alt', '@ben at work') in tags.attrs
    assert not any('<span' in value or 'mention' in value for name, value in tags.attrs if name != 'class')
    assert tags.mentions == 1  # the one in the text


def test_mentions_in_text_links_and_emphasis_are_highlighted_but_not_in_code() -> None:
    html = to_html('**@ben** and [@ben](https://example.com) and `@ben` and @anna and @nobody', ['ben', 'anna'])
    assert _parse(html).mentions == 3
    assert '<code>@ben</code>' in html
    assert '@nobody' in html and '<span class="mention">@nobody' not in html


def test_raw_html_stays_text_with_a_mention_in_it() -> None:
    html = to_html('<img src=x onerror=alert(1)> @ben', ['ben'])
    assert '<img' not in html and '&lt;img' in html
    assert '<span class="mention">@ben</span>' in html


def test_links_open_in_a_new_tab_without_handing_over_the_page() -> None:
    tags = _parse(to_html('see [the manual](https://example.org/manual)'))
    assert ('target', '_blank') in tags.attrs
    assert ('rel', 'noopener noreferrer nofollow') in tags.attrs
    assert ('href', 'https://example.org/manual') in tags.attrs


class _Anchors(HTMLParser):
    """Counts ``<a>``/``<img>`` tags and the deepest nesting of ``<a>`` (a link inside a link is invalid HTML)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors = self.images = self.open = self.deepest = 0

    def handle_starttag(self, tag, attrs):
        if tag == 'a':
            self.anchors += 1
            self.open += 1
            self.deepest = max(self.deepest, self.open)
        self.images += tag == 'img'

    def handle_startendtag(self, tag, attrs):
        self.images += tag == 'img'

    def handle_endtag(self, tag):
        self.open -= tag == 'a'


def _inner(markdown: str) -> str:
    """What one piece of inline markdown renders to on its own, without the ``<p>…</p>`` around it."""
    html = to_html(markdown)
    assert html.startswith('<p>') and html.endswith('</p>\n')
    return html[len('<p>'):-len('</p>\n')]


def test_many_off_site_images_in_and_out_of_links_render_as_each_does_alone() -> None:
    # Reference: a paragraph of pieces apart by spaces renders as the pieces rendered one by one, joined by spaces.
    # Whether an off-site image is inside a link must follow each piece, not what came earlier in the paragraph.
    kinds = [
        lambda n: f'![off {n}](https://tracker.example/{n}.png)',                  # alone: a link to it
        lambda n: f'[![logo {n}](https://cdn.example/{n}.png)](https://site.example/{n})',  # in a link: its text
        lambda n: f'[see ![pic {n}](http://x.example/{n}) here](https://l.example/{n})',  # mid-link: its text
        lambda n: f'![ours {n}](/attachments/{n})',                                # this site: an image
        lambda n: f'[plain {n}](https://l.example/p{n})',                         # a link, then an image after it
        lambda n: f'![titled {n}](https://t.example/{n}.gif "t{n}")',
    ]
    pieces = [kinds[n % len(kinds)](n) for n in range(300)]
    html = to_html(' '.join(pieces))
    assert html == '<p>' + ' '.join(_inner(piece) for piece in pieces) + '</p>\n'
    anchors = _Anchors()
    anchors.feed(html)
    assert anchors.deepest == 1  # never a link in a link
    assert anchors.images == 50  # only this site's images load
    assert anchors.anchors == 250  # off-site alone (50), outer links (2 × 50), plain links (50), titled (50)
    assert '<img' not in html.replace('<img src="/attachments/', '')


def test_two_thousand_off_site_images_in_one_paragraph_render_like_one() -> None:
    alone = '![pixel](https://tracker.example/p.png)'
    assert to_html(' '.join([alone] * 2000)) == '<p>' + ' '.join([_inner(alone)] * 2000) + '</p>\n'
    linked = '[![logo](https://cdn.example/l.png)](https://site.example)'
    assert to_html(' '.join([linked] * 2000)) == '<p>' + ' '.join([_inner(linked)] * 2000) + '</p>\n'
    assert _inner(alone).startswith('<a href="https://tracker.example/p.png"') and _inner(alone).endswith('>pixel</a>')
    assert _inner(linked).startswith('<a href="https://site.example"') and _inner(linked).endswith('>logo</a>')
