import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from patients import roles

DEMO_USERS = [
    # username, role, may use the admin site
    ("demo_clinician", roles.CLINICIAN, False),
    ("demo_datamanager", roles.DATA_MANAGER, True),
    ("demo_admin", roles.ADMINISTRATOR, True),
]


class Command(BaseCommand):
    help = "Create (or reset) one demo login per role, each with a newly generated password, and print them."

    def handle(self, *args, **options):
        User = get_user_model()
        self.stdout.write("Demo logins (passwords are new on every run):")
        for username, role, is_staff in DEMO_USERS:
            password = secrets.token_urlsafe(12)
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = is_staff
            user.is_active = True
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            self.stdout.write(f"  {role:<14} username: {username:<17} password: {password}")
