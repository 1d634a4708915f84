"""Every page links the prebuilt stylesheet, and it is served to anyone (the login page is styled before login)."""
import re

from nicegui.testing import User


async def test_the_login_page_links_the_stylesheet_and_a_signed_out_browser_gets_it(user: User) -> None:
    page = await user.http_client.get('/login', headers={'Accept': 'text/html'})
    assert page.status_code == 200
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)">', page.text)
    assert len([href for href in links if 'pulse.css' in href]) == 1
    href = next(href for href in links if 'pulse.css' in href)
    assert re.search(r'\?v=[0-9a-f]{12}$', href)  # the content's hash: a new build is a new address

    css = await user.http_client.get(href)  # no session cookie: not redirected to /login
    assert css.status_code == 200
    assert css.headers['content-type'].startswith('text/css')
    assert 'max-age=31536000' in css.headers['cache-control']
    assert '.w-full' in css.text and '@layer utilities' in css.text
    # NiceGUI leaves out its rules for Quasar's rotate-* classes without its compiler: they come with ours
    assert re.search(r'<style>@layer overrides \{[^}]*\.rotate-90', page.text)
