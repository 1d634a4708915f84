"""Remote images are never loaded in our pages (tracking pixels): the markdown renderer shows an image from another
site as a link to it, and every page's Content-Security-Policy allows images from this site (and inline) only."""
from __future__ import annotations

from pulse_live import markdown
from pulse_live.app import SECURITY_HEADERS
from pulse_live.markdown import to_html


def test_a_remote_image_becomes_a_link_and_a_local_one_stays_an_image() -> None:
    remote = to_html('![i](https://tracker.example/x.png)')
    assert '<img' not in remote
    assert '<a href="https://tracker.example/x.png" target="_blank" rel="noopener noreferrer nofollow">i</a>' \
        in remote
    local = to_html('![pic](/attachments/1)')
    assert '<img src="/attachments/1" alt="pic" />' in local


def test_other_spellings_of_another_site_are_links_too() -> None:
    for src in ('//tracker.example/x.png', 'HTTP://Tracker.example/x.png', 'http://tracker.example:8080/x',
                '/\\tracker.example/x.png', 'ftp://tracker.example/x.png'):
        assert not markdown.loads_as_image(src), src
    for src in ('/attachments/1', 'data:image/png;base64,AAAA', '/help/files/3', ' /attachments/ 12'):
        assert markdown.loads_as_image(src), src
    assert '<img' not in to_html('![](//tracker.example/x.png)')
    # an image without a description: the address is the link's text
    assert '>https://tracker.example/x.png</a>' in to_html('![](https://tracker.example/x.png)')
    # inside a link: no link in a link, the description only
    html = to_html('[![logo](https://tracker.example/x.png)](https://example.com)')
    assert '<img' not in html and html.count('<a ') == 1 and '>logo</a>' in html
    # the description is escaped
    assert '&lt;b&gt;' in to_html('![<b>](https://tracker.example/x.png)')


def test_the_policy_allows_images_from_this_site_only() -> None:
    policy = SECURITY_HEADERS['Content-Security-Policy']
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(';') if d.strip()}
    assert directives['img-src'] == ["'self'", 'data:', 'blob:']
    assert directives['frame-ancestors'] == ["'none'"]
    assert directives['form-action'] == ["'self'"] and directives['base-uri'] == ["'self'"]  # no form posts elsewhere
    assert directives['object-src'] == ["'none'"]


def test_the_server_bounds_a_request_head_and_keeps_the_cookie_to_https_behind_tls(monkeypatch) -> None:
    from pulse_live.app import run_kwargs
    from pulse_live.config import reset_settings
    kwargs = run_kwargs()
    from pulse_live.http_protocol import TimelyH11Protocol
    assert kwargs['http'] is TimelyH11Protocol and kwargs['h11_max_incomplete_event_size'] <= 128 * 1024
    assert kwargs['session_middleware_kwargs'] == {'https_only': False}  # http://127.0.0.1: a plain local run
    monkeypatch.setenv('PULSE_BASE_URL', 'https://desk.example.org')
    reset_settings()
    try:
        assert run_kwargs()['session_middleware_kwargs'] == {'https_only': True}
    finally:
        monkeypatch.undo()  # the environment as it was (the suite's own base URL), then settings read from it again:
        reset_settings()  # settings cached from this test's address refused every later test's sockets (origin)


def test_an_address_of_this_site_that_is_not_a_file_is_a_link_never_fetched() -> None:
    """A customer's message of 550 images of ``/tickets/PL-…?n`` made every agent's browser that showed it fetch
    550 ticket pages (each built on the server: 17 s of CPU, +300 MB); pages, queries and other paths are links."""
    for src in ('/tickets/PL-2026-000062?1', '/tickets/PL-2026-000062', '/dashboard', 'pictures/a.png',
                '/attachments/1?n=2', '/attachments/1/../../logout', '/attachments/x', '/help/files/3/more',
                '/attachments/' + '1' * 20):
        assert not markdown.loads_as_image(src), src
    message = ''.join(f'![](/tickets/PL-2026-000062?{n})' for n in range(550))
    html = to_html(message)
    assert '<img' not in html and html.count('<a href="/tickets/PL-2026-000062?') == 550
