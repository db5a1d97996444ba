"""
The WSGI application that gunicorn (and runserver) serve.

See https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hospital.settings")

application = get_wsgi_application()

# Serving signs sessions and CSRF tokens: refuse to start without a real key (the settings leave it
# empty when DEBUG is off and none is given).
try:
    settings.SECRET_KEY  # noqa: B018 (Django raises on an empty key when it is read)
except ImproperlyConfigured:
    raise ImproperlyConfigured("Set the SECRET_KEY environment variable (or DEBUG=1 for development).") from None
