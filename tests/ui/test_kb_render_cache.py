"""An article is rendered once per version (pages/kb.article_html), for staff on /kb and for readers of the help
centre, and again after an edit; the editor's preview follows the text once the writer pauses, not at every key."""
import importlib
from collections.abc import Callable

import pytest
from nicegui.testing import User

from pulse_live.services import kb
from pulse_live.services.kb import ArticleFields
from tests.ui.conftest import login, until


def _count_renders(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Every markdown text the module ``name`` renders (its ``to_html``), in order. The module is the one the running
    app imported (importing pages before the app starts would register their routes too early)."""
    module = importlib.import_module(name)
    rendered: list[str] = []
    real = module.to_html

    def counting(text: str, *args: object) -> str:
        rendered.append(text)
        return real(text, *args)
    monkeypatch.setattr(module, 'to_html', counting)
    return rendered


def _body_html(user: User, marker: str) -> str:
    return user.find(marker=marker).elements.pop().content


async def test_staff_open_an_article_twice_it_is_rendered_once_and_again_after_an_edit(
        user: User, people, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = _count_renders(monkeypatch, 'pages.kb')
    anna = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Dock', body='Plug in the **dock**'))
    await login(user, 'ben@pulse.demo')
    for _ in range(2):
        await user.open(f'/kb/{article.id}')
        await user.should_see(marker='kb-article-body')
        assert '<strong>dock</strong>' in _body_html(user, 'kb-article-body')
    await user.open(f'/kb/{article.id}/edit')  # the editor's first preview is the same rendering
    await user.should_see(marker='kb-editor')
    preview = user.find(marker='kb-preview').elements.pop()
    assert '<h1>Dock</h1>' in preview.content and '<strong>dock</strong>' in preview.content
    assert rendered.count('Plug in the **dock**') == 1
    user.find(marker='kb-body').clear().type('Plug in the *USB-C* cable')
    await until(lambda: '<em>USB-C</em>' in preview.content)
    user.find(marker='kb-save').click()
    await user.should_see('Article saved')
    await user.should_see(marker='kb-version', content='Version 2')
    await until(lambda: '<em>USB-C</em>' in _body_html(user, 'kb-article-body'))
    assert '<strong>dock</strong>' not in _body_html(user, 'kb-article-body')
    await user.open(f'/kb/{article.id}')
    await user.should_see(marker='kb-version', content='Version 2')
    assert '<em>USB-C</em>' in _body_html(user, 'kb-article-body')
    assert rendered.count('Plug in the *USB-C* cable') == 1


async def test_help_centre_readers_share_one_rendering_per_version(
        create_user: Callable[[], User], people, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = _count_renders(monkeypatch, 'pages.kb')
    anna, admin = people.users['anna@pulse.demo'], people.users['admin@pulse.demo']
    await kb.set_public_help_centre(actor=admin, open_=True)
    article = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Guest Wi-Fi', body='Choose **Guest**.', visibility='public', status='published'))
    first, second = create_user(), create_user()
    for visitor in (first, second, first):
        await visitor.open(f'/help/{article.id}')
        await visitor.should_see(marker='help-article-body')
        assert '<strong>Guest</strong>' in _body_html(visitor, 'help-article-body')
    assert rendered.count('Choose **Guest**.') == 1
    await kb.save_article(actor=anna, article_id=article.id, expected_version=1, fields=ArticleFields(
        title='Guest Wi-Fi', body='Choose **Visitors**.', visibility='public', status='published'))
    await second.open(f'/help/{article.id}')
    await second.should_see(marker='help-article-body')
    html = _body_html(second, 'help-article-body')
    assert '<strong>Visitors</strong>' in html and 'Guest</strong>' not in html
    assert rendered.count('Choose **Visitors**.') == 1


async def test_the_editor_preview_renders_once_the_writer_pauses_not_at_every_key(
        user: User, people, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = _count_renders(monkeypatch, 'components.kb_editor')
    await login(user, 'anna@pulse.demo')
    await user.open('/kb/new')
    await user.should_see(marker='kb-editor')
    preview = user.find(marker='kb-preview').elements.pop()
    body = user.find(marker='kb-body')
    rendered.clear()
    for key in 'Restart **now**':  # key by key, faster than the pause
        body.type(key)
    await until(lambda: '<strong>now</strong>' in preview.content)
    assert rendered == ['Restart **now**']
    user.find(marker='kb-title').type('Printer')  # the title alone: the body is not rendered again
    await until(lambda: '<h1>Printer</h1>' in preview.content)
    assert rendered == ['Restart **now**'] and '<strong>now</strong>' in preview.content
