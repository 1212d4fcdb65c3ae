"""Django's own admin site, for the expiry-warning browser test (SPEC §12).

A real application nobody here wrote: django.contrib.admin with its
templates, styles and scripts, unchanged. Settings in code; cache sessions
(SESSION_ENGINE "django.contrib.sessions.backends.cache") in Redis through
Django's RedisCache, so a session lives under
":1:django.contrib.sessions.cache<key>" with a TTL of SESSION_COOKIE_AGE;
SESSION_EXPIRE_AT_BROWSER_CLOSE, so the browser's cookie never runs out
before the session that the gateway extends does (SPEC §3).

At start it migrates a fresh SQLite database in DATA_DIR and creates the
superuser ADMIN_USER / ADMIN_PASSWORD. Static files (the admin's CSS and
JS) are served under /static/ by Django's own StaticFilesHandler.

Environment: REDIS_URL (required), DATA_DIR (required: a writable
directory), PORT (0 = any free port) on 127.0.0.1, SESSION_COOKIE_AGE in
seconds (default 1209600), ADMIN_USER and ADMIN_PASSWORD (default "admin"
and "sessiongate-admin"), CSP: a Content-Security-Policy the app sends on
every answer (default: none). Prints "listening on PORT" once it accepts
connections.
"""

import os

import django
from django.conf import settings
from django.urls import path

from django_shared import redis_session_settings, serve

CSP = os.environ.get("CSP", "")


def csp_middleware(get_response):
    def middleware(request):
        response = get_response(request)
        if CSP:
            response["Content-Security-Policy"] = CSP
        return response

    return middleware


settings.configure(
    DEBUG=False,
    SECRET_KEY="sessiongate-tests-only-not-a-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
    ],
    MIDDLEWARE=[
        __name__ + ".csp_middleware",
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(os.environ["DATA_DIR"], "admin.sqlite3"),
        }
    },
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    STATIC_URL="/static/",
    USE_TZ=True,
    SESSION_EXPIRE_AT_BROWSER_CLOSE=True,
    LOGGING_CONFIG=None,
    **redis_session_settings(),
)
django.setup()

from django.contrib import admin  # noqa: E402

urlpatterns = [path("admin/", admin.site.urls)]


def main():
    from django.contrib.auth import get_user_model
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    call_command("migrate", verbosity=0, interactive=False)
    user = os.environ.get("ADMIN_USER", "admin")
    password = os.environ.get("ADMIN_PASSWORD", "sessiongate-admin")
    User = get_user_model()
    if not User.objects.filter(username=user).exists():
        User.objects.create_superuser(user, "admin@example.test", password)

    serve(StaticFilesHandler(get_wsgi_application()))


if __name__ == "__main__":
    main()
