"""The fake's Twilio signatures must equal the ones Twilio published for real requests."""

from __future__ import annotations

from tests.fakes.twilio import signature

# twilio-ruby spec/util/request_validator_spec.rb: a real Voice request and its signature.
VOICE_TOKEN = "2bd9e9638872de601313dc77410d3b23"
VOICE_URL = "http://twiliotests.heroku.com/validate/voice"
VOICE_PARAMS = {
    "ToState": "California", "CalledState": "California", "Direction": "inbound",
    "FromState": "CA", "AccountSid": "ACba8bc05eacf94afdae398e642c9cc32d",
    "Caller": "+14153595711", "CallerZip": "94108", "CallerCountry": "US",
    "From": "+14153595711", "FromCity": "SAN FRANCISCO", "CallerCity": "SAN FRANCISCO",
    "To": "+14157669926", "FromZip": "94108", "FromCountry": "US", "ToCity": "",
    "CallStatus": "ringing", "CalledCity": "", "CallerState": "CA", "CalledZip": "",
    "ToZip": "", "ToCountry": "US", "CallSid": "CA136d09cd59a3c0ec8dbff44da5c03f31",
    "CalledCountry": "US", "Called": "+14157669926", "ApiVersion": "2010-04-01",
    "ApplicationSid": "AP44efecad51364e80b133bb7c07eb8204",
}  # fmt: skip


def test_signature_matches_twilio_published_voice_request() -> None:
    assert signature(VOICE_URL, VOICE_PARAMS, VOICE_TOKEN) == "oVb2kXoVy8GEfwBDjR8bk/ZZ6eA="


def test_signature_matches_twilio_documented_example_with_a_query_string() -> None:
    """twilio-php's "Validate Incoming Requests" guide: the query string is signed too."""
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signature(url, params, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature(url.partition("?")[0], params, "12345") != "RSOYDt4T1cUTdK1PDd93/VVr8B8="
