"""The test harness itself: with two simulated users, a handler's navigation reaches the user who acted, even when
the other user's page gets a live update meanwhile (tests/conftest.py, _install_context_aware_user_helpers)."""
import asyncio
from collections.abc import Callable

from nicegui.testing import User

from pulse_live import auth


async def test_login_navigation_reaches_the_user_who_logged_in(create_user: Callable[[], User], people,
                                                                  monkeypatch) -> None:
    from tests.ui.conftest import login
    anna, ben = create_user(), create_user()
    await login(anna, 'anna@pulse.demo')
    release = asyncio.Event()
    real = auth.authenticate

    async def slow_authenticate(*args, **kwargs):
        await release.wait()  # Ben's password check is still running …
        signed_in = await real(*args, **kwargs)
        assert anna.client is not None  # … when Anna's page is touched (as every live update to her page does)
        return signed_in
    monkeypatch.setattr(auth, 'authenticate', slow_authenticate)
    await ben.open('/login')
    ben.find('Email').type('ben@pulse.demo')
    ben.find('Password').type('demo')
    ben.find('Log in').click()
    await asyncio.sleep(0.1)
    release.set()
    await ben.should_see('Ben Okafor', retries=100)
    await ben.should_see('Log out')
