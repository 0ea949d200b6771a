"""civic.sms: the backend named by SMS_BACKEND delivers; the default one writes to the log."""

import logging

import pytest

from civic.sms import BaseSmsBackend, LoggingSmsBackend, get_sms_backend, send_sms


class RecordingSmsBackend(BaseSmsBackend):
    """Test backend: keeps what it was asked to send."""

    sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))


def test_default_backend_logs_the_message(caplog, settings):
    settings.SMS_BACKEND = "civic.sms.LoggingSmsBackend"
    assert isinstance(get_sms_backend(), LoggingSmsBackend)

    with caplog.at_level(logging.INFO, logger="civic.sms"):
        send_sms("13800138000", "您的预约已确认 / booking confirmed")

    records = [r for r in caplog.records if r.name == "civic.sms"]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    assert records[0].getMessage() == "SMS to 13800138000: 您的预约已确认 / booking confirmed"


def test_sms_backend_setting_selects_the_backend(caplog, settings):
    settings.SMS_BACKEND = f"{__name__}.RecordingSmsBackend"
    RecordingSmsBackend.sent = []

    with caplog.at_level(logging.INFO, logger="civic.sms"):
        send_sms("13900139000", "hello")

    assert RecordingSmsBackend.sent == [("13900139000", "hello")]
    assert not [r for r in caplog.records if r.name == "civic.sms"]  # the logging backend was not used


def test_base_backend_must_be_subclassed():
    with pytest.raises(NotImplementedError):
        BaseSmsBackend().send("1", "x")
