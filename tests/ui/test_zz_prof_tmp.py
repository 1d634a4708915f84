import cProfile, pstats, time, io
from nicegui.testing import User
from tests.factories import make_ticket
from tests.ui.conftest import open_ticket, login

async def test_prof(create_user, people):
    t = await make_ticket(people, title='Printer jams again')
    u = create_user()
    await open_ticket(u, 'anna@pulse.demo', t.reference)
    for _ in range(3):
        await u.open(f'/tickets/{t.reference}')
        await u.should_see(marker='documents', retries=100)
    pr = cProfile.Profile()
    c0 = time.process_time()
    pr.enable()
    for _ in range(15):
        await u.open(f'/tickets/{t.reference}')
        await u.should_see(marker='documents', retries=100)
    pr.disable()
    print('CPU per open ms', (time.process_time() - c0) / 15 * 1000)
    s = io.StringIO()
    st = pstats.Stats(pr, stream=s)
    st.sort_stats('cumulative').print_stats(45)
    st.sort_stats('tottime').print_stats(25)
    print(s.getvalue()[:12000])
