"""Authentication backends."""

import re

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q

from patients.roles import TAMPER_PROOF_CODENAME_REGEX

TAMPER_PROOF = re.compile(TAMPER_PROOF_CODENAME_REGEX)


class RoleBackend(ModelBackend):
    """Django's ModelBackend, reading a user's own and her groups' permissions in one query
    instead of two: every API request and page checks a permission, most users hold a role.

    Only a superuser holds the permissions that rewrite the audit records (the change history, the
    admin log, the access log, the record of imports: `roles.TAMPER_PROOF_CODENAME_REGEX`): given to
    a group or a user anyway (in the database, or by a superuser's slip), they grant nothing."""

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            permissions = Permission.objects.all()
            if not user_obj.is_superuser:
                permissions = permissions.filter(Q(user=user_obj) | Q(group__user=user_obj))
            rows = permissions.values_list("content_type__app_label", "codename").order_by().distinct()
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in rows
                if user_obj.is_superuser or not TAMPER_PROOF.match(codename)
            }
        return user_obj._perm_cache
