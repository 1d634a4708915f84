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
    html = to_html('Ask @ben: [profile](https://example.com/@ben) ![@ben at work](/files/@ben.png)',
                   ['ben'])
    tags = _parse(html)
    assert ('href', 'https://example.com/@ben') in tags.attrs
    assert ('src', '/files/@ben.png') in tags.attrs
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
