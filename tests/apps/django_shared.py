"""What the Django test apps (django_app.py, django_admin.py) share: their
sessions in Django's Redis cache, and how they serve: a threaded WSGI
server on 127.0.0.1:$PORT (0 for any free port) that logs nothing and
prints `listening on PORT` once it accepts connections."""

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


def redis_session_settings():
    """Settings for sessions kept in Django's cache on Redis at $REDIS_URL,
    for $SESSION_COOKIE_AGE seconds (Django's default two weeks)."""
    return {
        "SESSION_ENGINE": "django.contrib.sessions.backends.cache",
        "SESSION_COOKIE_AGE": int(os.environ.get("SESSION_COOKIE_AGE", "1209600")),
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": os.environ["REDIS_URL"],
            }
        },
    }


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def serve(application):
    """Serves `application` until interrupted, then exits with status 0."""
    port = int(os.environ.get("PORT", "0"))
    server = make_server(
        "127.0.0.1",
        port,
        application,
        server_class=ThreadingServer,
        handler_class=QuietHandler,
    )
    print(f"listening on {server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)
