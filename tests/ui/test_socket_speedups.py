"""components/render's speed-ups of NiceGUI's socket path: event listener ids from a counter
(``install_counted_listener_ids``) and the check of a message for bytes by one loop (``install_fast_binary_check``) —
with NiceGUI's and python-socketio's answers."""
from __future__ import annotations

import random

from nicegui import core, ui
from nicegui.testing import User
from socketio import packet

from components import render


async def test_every_listener_gets_its_own_id_and_an_event_reaches_the_listener_it_names(user: User) -> None:
    await user.open('/login')
    render.install_counted_listener_ids()
    render.install_counted_listener_ids()  # idempotent
    got: list[str] = []
    with user.client.layout:
        one = ui.element('div').on('click', lambda: got.append('one click'))
        one.on('dblclick', lambda: got.append('one dblclick'))
        two = ui.element('div').on('click', lambda: got.append('two click'))
    ids = [*one._event_listeners, *two._event_listeners]
    assert len(ids) == len(set(ids)) == 3
    for element in (one, two):  # what the browser is sent names each listener by its id
        assert [e['listener_id'] for e in element._to_dict()['events']] == list(element._event_listeners)
    dblclick = next(i for i, listener in one._event_listeners.items() if listener.type == 'dblclick')
    one._handle_event({'listener_id': dblclick, 'args': None})
    two._handle_event({'listener_id': next(iter(two._event_listeners)), 'args': None})
    assert got == ['one dblclick', 'two click']


def _nested(rng: random.Random, depth: int = 0):
    kinds = ['str', 'int', 'none', 'float', 'bool'] + (['list', 'dict', 'tuple'] if depth < 4 else [])
    kind = rng.choice(kinds + (['bytes', 'bytearray'] if rng.random() < 0.05 else []))
    if kind == 'list':
        return [_nested(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == 'dict':
        return {f'k{i}': _nested(rng, depth + 1) for i in range(rng.randint(0, 4))}
    if kind == 'tuple':  # not walked into by python-socketio either
        return tuple(_nested(rng, depth + 1) for _ in range(rng.randint(0, 3)))
    return {'str': 'text', 'int': 7, 'none': None, 'float': 1.5, 'bool': True,
            'bytes': b'\x00raw', 'bytearray': bytearray(b'raw')}[kind]


def test_the_loop_answers_as_python_socketio_does() -> None:
    rng = random.Random(16)
    samples = [_nested(rng) for _ in range(3000)]
    samples += [b'x', bytearray(b'x'), [[[[b'deep']]]], {'a': {'b': [1, {'c': bytearray(b'x')}]}}, (b'x',),
                {'key-bytes-only-in-a-key': 1}, {b'k': 'v'}, [], {}, None, '']
    with_bytes = sum(packet.Packet.data_is_binary(s) for s in samples)
    assert 50 < with_bytes < len(samples) - 50  # both answers occur often
    for sample in samples:
        assert render.contains_binary(sample) == packet.Packet.data_is_binary(sample), sample


def test_the_installed_packet_still_sends_bytes_as_attachments() -> None:
    render.install_fast_binary_check()
    render.install_fast_binary_check()  # idempotent: one subclass
    installed = core.sio.packet_class
    assert installed.data_is_binary is not packet.Packet.data_is_binary
    assert installed.__mro__[1] is packet.Packet
    plain = installed(packet.EVENT, data=['update', {'1': {'text': 'hi'}}])
    assert plain.packet_type == packet.EVENT
    assert plain.encode() == '2["update",{"1":{"text":"hi"}}]'
    binary = installed(packet.EVENT, data=['download', {'content': [b'\x00\x01']}])
    assert binary.packet_type == packet.BINARY_EVENT
    assert binary.encode()[1:] == [b'\x00\x01']
