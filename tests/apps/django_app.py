"""A real Django application for the duplicate-cookie tests (SPEC §5).

One file, settings in code: cache sessions (SESSION_ENGINE
"django.contrib.sessions.backends.cache") in Redis through Django's own
RedisCache, so a session lives under ":1:django.contrib.sessions.cache<key>",
and SESSION_SAVE_EVERY_REQUEST, so every answer re-sends the session cookie
(what observe mode learns from). Django reads the LAST occurrence of a
cookie: the gateway must forward only the one it checked.

Environment: REDIS_URL (required), PORT (0 = any free port) on 127.0.0.1,
SESSION_COOKIE_AGE in seconds (default 1209600, Django's). Served by a
threaded wsgiref server; prints "listening on PORT" once it accepts
connections.

Routes (/whoami and /cookies also under /login, which the tests' gateways
leave public; /whoami also under /strict, a route with a short idle limit):
  GET|POST /login?user=NAME  stores NAME in the session; JSON {user, session_key}
  GET /whoami                JSON {user ("anonymous" without one), keys: how
                             many keys the session holds, session_key}
  GET /cookies               JSON {header: HTTP_COOKIE as the app got it,
                             cookies: what Django parsed from it}
"""

import json

import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import path

from django_shared import redis_session_settings, serve

settings.configure(
    DEBUG=False,
    SECRET_KEY="sessiongate-tests-only-not-a-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    INSTALLED_APPS=[],
    DATABASES={},
    SESSION_SAVE_EVERY_REQUEST=True,
    LOGGING_CONFIG=None,
    **redis_session_settings(),
)
django.setup()


def answer(body):
    return HttpResponse(json.dumps(body), content_type="application/json")


def login(request):
    user = request.GET.get("user", "")
    request.session["user"] = user
    # Saving now gives a new session its key for the answer.
    request.session.save()
    return answer({"user": user, "session_key": request.session.session_key})


def whoami(request):
    return answer(
        {
            "user": request.session.get("user", "anonymous"),
            "keys": len(request.session.keys()),
            "session_key": request.session.session_key,
        }
    )


def cookies(request):
    return answer(
        {"header": request.META.get("HTTP_COOKIE"), "cookies": request.COOKIES}
    )


urlpatterns = [
    path("login", login),
    path("whoami", whoami),
    path("cookies", cookies),
    path("strict/whoami", whoami),
    path("login/whoami", whoami),
    path("login/cookies", cookies),
]


def main():
    from django.core.wsgi import get_wsgi_application

    serve(get_wsgi_application())


if __name__ == "__main__":
    main()
