"""Typed keys of the API app's state and of each request's."""

from aiohttp import web

from api.config_log import ConfigStore
from api.view import ConfigView
from runtime.kafka import ServiceKafka
from runtime.secrets import SecretBox
from runtime.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
VIEW = web.AppKey("view", ConfigView)
STORE = web.AppKey("store", ConfigStore)
BOX = web.AppKey("box", SecretBox)
KAFKA = web.AppKey("kafka", ServiceKafka)

# Set by the auth middleware on every /v1 request.
TEAM_ID = web.RequestKey("team_id", str)
KEY_ID = web.RequestKey("key_id", str)
# Every team the key serves (the caller may not have chosen one: see KEY_LEVEL_PATHS).
KEY_TEAMS = web.RequestKey("key_teams", list)
