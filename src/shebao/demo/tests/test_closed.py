"""The pieces of the demo's closed cases: the employee's photo is a real PNG, and the SMS sink run
while seeding leaves the demo's SMS channel and settings as they were, even when its port is
taken (the full walk is in shebao/evidence/tests/test_demo.py)."""

from __future__ import annotations

import io
import socket

import pytest
from django.conf import settings as django_settings

from shebao.demo.closed import _sms_sink, demo_png


def test_demo_png_is_a_valid_image_and_differs_by_seed():
    from PIL import Image

    data = demo_png(seed=3)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()  # chunks and CRCs
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (240, 320), "RGB")
        assert image.getpixel((5, 5)) != image.getpixel((5, 200))  # a title bar over a white page
    assert demo_png(seed=3) == data and demo_png(seed=4) != data
    assert len(data) < 10_000


@pytest.mark.django_db
def test_sms_sink_on_a_taken_port_points_the_channel_there_and_back(settings, tmp_path):
    from shebao.demo.notify import SMS_SINK_HOST, SMS_SINK_PORT, demo_sms_setup
    from shebao.notify.models import Channel

    settings.SHEBAO_SMS_SINK_DIR = tmp_path
    settings.SHEBAO_ALLOW_PRIVATE_URLS = False
    channel = demo_sms_setup()
    before = dict(channel.config)
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the sink does: TIME_WAIT is no owner
    try:
        try:
            blocker.bind((SMS_SINK_HOST, SMS_SINK_PORT))
            blocker.listen()
        except OSError:
            pass  # something else already holds the demo's port: as good
        with _sms_sink() as folder:
            assert folder == tmp_path
            during = Channel.objects.get(pk=channel.pk).config
            assert during["endpoint"].startswith(f"http://{SMS_SINK_HOST}:")
            assert during["endpoint"] != before["endpoint"]
            assert django_settings.SHEBAO_ALLOW_PRIVATE_URLS is True
    finally:
        blocker.close()
    assert Channel.objects.get(pk=channel.pk).config == before
    assert django_settings.SHEBAO_ALLOW_PRIVATE_URLS is False


@pytest.mark.django_db
def test_sms_sink_without_the_demo_channel_does_nothing():
    with _sms_sink() as folder:
        assert folder is None
